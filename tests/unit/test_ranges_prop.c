/* SPDX-License-Identifier: MIT */
/* uffd ranges: random add/cut/remap/take/copy against a page-map model.
 *
 * The model maps each run-time page of a small address space to its img page
 * (or to none).  Every operation is applied to both; after each one, every
 * page must find the same img page in the set, and the set's invariants hold. */
#include <errno.h>
#include <string.h>

#include "tests/unit/test_ranges.h"

#define NP 96              /* pages in the address space */
#define BASE 16            /* its first page: page 0 is take()'s "first range" */
#define NONE UINT64_MAX
#define OPS 4000

struct model {
	uint64_t img[NP]; /* img page of run-time page BASE + i, or NONE */
	uint64_t rng;
};

static uint64_t rnd(struct model *m, uint64_t n)
{
	m->rng ^= m->rng << 13;
	m->rng ^= m->rng >> 7;
	m->rng ^= m->rng << 17;
	return m->rng % n;
}

/* Probes each page at a random byte offset (drawn from M's generator). */
static void compare(const struct uffd_ranges *r, struct model *m, const struct uffd_ranges *out,
		    const struct model *mout, int op)
{
	uint64_t pages = 0;

	t_ranges_check(r);
	if (r->n) {
		ck_assert_uint_ge(r->v[0].start, T_PG(BASE));
		ck_assert_uint_le(r->v[r->n - 1].end, T_PG(BASE + NP));
	}
	for (uint64_t i = 0; i < NP; i++) {
		uint64_t a = T_PG(BASE + i) + rnd(m, IMG_PAGE_SIZE);
		const struct uffd_range *x = uffd_ranges_find(r, a);
		const struct uffd_range *o = uffd_ranges_find(out, a);
		uint64_t got = x ? uffd_range_img(x, a) / IMG_PAGE_SIZE : NONE;
		uint64_t gout = o ? uffd_range_img(o, a) / IMG_PAGE_SIZE : NONE;

		ck_assert_msg(got == m->img[i], "op %d: page %llu maps to %lld, want %lld", op,
			      (unsigned long long)(BASE + i), (long long)got, (long long)m->img[i]);
		ck_assert_msg(gout == mout->img[i], "op %d: out page %llu maps to %lld, want %lld", op,
			      (unsigned long long)(BASE + i), (long long)gout, (long long)mout->img[i]);
		pages += m->img[i] != NONE;
	}
	ck_assert_uint_eq(r->pages, pages);
}

/* A random [*s, *e) inside the address space, in pages, possibly empty. */
static void span(struct model *m, uint64_t *s, uint64_t *e)
{
	*s = rnd(m, NP + 1);
	*e = *s + rnd(m, NP + 1 - *s);
}

static void op_add(struct uffd_ranges *r, struct model *m)
{
	uint64_t s = rnd(m, NP), e = s + 1 + rnd(m, 6 < NP - s ? 6 : NP - s);
	uint64_t img = 1000 + rnd(m, 1000), busy = 0;
	int ret;

	for (uint64_t i = s; i < e; i++)
		busy |= m->img[i] != NONE;
	ret = uffd_ranges_add(r, T_PG(BASE + s), T_PG(BASE + e), T_PG(img));
	ck_assert_int_eq(ret, busy ? -EEXIST : 0);
	for (uint64_t i = s; !busy && i < e; i++)
		m->img[i] = img + (i - s);
}

/* Cut, with the pieces collected in OUT (emptied first when it is not free). */
static void op_cut(struct uffd_ranges *r, struct model *m, struct uffd_ranges *out,
		   struct model *mout)
{
	uint64_t s, e;
	int use_out = rnd(m, 2);

