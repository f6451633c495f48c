/* SPDX-License-Identifier: MIT */
/* Unit-test helpers: byte buffers and synthetic CRIU image builders. */
#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "proto/inventory.pb-c.h"
#include "proto/mm.pb-c.h"
#include "proto/pagemap.pb-c.h"
#include "proto/pstree.pb-c.h"
#include "tests/unit/helpers.h"

void t_buf_free(struct t_buf *b)
{
	free(b->p);
	*b = (struct t_buf){ 0 };
}

void t_buf_raw(struct t_buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		t_die_if(!b->p);
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

void t_buf_u32(struct t_buf *b, uint32_t v)
{
	uint8_t le[4] = { v, v >> 8, v >> 16, v >> 24 };

	t_buf_raw(b, le, sizeof(le));
}

void t_buf_msg(struct t_buf *b, const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *tmp = malloc(n ? n : 1);

	t_die_if(!tmp);
	protobuf_c_message_pack(m, tmp);
	t_buf_u32(b, (uint32_t)n);
	t_buf_raw(b, tmp, n);
	free(tmp);
}

void t_buf_header(struct t_buf *b, uint32_t magic)
{
	if (magic != IMG_MAGIC_INVENTORY)
		t_buf_u32(b, IMG_MAGIC_COMMON);
	t_buf_u32(b, magic);
}

static void add_pe(struct t_buf *b, const struct t_pe *e, enum t_pe_style style)
{
	FlPagemapEntry pe = FL_PAGEMAP_ENTRY__INIT;

	pe.has_vaddr = 1;
	pe.vaddr = e->vaddr;
	pe.has_compat_nr_pages = 1;
	pe.compat_nr_pages = (uint32_t)e->nr_pages;
	if (style == T_PE_42) {
		/* As CRIU 4.2.1 writes it: field 2 present but 0. */
		pe.compat_nr_pages = 0;
		pe.has_nr_pages = 1;
		pe.nr_pages = e->nr_pages;
	}
	if (style == T_PE_LEGACY) {
		pe.has_in_parent = !!(e->flags & IMG_PE_PARENT);
		pe.in_parent = pe.has_in_parent;
	} else {
		pe.has_flags = 1;
		pe.flags = e->flags;
	}
	t_buf_msg(b, &pe.base);
}

void t_img_pagemap(struct t_buf *b, uint32_t pages_id, const struct t_pe *e, size_t n,
		   enum t_pe_style style)
{
	FlPagemapHead h = FL_PAGEMAP_HEAD__INIT;

	t_buf_header(b, IMG_MAGIC_PAGEMAP);
	h.has_pages_id = 1;
	h.pages_id = pages_id;
	t_buf_msg(b, &h.base);
	for (size_t i = 0; i < n; i++)
		add_pe(b, &e[i], style);
}

void t_img_pstree(struct t_buf *b, const struct img_task *t, size_t n)
{
	t_buf_header(b, IMG_MAGIC_PSTREE);
	for (size_t i = 0; i < n; i++) {
		FlPstreeEntry pe = FL_PSTREE_ENTRY__INIT;

		pe.has_pid = pe.has_ppid = pe.has_pgid = pe.has_sid = 1;
		pe.pid = (uint32_t)t[i].pid;
		pe.ppid = (uint32_t)t[i].ppid;
		pe.pgid = (uint32_t)t[i].pgid;
		pe.sid = (uint32_t)t[i].sid;
		pe.n_threads = t[i].nr_threads;
		pe.threads = (uint32_t *)t[i].threads;
		t_buf_msg(b, &pe.base);
	}
}

void t_img_mm(struct t_buf *b, const struct img_vma *v, size_t n)
{
	FlMmEntry mm = FL_MM_ENTRY__INIT;
	FlVmaEntry *vmas = calloc(n ? n : 1, sizeof(*vmas));
	FlVmaEntry **ptrs = calloc(n ? n : 1, sizeof(*ptrs));

	t_die_if(!vmas || !ptrs);
	for (size_t i = 0; i < n; i++) {
		fl_vma_entry__init(&vmas[i]);
		vmas[i].has_start = vmas[i].has_end = vmas[i].has_pgoff = 1;
		vmas[i].has_shmid = vmas[i].has_prot = vmas[i].has_flags = 1;
		vmas[i].has_status = vmas[i].has_fd = 1;
		vmas[i].start = v[i].start;
		vmas[i].end = v[i].end;
		vmas[i].pgoff = v[i].pgoff;
		vmas[i].shmid = (uint64_t)v[i].shmid;
		vmas[i].prot = v[i].prot;
		vmas[i].flags = v[i].flags;
		vmas[i].status = v[i].status;
		vmas[i].fd = v[i].fd;
		ptrs[i] = &vmas[i];
	}
	mm.n_vmas = n;
	mm.vmas = ptrs;
	t_buf_header(b, IMG_MAGIC_MM);
	t_buf_msg(b, &mm.base);
	free(ptrs);
	free(vmas);
}

void t_img_inventory(struct t_buf *b, uint32_t img_version)
{
	FlInventoryEntry inv = FL_INVENTORY_ENTRY__INIT;

	inv.has_img_version = 1;
	inv.img_version = img_version;
	t_buf_header(b, IMG_MAGIC_INVENTORY);
	t_buf_msg(b, &inv.base);
}

void t_write_file(int dirfd, const char *name, const struct t_buf *b)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	t_die_if(fd < 0);
	t_die_if(b->len && write(fd, b->p, b->len) != (ssize_t)b->len);
	close(fd);
}

void t_write_dump_head(int dirfd, const struct img_task *task)
{
	struct t_buf b = { 0 };

	t_img_inventory(&b, 2);
	t_write_file(dirfd, "inventory.img", &b);
	t_buf_free(&b);
	t_img_pstree(&b, task, 1);
	t_write_file(dirfd, "pstree.img", &b);
	t_buf_free(&b);
}

void t_mkdtemp(char path[64])
{
	snprintf(path, 64, "/tmp/fl-unit-XXXXXX");
	t_die_if(!mkdtemp(path));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

void t_rmdir_all(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
