/* SPDX-License-Identifier: MIT */
/* Range logic over a validated pagemap: which pages-file bytes serve a GET. */
#include <errno.h>
#include <stddef.h>

#include "images/img.h"

#define SERVABLE (IMG_PE_LAZY | IMG_PE_PRESENT)

static uint64_t ent_end(const struct img_pm_entry *e)
{
	return e->vaddr + e->nr_pages * IMG_PAGE_SIZE;
}

/* Index of the entry holding VADDR, or -1.  Entries are sorted and disjoint. */
static ptrdiff_t find_entry(const struct img_pagemap *pm, uint64_t vaddr)
{
	size_t lo = 0, hi = pm->nr_ents;

	/* Find the first entry that starts above VADDR; its predecessor may hold it. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (pm->ents[mid].vaddr <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || vaddr >= ent_end(&pm->ents[lo - 1]))
		return -1;
	return (ptrdiff_t)lo - 1;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

int img_pagemap_lookup(const struct img_pagemap *pm, uint64_t vaddr, uint64_t nr,
		       uint64_t *file_off, uint64_t *run)
{
	const struct img_pm_entry *e, *prev;
	uint64_t left, take, n, off;
	ptrdiff_t i;
	int extending = 1;

	if (nr == 0 || vaddr % IMG_PAGE_SIZE)
		return -EINVAL;
	i = find_entry(pm, vaddr);
	if (i < 0)
		return -ENOENT;
	e = &pm->ents[i];
	if (!(e->flags & IMG_PE_LAZY))
		return -EACCES;
	if (!(e->flags & IMG_PE_PRESENT))
		return -ENODATA;
	off = e->file_off + (vaddr - e->vaddr);
	take = min_u64(nr, (ent_end(e) - vaddr) / IMG_PAGE_SIZE);
	n = take;
	left = nr - take;
	/* The whole request must be servable; RUN stops where the data in the
	 * pages file stops being contiguous. */
	for (prev = e; left; prev = e) {
		if ((size_t)++i >= pm->nr_ents)
			return -ERANGE;
		e = &pm->ents[i];
		if (e->vaddr != ent_end(prev) || (e->flags & SERVABLE) != SERVABLE)
			return -ERANGE;
		take = min_u64(left, e->nr_pages);
		extending = extending &&
			    e->file_off == prev->file_off + prev->nr_pages * IMG_PAGE_SIZE;
		if (extending)
			n += take;
		left -= take;
	}
	*file_off = off;
	*run = n;
	return 0;
}