	span(m, &s, &e);
	for (uint64_t i = s; use_out && i < e; i++) {
		if (mout->img[i] != NONE && m->img[i] != NONE) {
			ck_assert_int_eq(uffd_ranges_cut(out, 0, T_PG(BASE + NP), NULL), 0);
			memset(mout->img, 0xff, sizeof(mout->img));
			break;
		}
	}
	ck_assert_int_eq(uffd_ranges_cut(r, T_PG(BASE + s), T_PG(BASE + e), use_out ? out : NULL), 0);
	for (uint64_t i = s; i < e; i++) {
		if (use_out && m->img[i] != NONE)
			mout->img[i] = m->img[i];
		m->img[i] = NONE;
	}
}

static void op_remap(struct uffd_ranges *r, struct model *m)
{
	uint64_t from = rnd(m, NP), len = 1 + rnd(m, NP - from), to = rnd(m, NP - len + 1);
	uint64_t moved[NP];

	ck_assert_int_eq(uffd_ranges_remap(r, T_PG(BASE + from), T_PG(BASE + to), T_PG(len)), 0);
	if (from == to)
		return;
	memcpy(moved, m->img + from, len * sizeof(*moved));
	for (uint64_t i = 0; i < len; i++)
		m->img[from + i] = m->img[to + i] = NONE;
	memcpy(m->img + to, moved, len * sizeof(*moved));
}

static void op_take(struct uffd_ranges *r, struct model *m)
{
	uint64_t pg = rnd(m, 4) ? rnd(m, NP) : NONE, max = 1 + rnd(m, 8);
	uint64_t addr = pg == NONE ? 0 : T_PG(BASE + pg) + rnd(m, IMG_PAGE_SIZE), want_end;
	const struct uffd_range *x = addr ? uffd_ranges_find(r, addr) : (r->n ? r->v : NULL);
	struct uffd_range out;
	int ret;

	want_end = x ? x->end : 0;
	if (x && max < (x->end - (addr ? T_PG(BASE + pg) : x->start)) / IMG_PAGE_SIZE)
		want_end = (addr ? T_PG(BASE + pg) : x->start) + T_PG(max);
	ret = uffd_ranges_take(r, addr, max, &out);
	ck_assert_int_eq(ret, x ? 1 : 0);
	if (!x)
		return;
	if (addr)
		ck_assert_uint_eq(out.start, T_PG(BASE + pg));
	ck_assert_uint_eq(out.end, want_end);
	for (uint64_t a = out.start; a < out.end; a += IMG_PAGE_SIZE) {
		uint64_t i = a / IMG_PAGE_SIZE - BASE;

		ck_assert_uint_eq(uffd_range_img(&out, a) / IMG_PAGE_SIZE, m->img[i]);
		m->img[i] = NONE;
	}
}

static void op_copy(struct uffd_ranges *r)
{
	struct uffd_ranges c;

	uffd_ranges_init(&c);
	ck_assert_int_eq(uffd_ranges_copy(&c, r), 0);
	uffd_ranges_free(r);
	*r = c;
}

START_TEST(test_random_ops)
{
	struct model m = { .rng = 0x9e3779b97f4a7c15ULL + (uint64_t)_i }, mout = { 0 };
	struct uffd_ranges r, out;

	uffd_ranges_init(&r);
	uffd_ranges_init(&out);
	memset(m.img, 0xff, sizeof(m.img));
	memset(mout.img, 0xff, sizeof(mout.img));
	for (int op = 0; op < OPS; op++) {
		switch (rnd(&m, 10)) {
		case 0: case 1: case 2: op_add(&r, &m); break;
		case 3: case 4: op_cut(&r, &m, &out, &mout); break;
		case 5: case 6: op_remap(&r, &m); break;
		case 7: case 8: op_take(&r, &m); break;
		default: op_copy(&r); break;
		}
		compare(&r, &m, &out, &mout, op);
	}
	uffd_ranges_free(&r);
	uffd_ranges_free(&out);
}
END_TEST

TCase *ranges_tcase_prop(void)
{
	TCase *tc = tcase_create("property");

	tcase_add_loop_test(tc, test_random_ops, 0, 4);
	return tc;
}
