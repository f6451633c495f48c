/* SPDX-License-Identifier: MIT */
/* The uffd ranges suite: shared checks, add, find and copy. */
#include <errno.h>

#include "tests/unit/suites.h"
#include "tests/unit/test_ranges.h"

void t_ranges_check(const struct uffd_ranges *r)
{
	uint64_t pages = 0;

	ck_assert_uint_le(r->n, r->cap);
	for (size_t i = 0; i < r->n; i++) {
		const struct uffd_range *x = &r->v[i];

		ck_assert_msg(x->start < x->end, "range %zu is empty", i);
		ck_assert_msg(!(x->start % IMG_PAGE_SIZE) && !(x->end % IMG_PAGE_SIZE) &&
				      !(x->img_start % IMG_PAGE_SIZE),
			      "range %zu is unaligned", i);
		ck_assert_msg(!i || r->v[i - 1].end <= x->start, "range %zu overlaps or is out of order",
			      i);
		pages += (x->end - x->start) / IMG_PAGE_SIZE;
	}
	ck_assert_uint_eq(r->pages, pages);
}

void t_ranges_expect(const struct uffd_ranges *r, const struct t_rset *exp, const char *what)
{
	t_ranges_check(r);
	ck_assert_msg(r->n == exp->n, "%s: %zu ranges, want %zu", what, r->n, exp->n);
	for (size_t i = 0; i < exp->n; i++) {
		const struct uffd_range *g = &r->v[i], *w = &exp->v[i];

		ck_assert_msg(g->start == w->start && g->end == w->end && g->img_start == w->img_start,
			      "%s: range %zu is [%#llx, %#llx) img %#llx, want [%#llx, %#llx) img %#llx",
			      what, i, (unsigned long long)g->start, (unsigned long long)g->end,
			      (unsigned long long)g->img_start, (unsigned long long)w->start,
			      (unsigned long long)w->end, (unsigned long long)w->img_start);
	}
}

void t_ranges_fill(struct uffd_ranges *r, const struct t_rset *s)
{
	for (size_t i = 0; i < s->n; i++)
		ck_assert_int_eq(uffd_ranges_add(r, s->v[i].start, s->v[i].end, s->v[i].img_start), 0);
}

/* Added out of order; [12, 13) is adjacent to both neighbours, not merged. */
static const struct t_rset base = { 3, { T_R(10, 12, 10), T_R(12, 13, 100), T_R(20, 25, 20) } };

START_TEST(test_add_sorted)
{
	static const int order[] = { 2, 0, 1 };
	struct uffd_ranges r;

	uffd_ranges_init(&r);
	for (size_t i = 0; i < 3; i++) {
		const struct uffd_range *x = &base.v[order[i]];

		ck_assert_int_eq(uffd_ranges_add(&r, x->start, x->end, x->img_start), 0);
		t_ranges_check(&r);
	}
	t_ranges_expect(&r, &base, "added out of order");
	ck_assert_uint_eq(r.pages, 8);
	uffd_ranges_free(&r);
	ck_assert_ptr_null(r.v);
	ck_assert_uint_eq(r.n + r.cap + r.pages, 0);
}
END_TEST

static const struct add_case {
	const char *what;
	uint64_t start, end, img;
	int ret;
} add_cases[] = {
	{ "same as a range", T_PG(10), T_PG(12), 0, -EEXIST },
	{ "inside a range", T_PG(21), T_PG(22), 0, -EEXIST },
	{ "over a start", T_PG(19), T_PG(21), 0, -EEXIST },
	{ "over an end", T_PG(24), T_PG(26), 0, -EEXIST },
	{ "covering two", T_PG(9), T_PG(30), 0, -EEXIST },
	{ "empty", T_PG(30), T_PG(30), 0, -EINVAL },
	{ "reversed", T_PG(31), T_PG(30), 0, -EINVAL },
	{ "unaligned start", T_PG(30) + 1, T_PG(31), 0, -EINVAL },
	{ "unaligned end", T_PG(30), T_PG(31) - 1, 0, -EINVAL },
	{ "unaligned img", T_PG(30), T_PG(31), 1, -EINVAL },
	{ "img wraps", T_PG(30), T_PG(32), UINT64_MAX - IMG_PAGE_SIZE + 1, -EINVAL },
	{ "touching both sides", T_PG(13), T_PG(20), T_PG(7), 0 },
	{ "before all", 0, T_PG(1), 0, 0 },
	{ "at the top", UINT64_MAX - IMG_PAGE_SIZE + 1 - T_PG(1), UINT64_MAX - IMG_PAGE_SIZE + 1, 0,
	  0 },
};

