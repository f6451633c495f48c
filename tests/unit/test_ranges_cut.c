/* SPDX-License-Identifier: MIT */
/* uffd ranges: cut (with and without an out set) and take. */
#include <errno.h>
#include <string.h>

#include "tests/unit/test_ranges.h"

/* img_start differs from start, so a split that forgets to advance it shows. */
static const struct t_rset base = { 3, { T_R(10, 20, 110), T_R(20, 30, 220), T_R(40, 50, 40) } };

static const struct cut_case {
	const char *what;
	uint64_t start, end; /* pages */
	struct t_rset left, out;
} cut_cases[] = {
	{ "inside one range", 12, 15,
	  { 4, { T_R(10, 12, 110), T_R(15, 20, 115), T_R(20, 30, 220), T_R(40, 50, 40) } },
	  { 1, { T_R(12, 15, 112) } } },
	{ "straddling two", 15, 25, { 3, { T_R(10, 15, 110), T_R(25, 30, 225), T_R(40, 50, 40) } },
	  { 2, { T_R(15, 20, 115), T_R(20, 25, 220) } } },
	{ "across a gap", 25, 45, { 3, { T_R(10, 20, 110), T_R(20, 25, 220), T_R(45, 50, 45) } },
	  { 2, { T_R(25, 30, 225), T_R(40, 45, 40) } } },
	{ "one whole range", 20, 30, { 2, { T_R(10, 20, 110), T_R(40, 50, 40) } },
	  { 1, { T_R(20, 30, 220) } } },
	{ "head of the first", 5, 12, { 3, { T_R(12, 20, 112), T_R(20, 30, 220), T_R(40, 50, 40) } },
	  { 1, { T_R(10, 12, 110) } } },
	{ "tail of the last", 49, 60, { 3, { T_R(10, 20, 110), T_R(20, 30, 220), T_R(40, 49, 40) } },
	  { 1, { T_R(49, 50, 49) } } },
	{ "one page", 29, 30, { 3, { T_R(10, 20, 110), T_R(20, 29, 220), T_R(40, 50, 40) } },
	  { 1, { T_R(29, 30, 229) } } },
	{ "whole set", 0, 100, { 0 }, base },
	{ "exactly the set", 10, 50, { 0 }, base },
	{ "in a gap", 30, 40, base, { 0 } },
	{ "before all", 0, 10, base, { 0 } },
	{ "after all", 50, 1000, base, { 0 } },
	{ "empty", 15, 15, base, { 0 } },
};

START_TEST(test_cut_cases)
{
	const struct cut_case *c = &cut_cases[_i];
	struct uffd_ranges r, out;

	uffd_ranges_init(&r);
	uffd_ranges_init(&out);
	t_ranges_fill(&r, &base);
	ck_assert_int_eq(uffd_ranges_cut(&r, T_PG(c->start), T_PG(c->end), &out), 0);
	t_ranges_expect(&r, &c->left, c->what);
	t_ranges_expect(&out, &c->out, c->what);
	ck_assert_uint_eq(r.pages + out.pages, 30);
	uffd_ranges_free(&r);
	/* Without an out set, the same pieces just go. */
	uffd_ranges_init(&r);
	t_ranges_fill(&r, &base);
	ck_assert_int_eq(uffd_ranges_cut(&r, T_PG(c->start), T_PG(c->end), NULL), 0);
	t_ranges_expect(&r, &c->left, c->what);
	uffd_ranges_free(&r);
	uffd_ranges_free(&out);
}
END_TEST

START_TEST(test_cut_into_busy_out)
{
	static const struct t_rset prior = { 3, { T_R(1, 2, 1), T_R(16, 17, 900), T_R(60, 61, 60) } };
	static const struct t_rset merged = {
		5, { T_R(1, 2, 1), T_R(12, 15, 112), T_R(16, 17, 900), T_R(17, 18, 117), T_R(60, 61, 60) }
	};
	struct uffd_ranges r, out;

	uffd_ranges_init(&r);
	uffd_ranges_init(&out);
	t_ranges_fill(&r, &base);
	t_ranges_fill(&out, &prior);
	/* [16, 17) is already in OUT: nothing may change. */
	ck_assert_int_eq(uffd_ranges_cut(&r, T_PG(12), T_PG(18), &out), -EEXIST);
	t_ranges_expect(&r, &base, "refused cut");
	t_ranges_expect(&out, &prior, "refused cut's out");
	/* Cut around it: the pieces interleave with OUT's ranges. */
	ck_assert_int_eq(uffd_ranges_cut(&r, T_PG(12), T_PG(15), &out), 0);
	ck_assert_int_eq(uffd_ranges_cut(&r, T_PG(17), T_PG(18), &out), 0);
	t_ranges_expect(&out, &merged, "out with earlier ranges");
	ck_assert_uint_eq(r.pages, 26);
	uffd_ranges_free(&r);
	uffd_ranges_free(&out);
}
END_TEST

START_TEST(test_cut_bad_args)
{
	struct uffd_ranges r;

	uffd_ranges_init(&r);
	t_ranges_fill(&r, &base);
	ck_assert_int_eq(uffd_ranges_cut(&r, T_PG(12) + 1, T_PG(15), NULL), -EINVAL);
	ck_assert_int_eq(uffd_ranges_cut(&r, T_PG(12), T_PG(15) - 1, NULL), -EINVAL);
	ck_assert_int_eq(uffd_ranges_cut(&r, T_PG(15), T_PG(12), NULL), -EINVAL);
	ck_assert_int_eq(uffd_ranges_cut(&r, T_PG(12), T_PG(15), &r), -EINVAL);
	t_ranges_expect(&r, &base, "bad cuts");
	uffd_ranges_free(&r);
}
END_TEST

