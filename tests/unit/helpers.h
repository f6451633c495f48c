/* SPDX-License-Identifier: MIT */
/* Shared unit-test helpers (t_ prefix): growable byte buffers and builders
 * that encode synthetic CRIU images in memory with the protobuf-c packers. */
#ifndef FL_TEST_HELPERS_H
#define FL_TEST_HELPERS_H

#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <protobuf-c/protobuf-c.h>

#include "images/img.h"

/* Aborts with errno and file:line when a setup step fails (usable outside
 * a Check test too, e.g. by a corpus generator). */
#define t_die_if(cond)                                                            \
	do {                                                                      \
		if (cond) {                                                       \
			fprintf(stderr, "%s:%d: %s (errno %d: %s)\n", __FILE__,  \
				__LINE__, #cond, errno, strerror(errno));         \
			abort();                                                  \
		}                                                                 \
	} while (0)

/* ERR names image NAME and contains "offset OFF". */
#define t_assert_err_at(err, name, off)                                          \
	do {                                                                     \
		char t_want_[48];                                                \
		snprintf(t_want_, sizeof(t_want_), "offset %zu", (size_t)(off)); \
		ck_assert_msg(strstr((err)->msg, (name)) && strstr((err)->msg, t_want_), \
			      "error \"%s\" should name %s and %s", (err)->msg, (name), \
			      t_want_);                                          \
	} while (0)

struct t_buf {
	uint8_t *p;
	size_t len, cap;
};

void t_buf_free(struct t_buf *b);
void t_buf_raw(struct t_buf *b, const void *p, size_t n);
void t_buf_u32(struct t_buf *b, uint32_t v);
/* Appends [u32 LE length][packed M]. */
void t_buf_msg(struct t_buf *b, const ProtobufCMessage *m);
/* Appends the file header: the inventory magic alone, else common + MAGIC. */
void t_buf_header(struct t_buf *b, uint32_t magic);

/* How a pagemap entry is encoded. */
enum t_pe_style {
	T_PE_41,     /* field 2 nr_pages + field 4 flags */
	T_PE_42,     /* field 5 nr_pages, field 2 = 0 (as 4.2.1 writes), field 4 flags */
	T_PE_LEGACY, /* field 2, no flags; IMG_PE_PARENT in flags -> in_parent */
};

struct t_pe {
	uint64_t vaddr, nr_pages;
	uint32_t flags;
};

void t_img_pagemap(struct t_buf *b, uint32_t pages_id, const struct t_pe *e, size_t n,
		   enum t_pe_style style);
void t_img_pstree(struct t_buf *b, const struct img_task *t, size_t n);
void t_img_mm(struct t_buf *b, const struct img_vma *v, size_t n);
void t_img_inventory(struct t_buf *b, uint32_t img_version);

/* Writes B to DIRFD/NAME, replacing it. */
void t_write_file(int dirfd, const char *name, const struct t_buf *b);

/* Writes DIRFD/inventory.img (image version 2) and a one-task pstree.img. */
void t_write_dump_head(int dirfd, const struct img_task *task);

/* A fresh empty directory under /tmp (PATH gets its name); t_rmdir_all removes it. */
void t_mkdtemp(char path[64]);
void t_rmdir_all(const char *path);

#endif