START_TEST(test_add_cases)
{
	const struct add_case *c = &add_cases[_i];
	struct uffd_ranges r;

	uffd_ranges_init(&r);
	t_ranges_fill(&r, &base);
	ck_assert_msg(uffd_ranges_add(&r, c->start, c->end, c->img) == c->ret, "%s", c->what);
	t_ranges_check(&r);
	ck_assert_uint_eq(r.n, base.n + !c->ret);
	if (!c->ret) {
		const struct uffd_range *x = uffd_ranges_find(&r, c->start);

		ck_assert_ptr_nonnull(x);
		ck_assert_uint_eq(x->end, c->end);
		ck_assert_uint_eq(x->img_start, c->img);
	} else {
		t_ranges_expect(&r, &base, c->what);
	}
	uffd_ranges_free(&r);
}
END_TEST

static const struct find_case {
	uint64_t addr;
	int idx; /* -1: no range */
} find_cases[] = {
	{ 0, -1 },
	{ T_PG(10) - 1, -1 },
	{ T_PG(10), 0 },
	{ T_PG(11) + 7, 0 },
	{ T_PG(12) - 1, 0 },
	{ T_PG(12), 1 },
	{ T_PG(13) - 1, 1 },
	{ T_PG(13), -1 },
	{ T_PG(19) + 4095, -1 },
	{ T_PG(20), 2 },
	{ T_PG(25) - 1, 2 },
	{ T_PG(25), -1 },
	{ UINT64_MAX, -1 },
};

START_TEST(test_find_cases)
{
	const struct find_case *c = &find_cases[_i];
	const struct uffd_range *x;
	struct uffd_ranges r;

	uffd_ranges_init(&r);
	ck_assert_ptr_null(uffd_ranges_find(&r, c->addr));
	t_ranges_fill(&r, &base);
	x = uffd_ranges_find(&r, c->addr);
	if (c->idx < 0)
		ck_assert_msg(!x, "%#llx: found a range", (unsigned long long)c->addr);
	else
		ck_assert_msg(x == &r.v[c->idx], "%#llx: want range %d", (unsigned long long)c->addr,
			      c->idx);
	uffd_ranges_free(&r);
}
END_TEST

START_TEST(test_copy)
{
	static const struct t_rset old = { 1, { T_R(1, 2, 1) } }, empty = { 0 };
	struct uffd_ranges src, dst;

	uffd_ranges_init(&src);
	uffd_ranges_init(&dst);
	t_ranges_fill(&src, &base);
	t_ranges_fill(&dst, &old);
	ck_assert_int_eq(uffd_ranges_copy(&dst, &src), 0);
	t_ranges_expect(&dst, &base, "copy");
	ck_assert_ptr_ne(dst.v, src.v);
	/* The copy is independent: FORK children change theirs alone. */
	ck_assert_int_eq(uffd_ranges_cut(&src, 0, T_PG(100), NULL), 0);
	t_ranges_expect(&dst, &base, "copy after the source changed");
	ck_assert_int_eq(uffd_ranges_copy(&dst, &dst), 0);
	t_ranges_expect(&dst, &base, "copy onto itself");
	ck_assert_int_eq(uffd_ranges_copy(&dst, &src), 0);
	t_ranges_expect(&dst, &empty, "copy of an empty set");
	uffd_ranges_free(&src);
	uffd_ranges_free(&dst);
}
END_TEST

TCase *ranges_tcase_basic(void)
{
	TCase *tc = tcase_create("basic");

	tcase_add_test(tc, test_add_sorted);
	tcase_add_loop_test(tc, test_add_cases, 0, sizeof(add_cases) / sizeof(add_cases[0]));
	tcase_add_loop_test(tc, test_find_cases, 0, sizeof(find_cases) / sizeof(find_cases[0]));
	tcase_add_test(tc, test_copy);
	return tc;
}

Suite *ranges_suite(void)
{
	static TCase *(*const cases[])(void) = {
		ranges_tcase_basic, ranges_tcase_cut,  ranges_tcase_build,
		ranges_tcase_remap, ranges_tcase_prop,
	};
	Suite *s = suite_create("ranges");

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = cases[i]();

		tcase_set_timeout(tc, 30);
		suite_add_tcase(s, tc);
	}
	return s;
}
