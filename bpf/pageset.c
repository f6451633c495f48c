/* SPDX-License-Identifier: MIT */
/* Per-page write counts (open addressing, linear probing) and the hotness map. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/pageset.h"

const uint32_t probe_hot_thresholds[PROBE_NHOT] = { 1, 2, 4, 8, 16 };

static uint64_t make_key(unsigned proc, uint64_t addr)
{
	return (uint64_t)(proc + 1) << 48 | (addr >> 12 & ((1ULL << 48) - 1));
}

static size_t slot_of(const struct probe_pageset *s, uint64_t key)
{
	/* murmur3's finalizer: adjacent pages land far apart. */
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdULL;
	key ^= key >> 33;
	return (size_t)key & (s->cap - 1);
}

static struct probe_page *find(const struct probe_pageset *s, uint64_t key)
{
	if (!s->cap)
		return NULL;
	for (size_t i = slot_of(s, key);; i = (i + 1) & (s->cap - 1)) {
		if (s->v[i].key == key)
			return &s->v[i];
		if (!s->v[i].key)
			return NULL;
	}
}

static int grow(struct probe_pageset *s)
{
	struct probe_pageset n = { .cap = s->cap ? s->cap * 2 : 1024 };

	n.v = calloc(n.cap, sizeof(*n.v));
	if (!n.v)
		return -ENOMEM;
	for (size_t i = 0; i < s->cap; i++) {
		size_t j;

		if (!s->v[i].key)
			continue;
		for (j = slot_of(&n, s->v[i].key); n.v[j].key; j = (j + 1) & (n.cap - 1))
			;
		n.v[j] = s->v[i];
	}
	free(s->v);
	s->v = n.v;
	s->cap = n.cap;
	return 0;
}

/* The entry for KEY, inserted (zeroed) if missing. */
static struct probe_page *upsert(struct probe_pageset *s, uint64_t key, int *is_new)
{
	struct probe_page *p = find(s, key);
	size_t i;

	*is_new = !p;
	if (p)
		return p;
	if ((s->n + 1) * 2 > s->cap && grow(s))
		return NULL;
	for (i = slot_of(s, key); s->v[i].key; i = (i + 1) & (s->cap - 1))
		;
	s->v[i] = (struct probe_page){ .key = key };
	s->n++;
	return &s->v[i];
}

int probe_pageset_written(struct probe_pageset *s, unsigned proc, uint64_t addr, uint32_t round,
			  int *is_new)
{
	struct probe_page *p;
	int fresh;

	if (proc >= PROBE_MAX_PROCS)
		return -EINVAL;
	p = upsert(s, make_key(proc, addr), &fresh);
	if (!p)
		return -ENOMEM;
	if (is_new)
		*is_new = !p->rounds;
	if (p->last == round && p->rounds)
		return 0;
	p->last = round;
	p->rounds++;
	for (int i = 0; i < PROBE_NHOT; i++)
		if (p->rounds == probe_hot_thresholds[i])
			s->hot[i]++;
	return 0;
}

int probe_pageset_faults(struct probe_pageset *s, unsigned proc, uint64_t addr, uint64_t n)
{
	struct probe_page *p;
	int fresh;

	if (proc >= PROBE_MAX_PROCS)
		return -EINVAL;
	p = upsert(s, make_key(proc, addr), &fresh);
	if (!p)
		return -ENOMEM;
	p->faults = p->faults + n > UINT32_MAX ? UINT32_MAX : (uint32_t)(p->faults + n);
	return 0;
}

const struct probe_page *probe_pageset_get(const struct probe_pageset *s, unsigned proc, uint64_t addr)
{
	return proc < PROBE_MAX_PROCS ? find(s, make_key(proc, addr)) : NULL;
}

void probe_pageset_free(struct probe_pageset *s)
{
	free(s->v);
	*s = (struct probe_pageset){ 0 };
}

static int cmp_key(const void *a, const void *b)
{
	const struct probe_page *x = a, *y = b;

	return x->key < y->key ? -1 : x->key > y->key;
}

/* The entries matching (rounds >= 1 when WRITTEN_ONLY), sorted by key. */
static struct probe_page *sorted_pages(const struct probe_pageset *s, int written_only, size_t *n)
{
	struct probe_page *v = malloc((s->n ? s->n : 1) * sizeof(*v));

	*n = 0;
	if (!v)
		return NULL;
	for (size_t i = 0; i < s->cap; i++)
		if (s->v[i].key && (!written_only || s->v[i].rounds))
			v[(*n)++] = s->v[i];
	qsort(v, *n, sizeof(*v), cmp_key);
	return v;
}

static int cmp_hot(const void *a, const void *b)
{
	const struct probe_hot_range *x = a, *y = b;

	if (x->writes != y->writes)
		return x->writes > y->writes ? -1 : 1;
	if (x->proc != y->proc)
		return x->proc < y->proc ? -1 : 1;
	return x->start < y->start ? -1 : x->start > y->start;
}

int probe_pageset_ranges(const struct probe_pageset *s, struct probe_hot_range **out, size_t *n)
{
	size_t np, nr = 0;
	struct probe_page *p = sorted_pages(s, 1, &np);
	struct probe_hot_range *r;

	*out = NULL;
	*n = 0;
	if (!p)
		return -ENOMEM;
	r = malloc((np ? np : 1) * sizeof(*r));
	if (!r) {
		free(p);
		return -ENOMEM;
	}
	for (size_t i = 0; i < np; i++) {
		unsigned proc = probe_page_proc(p[i].key);
		uint64_t a = probe_page_addr(p[i].key);
		struct probe_hot_range *last = nr ? &r[nr - 1] : NULL;

		if (last && last->proc == proc && last->end == a && last->writes == p[i].rounds) {
			last->end += 4096;
			last->faults += p[i].faults;
		} else {
			r[nr++] = (struct probe_hot_range){ proc, a, a + 4096, p[i].rounds, p[i].faults };
		}
	}
	free(p);
	qsort(r, nr, sizeof(*r), cmp_hot);
	if (!nr) {
		free(r);
		r = NULL;
	}
	*out = r;
	*n = nr;
	return 0;
}

int probe_hotmap_print(FILE *f, const struct probe_hot_range *r, size_t n, const pid_t *vpid)
{
	fputs("# faultline-hotness 1\n# vpid start end writes\n", f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%d %" PRIx64 " %" PRIx64 " %" PRIu32 "\n", (int)vpid[r[i].proc], r[i].start,
			r[i].end, r[i].writes);
	return ferror(f) ? -EIO : 0;
}

int probe_pages_print(FILE *f, const struct probe_pageset *s, const pid_t *vpid)
{
	size_t n;
	struct probe_page *p = sorted_pages(s, 0, &n);

	if (!p)
		return -ENOMEM;
	fputs("# vpid address rounds faults\n", f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%d %" PRIx64 " %" PRIu32 " %" PRIu32 "\n", (int)vpid[probe_page_proc(p[i].key)],
			probe_page_addr(p[i].key), p[i].rounds, p[i].faults);
	free(p);
	return ferror(f) ? -EIO : 0;
}
