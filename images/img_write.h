/* SPDX-License-Identifier: MIT */
/* CRIU image writer: pagemap-<pid>.img encoding and atomic file replacement.
 * The encoder is pure; the reader in pagemap.c is its test oracle. */
#ifndef FL_IMG_WRITE_H
#define FL_IMG_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "images/img.h"

/* How pagemap_entry carries nr_pages: field 2 (CRIU 4.1) or field 5 with
 * field 2 = 0 (CRIU 4.2 writes compat_nr_pages = 0). */
enum img_pm_layout { IMG_PM_41 = 41, IMG_PM_42 = 42 };

/* The layout of an existing pagemap image BUF/LEN: IMG_PM_42 if its first
 * entry has field 5, IMG_PM_41 if it has not, DEF if there is no entry.
 * Returns 0 or the parse error of a corrupt file (message in ERR). */
int img_pagemap_layout(const uint8_t *buf, size_t len, const char *name, enum img_pm_layout def,
		       enum img_pm_layout *out, struct img_err *err);

/* Encodes a whole pagemap image: header, head {PAGES_ID}, then the N entries
 * (vaddr, nr_pages, flags; file_off is ignored) in LAYOUT.  *BUF is malloc'd
 * and owned by the caller.  Returns 0, -ERANGE (an entry of more than 2^32-1
 * pages in IMG_PM_41) or -ENOMEM. */
int img_pagemap_encode(uint32_t pages_id, const struct img_pm_entry *e, size_t n,
		       enum img_pm_layout layout, uint8_t **buf, size_t *len);

/* Writes BUF/LEN to DIRFD/NAME.tmp, fsyncs it and renames it over NAME.
 * Returns 0 or -errno (message naming the file in ERR); no temp file is left
 * behind on failure. */
int img_write_atomic(int dirfd, const char *name, const void *buf, size_t len,
		     struct img_err *err);

#endif
