/* SPDX-License-Identifier: MIT */
/* Sets of lazy page ranges: pure range math, no syscalls.
 *
 * A range is a run-time interval [start, end) of the restored process's
 * address space (page aligned, end > start) plus img_start, the dump-time
 * address of its first page: the address a GET asks for and the pagemap
 * key.  Run-time and dump-time addresses differ after an mremap (REMAP).
 * A set keeps its ranges sorted by start and non-overlapping; adjacent ranges
 * are NOT merged (a merge would have to check img contiguity; callers don't
 * need it).  Every function returns 0 or -errno (-ENOMEM only), unless noted. */
#ifndef FL_UFFD_RANGES_H
#define FL_UFFD_RANGES_H

#include <stddef.h>
#include <stdint.h>

#include "images/img.h"

struct uffd_range {
	uint64_t start, end;
	uint64_t img_start;
};

struct uffd_ranges {
	struct uffd_range *v;
	size_t n, cap;
	uint64_t pages; /* sum of (end - start) / 4096 */
};

void uffd_ranges_init(struct uffd_ranges *r);
void uffd_ranges_free(struct uffd_ranges *r);

/* Lazy ranges of a task: every pagemap entry with IMG_PE_LAZY, clipped to the
 * VMAs of MM and split at VMA ends (UFFDIO_COPY cannot cross VMAs); run-time
 * start == img_start.  Pages of a lazy entry outside every VMA are dropped. */
int uffd_ranges_build(struct uffd_ranges *r, const struct img_pagemap *pm,
		      const struct img_mm *mm);

/* Adds [start, end) with IMG_START; it must not overlap (-EEXIST) . */
int uffd_ranges_add(struct uffd_ranges *r, uint64_t start, uint64_t end, uint64_t img_start);

/* The range holding ADDR, or NULL.  O(log n). */
const struct uffd_range *uffd_ranges_find(const struct uffd_ranges *r, uint64_t addr);

/* Removes [start, end) from the set, splitting ranges that straddle it
 * (img_start of a right-hand piece advances accordingly).  If OUT is not NULL
 * the removed pieces are added to OUT.  Returns 0 or -ENOMEM. */
int uffd_ranges_cut(struct uffd_ranges *r, uint64_t start, uint64_t end, struct uffd_ranges *out);

/* REMAP: pieces inside [from, from + len) move to [to, to + len) (img_start
 * unchanged); pieces straddling the bounds are split first. */
int uffd_ranges_remap(struct uffd_ranges *r, uint64_t from, uint64_t to, uint64_t len);

/* DST becomes a copy of SRC (DST's old contents are freed). */
int uffd_ranges_copy(struct uffd_ranges *dst, const struct uffd_ranges *src);

/* Takes up to MAX_PAGES pages from the front of the range holding ADDR (or,
 * if ADDR is 0, of the first range): fills *OUT and removes it from R.
 * Returns 1 if something was taken, 0 if R is empty (or ADDR is in no range),
 * -ENOMEM. */
int uffd_ranges_take(struct uffd_ranges *r, uint64_t addr, uint64_t max_pages,
		     struct uffd_range *out);

/* The dump-time address of run-time ADDR inside RANGE. */
static inline uint64_t uffd_range_img(const struct uffd_range *range, uint64_t addr)
{
	return range->img_start + (addr - range->start);
}

#endif
