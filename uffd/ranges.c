/* SPDX-License-Identifier: MIT */
/* Sets of lazy page ranges: a sorted array, binary search, split on cut.
 *
 * Every mutator reserves the memory it needs before it changes anything, so
 * -ENOMEM leaves the set (and an OUT set) exactly as it was.  Arguments that
 * would break the invariants (unaligned or empty ranges, wrapping ends) are
 * -EINVAL. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "uffd/ranges.h"

#define PG IMG_PAGE_SIZE

static int aligned(uint64_t a)
{
	return a % PG == 0;
}

static uint64_t npages(const struct uffd_range *x)
{
	return (x->end - x->start) / PG;
}

void uffd_ranges_init(struct uffd_ranges *r)
{
	*r = (struct uffd_ranges){ 0 };
}

void uffd_ranges_free(struct uffd_ranges *r)
{
	free(r->v);
	uffd_ranges_init(r);
}

/* Makes room for NEED ranges in all. */
static int reserve(struct uffd_ranges *r, size_t need)
{
	struct uffd_range *v;
	size_t cap;

	if (need <= r->cap)
		return 0;
	cap = r->cap ? r->cap : 16;
	while (cap < need)
		cap *= 2;
	if (cap > SIZE_MAX / sizeof(*v))
		return -ENOMEM;
	v = realloc(r->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	r->v = v;
	r->cap = cap;
	return 0;
}

/* First index whose range ends after ADDR (n if none). */
static size_t first_ending_after(const struct uffd_ranges *r, uint64_t addr)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->v[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* First index at or after FROM whose range starts at or after ADDR. */
static size_t first_starting_at(const struct uffd_ranges *r, size_t from, uint64_t addr)
{
	size_t lo = from, hi = r->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->v[mid].start < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* X clipped to [start, end); img_start follows the new start. */
static struct uffd_range clip(struct uffd_range x, uint64_t start, uint64_t end)
{
	if (x.start < start) {
		x.img_start += start - x.start;
		x.start = start;
	}
	if (x.end > end)
		x.end = end;
	return x;
}

/* 1 if the sorted, disjoint SRC[0..k) (each clipped to [cs, ce)) overlaps a
 * range of R. */
static int merge_overlaps(const struct uffd_ranges *r, const struct uffd_range *src, size_t k,
			  uint64_t cs, uint64_t ce)
{
	size_t i = 0;

	for (size_t j = 0; j < k; j++) {
		struct uffd_range p = clip(src[j], cs, ce);

		while (i < r->n && r->v[i].end <= p.start)
			i++;
		if (i < r->n && r->v[i].start < p.end)
			return 1;
	}
	return 0;
}

/* Merges the sorted, disjoint SRC[0..k), each clipped to [cs, ce), into R in
 * one backward pass.  The caller has reserved room and checked overlaps. */
static void merge_in(struct uffd_ranges *r, const struct uffd_range *src, size_t k,
		     uint64_t cs, uint64_t ce)
{
	size_t i = r->n, j = k, w = r->n + k;

	while (j > 0) {
		struct uffd_range p = clip(src[j - 1], cs, ce);

		if (i > 0 && r->v[i - 1].start > p.start) {
			r->v[--w] = r->v[--i];
		} else {
			r->v[--w] = p;
			r->pages += npages(&p);
			j--;
		}
	}
	r->n += k;
}

int uffd_ranges_add(struct uffd_ranges *r, uint64_t start, uint64_t end, uint64_t img_start)
{
	struct uffd_range x = { start, end, img_start };
	size_t i;
	int ret;

	if (start >= end || !aligned(start) || !aligned(end) || !aligned(img_start) ||
	    img_start > UINT64_MAX - (end - start))
		return -EINVAL;
	i = first_ending_after(r, start);
	if (i < r->n && r->v[i].start < end)
		return -EEXIST;
	ret = reserve(r, r->n + 1);
	if (ret)
		return ret;
	memmove(r->v + i + 1, r->v + i, (r->n - i) * sizeof(*r->v));
	r->v[i] = x;
	r->n++;
	r->pages += npages(&x);
	return 0;
}

const struct uffd_range *uffd_ranges_find(const struct uffd_ranges *r, uint64_t addr)
{
	size_t i = first_ending_after(r, addr);

	if (i < r->n && r->v[i].start <= addr)
		return &r->v[i];
	return NULL;
}

/* Replaces R->v[lo..hi), which overlap [start, end), by their parts outside
 * it.  Room for one more range must be reserved. */
static void cut_span(struct uffd_ranges *r, size_t lo, size_t hi, uint64_t start, uint64_t end)
{
	struct uffd_range left = r->v[lo], right = r->v[hi - 1], keep[2];
	size_t nk = 0;

	for (size_t i = lo; i < hi; i++) {
		struct uffd_range p = clip(r->v[i], start, end);

		r->pages -= npages(&p);
	}
	if (left.start < start) {
		left.end = start;
		keep[nk++] = left;
	}
	if (right.end > end)
		keep[nk++] = clip(right, end, right.end);
	memmove(r->v + lo + nk, r->v + hi, (r->n - hi) * sizeof(*r->v));
	memcpy(r->v + lo, keep, nk * sizeof(*keep));
	r->n = r->n - (hi - lo) + nk;
}

int uffd_ranges_cut(struct uffd_ranges *r, uint64_t start, uint64_t end, struct uffd_ranges *out)
{
	size_t lo, hi;
	int ret;

	if (start > end || !aligned(start) || !aligned(end) || out == r)
		return -EINVAL;
	if (start == end)
		return 0;
	lo = first_ending_after(r, start);
	hi = first_starting_at(r, lo, end);
	if (lo >= hi)
		return 0;
	if (out) {
		if (merge_overlaps(out, r->v + lo, hi - lo, start, end))
			return -EEXIST;
		ret = reserve(out, out->n + (hi - lo));
		if (ret)
			return ret;
	}
	ret = reserve(r, r->n + 1);
	if (ret)
		return ret;
	if (out)
		merge_in(out, r->v + lo, hi - lo, start, end);
	cut_span(r, lo, hi, start, end);
	return 0;
}

/* Number of ranges of R overlapping [start, end). */
static size_t count_in(const struct uffd_ranges *r, uint64_t start, uint64_t end)
{
	size_t lo = first_ending_after(r, start);

	return first_starting_at(r, lo, end) - lo;
}

int uffd_ranges_remap(struct uffd_ranges *r, uint64_t from, uint64_t to, uint64_t len)
{
	struct uffd_ranges moved;
	uint64_t delta = to - from;
	int ret;

	if (!aligned(from) || !aligned(to) || !aligned(len) || from > UINT64_MAX - len ||
	    to > UINT64_MAX - len)
		return -EINVAL;
	if (!len || from == to)
		return 0;
	/* Worst case R grows by 3: the source cut can leave two stubs beside
	 * the pieces that come back (+2), and the destination cut can split one
	 * range (+1).  Reserve it all up front so nothing below can fail half
	 * way. */
	uffd_ranges_init(&moved);
	ret = reserve(&moved, count_in(r, from, from + len));
	if (!ret)
		ret = reserve(r, r->n + 3);
	if (ret)
		goto err_free_moved;
	/* Cannot fail now: the room is there and MOVED starts empty.  The
	 * destination is cleared after the source is taken out, so sources
	 * and destinations that overlap come out right. */
	uffd_ranges_cut(r, from, from + len, &moved);
	uffd_ranges_cut(r, to, to + len, NULL);
	for (size_t i = 0; i < moved.n; i++) {
		moved.v[i].start += delta;
		moved.v[i].end += delta;
	}
	merge_in(r, moved.v, moved.n, 0, UINT64_MAX);
err_free_moved:
	uffd_ranges_free(&moved);
	return ret;
}

int uffd_ranges_copy(struct uffd_ranges *dst, const struct uffd_ranges *src)
{
	struct uffd_ranges tmp;
	int ret;

	if (dst == src)
		return 0;
	uffd_ranges_init(&tmp);
	ret = reserve(&tmp, src->n);
	if (ret)
		return ret;
	if (src->n)
		memcpy(tmp.v, src->v, src->n * sizeof(*src->v));
	tmp.n = src->n;
	tmp.pages = src->pages;
	uffd_ranges_free(dst);
	*dst = tmp;
	return 0;
}

int uffd_ranges_take(struct uffd_ranges *r, uint64_t addr, uint64_t max_pages,
		     struct uffd_range *out)
{
	const struct uffd_range *x;
	struct uffd_range t;
	int ret;

	if (!max_pages)
		return -EINVAL;
	x = addr ? uffd_ranges_find(r, addr) : (r->n ? &r->v[0] : NULL);
	if (!x)
		return 0;
	t.start = addr ? addr - addr % PG : x->start;
	t.end = max_pages >= (x->end - t.start) / PG ? x->end : t.start + max_pages * PG;
	t.img_start = uffd_range_img(x, t.start);
	ret = uffd_ranges_cut(r, t.start, t.end, NULL);
	if (ret)
		return ret;
	*out = t;
	return 1;
}

/* Appends the parts of [a, b) inside the VMAs from *J on to R (sorted). */
static int add_clipped(struct uffd_ranges *r, const struct img_mm *mm, size_t *j, uint64_t a,
		       uint64_t b)
{
	while (*j < mm->nr_vmas && mm->vmas[*j].end <= a)
		(*j)++;
	for (size_t k = *j; k < mm->nr_vmas && mm->vmas[k].start < b; k++) {
		struct uffd_range x = { a, b, a };
		int ret;

		x = clip(x, mm->vmas[k].start, mm->vmas[k].end);
		ret = reserve(r, r->n + 1);
		if (ret)
			return ret;
		r->v[r->n++] = x;
		r->pages += npages(&x);
	}
	return 0;
}

int uffd_ranges_build(struct uffd_ranges *r, const struct img_pagemap *pm,
		      const struct img_mm *mm)
{
	struct uffd_ranges tmp;
	size_t j = 0;
	int ret;

	uffd_ranges_init(&tmp);
	for (size_t i = 0; i < pm->nr_ents; i++) {
		const struct img_pm_entry *e = &pm->ents[i];

		if (!(e->flags & IMG_PE_LAZY) || !e->nr_pages)
			continue;
		ret = add_clipped(&tmp, mm, &j, e->vaddr, e->vaddr + e->nr_pages * PG);
		if (ret)
			goto err_free_tmp;
	}
	uffd_ranges_free(r);
	*r = tmp;
	return 0;
err_free_tmp:
	uffd_ranges_free(&tmp);
	return ret;
}