/* [10, 14) and [14, 16) are one mapping split at a VMA end. */
static const struct t_rset tbase = { 3, { T_R(10, 14, 110), T_R(14, 16, 14), T_R(20, 21, 20) } };

static const struct take_case {
	const char *what;
	uint64_t addr, max;
	int ret;
	struct uffd_range out;
	struct t_rset left;
} take_cases[] = {
	{ "prefetch: front of the first", 0, 2, 1, T_R(10, 12, 110),
	  { 3, { T_R(12, 14, 112), T_R(14, 16, 14), T_R(20, 21, 20) } } },
	{ "prefetch: whole first range", 0, 100, 1, T_R(10, 14, 110),
	  { 2, { T_R(14, 16, 14), T_R(20, 21, 20) } } },
	{ "fault at the front", T_PG(10), 1, 1, T_R(10, 11, 110),
	  { 3, { T_R(11, 14, 111), T_R(14, 16, 14), T_R(20, 21, 20) } } },
	{ "fault in the middle", T_PG(12) + 5, 1, 1, T_R(12, 13, 112),
	  { 4, { T_R(10, 12, 110), T_R(13, 14, 113), T_R(14, 16, 14), T_R(20, 21, 20) } } },
	{ "fault on the last page", T_PG(14) - 1, 1, 1, T_R(13, 14, 113),
	  { 3, { T_R(10, 13, 110), T_R(14, 16, 14), T_R(20, 21, 20) } } },
	{ "stops at the VMA split", T_PG(12), 100, 1, T_R(12, 14, 112),
	  { 3, { T_R(10, 12, 110), T_R(14, 16, 14), T_R(20, 21, 20) } } },
	{ "after the VMA split", T_PG(14), 100, 1, T_R(14, 16, 14),
	  { 2, { T_R(10, 14, 110), T_R(20, 21, 20) } } },
	{ "exactly the rest", T_PG(11), 3, 1, T_R(11, 14, 111),
	  { 3, { T_R(10, 11, 110), T_R(14, 16, 14), T_R(20, 21, 20) } } },
	{ "huge max", T_PG(20), UINT64_MAX, 1, T_R(20, 21, 20),
	  { 2, { T_R(10, 14, 110), T_R(14, 16, 14) } } },
	{ "in a gap", T_PG(17), 1, 0, { 0 }, tbase },
	{ "past the end", T_PG(21), 1, 0, { 0 }, tbase },
	{ "no pages", T_PG(10), 0, -EINVAL, { 0 }, tbase },
};

START_TEST(test_take_cases)
{
	const struct take_case *c = &take_cases[_i];
	struct uffd_range out = { 7, 7, 7 }, untouched = { 7, 7, 7 };
	struct uffd_ranges r;

	uffd_ranges_init(&r);
	t_ranges_fill(&r, &tbase);
	ck_assert_msg(uffd_ranges_take(&r, c->addr, c->max, &out) == c->ret, "%s", c->what);
	if (c->ret != 1)
		ck_assert(!memcmp(&out, &untouched, sizeof(out)));
	else
		ck_assert_msg(out.start == c->out.start && out.end == c->out.end &&
				      out.img_start == c->out.img_start,
			      "%s: took [%#llx, %#llx) img %#llx", c->what,
			      (unsigned long long)out.start, (unsigned long long)out.end,
			      (unsigned long long)out.img_start);
	t_ranges_expect(&r, &c->left, c->what);
	uffd_ranges_free(&r);
}
END_TEST

START_TEST(test_take_drain)
{
	struct uffd_ranges r;
	struct uffd_range out;
	uint64_t pages = 0;
	int n = 0;

	uffd_ranges_init(&r);
	ck_assert_int_eq(uffd_ranges_take(&r, 0, 1, &out), 0);
	ck_assert_int_eq(uffd_ranges_take(&r, T_PG(10), 1, &out), 0);
	t_ranges_fill(&r, &tbase);
	while (uffd_ranges_take(&r, 0, 3, &out) == 1) {
		ck_assert_uint_le(out.end - out.start, T_PG(3));
		pages += (out.end - out.start) / IMG_PAGE_SIZE;
		n++;
		t_ranges_check(&r);
	}
	/* [10,13) [13,14) [14,16) [20,21) */
	ck_assert_int_eq(n, 4);
	ck_assert_uint_eq(pages, 7);
	ck_assert_uint_eq(r.n + r.pages, 0);
	uffd_ranges_free(&r);
}
END_TEST

TCase *ranges_tcase_cut(void)
{
	TCase *tc = tcase_create("cut_take");

	tcase_add_loop_test(tc, test_cut_cases, 0, sizeof(cut_cases) / sizeof(cut_cases[0]));
	tcase_add_test(tc, test_cut_into_busy_out);
	tcase_add_test(tc, test_cut_bad_args);
	tcase_add_loop_test(tc, test_take_cases, 0, sizeof(take_cases) / sizeof(take_cases[0]));
	tcase_add_test(tc, test_take_drain);
	return tc;
}
