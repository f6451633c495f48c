/* SPDX-License-Identifier: MIT */
/* uffd ranges: building from pagemap + mm, and REMAP. */
#include <errno.h>

#include "tests/unit/test_ranges.h"

#define L IMG_PE_LAZY
#define P IMG_PE_PRESENT
#define V(s, e) { .start = T_PG(s), .end = T_PG(e) }
#define E(va, nr, fl) { .vaddr = T_PG(va), .nr_pages = (nr), .flags = (fl) }

/* [0x10, 0x20) and [0x20, 0x30) are adjacent VMAs. */
static struct img_vma vmas[] = { V(0x10, 0x20), V(0x20, 0x30), V(0x40, 0x50), V(0x58, 0x5a) };

/* Lazy flags as a normal dump (PRESENT|LAZY, 6) and dump --lazy-pages (LAZY, 2)
 * write them; non-lazy entries are PRESENT or PARENT. */
static const struct build_style {
	const char *what;
	uint32_t lazy, plain;
} styles[] = { { "normal dump", P | L, P }, { "dump --lazy-pages", L, IMG_PE_PARENT } };

START_TEST(test_build)
{
	const struct build_style *st = &styles[_i];
	const uint32_t lz = st->lazy, pl = st->plain;
	struct img_pm_entry ents[] = {
		E(0x08, 4, lz),    /* outside every VMA: dropped */
		E(0x0e, 4, lz),    /* straddles a VMA start */
		E(0x1e, 4, lz),    /* spans the end of a VMA into the next one */
		E(0x24, 2, pl),    /* not lazy */
		E(0x2c, 0x18, lz), /* [2c, 44): VMA end, a gap, the next VMA */
		E(0x45, 2, lz),    /* the same VMA as the one before */
		E(0x48, 1, pl),
		E(0x4f, 0x10, lz), /* [4f, 5f): two VMAs, the last one whole */
		E(0x60, 1, lz),    /* past every VMA */
	};
	static const struct t_rset want = {
		8, { T_R(0x10, 0x12, 0x10), T_R(0x1e, 0x20, 0x1e), T_R(0x20, 0x22, 0x20),
		     T_R(0x2c, 0x30, 0x2c), T_R(0x40, 0x44, 0x40), T_R(0x45, 0x47, 0x45),
		     T_R(0x4f, 0x50, 0x4f), T_R(0x58, 0x5a, 0x58) }
	};
	struct img_pagemap pm = { .ents = ents, .nr_ents = sizeof(ents) / sizeof(ents[0]) };
	struct img_mm mm = { .vmas = vmas, .nr_vmas = sizeof(vmas) / sizeof(vmas[0]) };
	struct uffd_ranges r;

	uffd_ranges_init(&r);
	ck_assert_int_eq(uffd_ranges_add(&r, T_PG(1), T_PG(2), 0), 0);
	ck_assert_int_eq(uffd_ranges_build(&r, &pm, &mm), 0);
	t_ranges_expect(&r, &want, st->what);
	ck_assert_uint_eq(r.pages, 19);
	uffd_ranges_free(&r);
}
END_TEST

START_TEST(test_build_empty)
{
	struct img_pm_entry ents[] = { E(0x10, 4, L), E(0x20, 0, L) };
	struct img_pagemap pm = { .ents = ents, .nr_ents = 2 }, none = { 0 };
	struct img_mm mm = { .vmas = vmas, .nr_vmas = 4 }, nomm = { 0 };
	static const struct t_rset empty = { 0 }, one = { 1, { T_R(0x10, 0x14, 0x10) } };
	struct uffd_ranges r;

	uffd_ranges_init(&r);
	ck_assert_int_eq(uffd_ranges_build(&r, &pm, &nomm), 0);
	t_ranges_expect(&r, &empty, "no VMAs");
	ck_assert_int_eq(uffd_ranges_build(&r, &none, &mm), 0);
	t_ranges_expect(&r, &empty, "no entries");
	ck_assert_int_eq(uffd_ranges_build(&r, &pm, &mm), 0);
	t_ranges_expect(&r, &one, "zero-page entry");
	uffd_ranges_free(&r);
}
END_TEST

/* img_start differs from start in [20, 30) only. */
static const struct t_rset base = { 3, { T_R(10, 20, 10), T_R(20, 30, 120), T_R(40, 50, 40) } };

static const struct remap_case {
	const char *what;
	uint64_t from, to, len; /* pages */
	struct t_rset want;
} remap_cases[] = {
	{ "forward", 10, 100, 10, { 3, { T_R(20, 30, 120), T_R(40, 50, 40), T_R(100, 110, 10) } } },
	{ "backward, part of a range", 40, 2, 5,
	  { 4, { T_R(2, 7, 40), T_R(10, 20, 10), T_R(20, 30, 120), T_R(45, 50, 45) } } },
	{ "source cuts two ranges", 15, 60, 10,
	  { 5,
	    { T_R(10, 15, 10), T_R(25, 30, 125), T_R(40, 50, 40), T_R(60, 65, 15),
	      T_R(65, 70, 120) } } },
	{ "source spans a gap", 25, 80, 20,
	  { 5,
	    { T_R(10, 20, 10), T_R(20, 25, 120), T_R(45, 50, 45), T_R(80, 85, 125),
	      T_R(95, 100, 40) } } },
	{ "destination holds a range", 10, 40, 5,
	  { 4, { T_R(15, 20, 15), T_R(20, 30, 120), T_R(40, 45, 10), T_R(45, 50, 45) } } },
	{ "empty source over ranges", 32, 40, 4,
	  { 3, { T_R(10, 20, 10), T_R(20, 30, 120), T_R(44, 50, 44) } } },
	{ "overlapping, forward", 10, 15, 10,
	  { 3, { T_R(15, 25, 10), T_R(25, 30, 125), T_R(40, 50, 40) } } },
	{ "overlapping, backward", 20, 15, 10,
	  { 3, { T_R(10, 15, 10), T_R(15, 25, 120), T_R(40, 50, 40) } } },
	{ "overlapping by one page", 12, 19, 8,
	  { 4, { T_R(10, 12, 10), T_R(19, 27, 12), T_R(27, 30, 127), T_R(40, 50, 40) } } },
	{ "swap-like: onto the next range", 20, 40, 10,
	  { 2, { T_R(10, 20, 10), T_R(40, 50, 120) } } },
	{ "nothing anywhere", 60, 70, 5, base },
	{ "zero length", 10, 100, 0, base },
	{ "onto itself", 10, 10, 10, base },
};

START_TEST(test_remap_cases)
{
	const struct remap_case *c = &remap_cases[_i];
	struct uffd_ranges r;

	uffd_ranges_init(&r);
	t_ranges_fill(&r, &base);
	ck_assert_int_eq(uffd_ranges_remap(&r, T_PG(c->from), T_PG(c->to), T_PG(c->len)), 0);
	t_ranges_expect(&r, &c->want, c->what);
	uffd_ranges_free(&r);
}
END_TEST

START_TEST(test_remap_bad_args)
{
	const uint64_t top = UINT64_MAX - IMG_PAGE_SIZE + 1;
	struct uffd_ranges r;

	uffd_ranges_init(&r);
	t_ranges_fill(&r, &base);
	ck_assert_int_eq(uffd_ranges_remap(&r, T_PG(10) + 1, T_PG(100), T_PG(1)), -EINVAL);
	ck_assert_int_eq(uffd_ranges_remap(&r, T_PG(10), T_PG(100) + 1, T_PG(1)), -EINVAL);
	ck_assert_int_eq(uffd_ranges_remap(&r, T_PG(10), T_PG(100), 1), -EINVAL);
	ck_assert_int_eq(uffd_ranges_remap(&r, top, T_PG(100), T_PG(2)), -EINVAL);
	ck_assert_int_eq(uffd_ranges_remap(&r, T_PG(10), top, T_PG(2)), -EINVAL);
	t_ranges_expect(&r, &base, "bad remaps");
	uffd_ranges_free(&r);
}
END_TEST

/* After mremap the dump-time address of every page is still the one GET and
 * the pagemap know: remap twice, then map each run-time page back. */
START_TEST(test_remap_keeps_img)
{
	struct img_pm_entry ents[] = { E(0x10, 0x20, P | L), E(0x40, 0x10, P | L) };
	struct img_pagemap pm = { .ents = ents, .nr_ents = 2 };
	struct img_mm mm = { .vmas = vmas, .nr_vmas = 4 };
	struct uffd_ranges r;
	uint64_t seen = 0;

	uffd_ranges_init(&r);
	ck_assert_int_eq(uffd_ranges_build(&r, &pm, &mm), 0);
	ck_assert_int_eq(uffd_ranges_remap(&r, T_PG(0x18), T_PG(0x1000), T_PG(0x10)), 0);
	ck_assert_int_eq(uffd_ranges_remap(&r, T_PG(0x1004), T_PG(0x44), T_PG(0x4)), 0);
	t_ranges_check(&r);
	for (uint64_t pg = 0; pg < 0x2000; pg++) {
		const struct uffd_range *x = uffd_ranges_find(&r, T_PG(pg) + 12);
		uint64_t img;

		if (!x)
			continue;
		img = uffd_range_img(x, T_PG(pg) + 12) - 12;
		if (pg >= 0x1000)
			ck_assert_uint_eq(img, T_PG(pg - 0x1000 + 0x18));
		else if (pg >= 0x44 && pg < 0x48)
			ck_assert_uint_eq(img, T_PG(pg - 0x44 + 0x1c));
		else
			ck_assert_uint_eq(img, T_PG(pg));
		seen++;
	}
	/* 0x20 + 0x10 pages, minus [0x44, 0x48) the second remap replaced. */
	ck_assert_uint_eq(seen, 0x2c);
	ck_assert_uint_eq(r.pages, 0x2c);
	uffd_ranges_free(&r);
}
END_TEST

/* A remap that splits a range at both ends of its source and one in its
 * destination grows the set by 3; run it over every fill level, so one of
 * them meets the array's capacity whatever the growth policy. */
START_TEST(test_remap_grows)
{
	for (uint64_t n = 2; n < 70; n++) {
		const uint64_t last = 100 + 10 * (n - 1);
		struct uffd_ranges r;

		uffd_ranges_init(&r);
		for (uint64_t i = 0; i < n; i++)
			ck_assert_int_eq(uffd_ranges_add(&r, T_PG(100 + 10 * i), T_PG(104 + 10 * i),
							 T_PG(1100 + 10 * i)),
					 0);
		ck_assert_int_eq(uffd_ranges_remap(&r, T_PG(101), T_PG(last + 1), T_PG(2)), 0);
		t_ranges_check(&r);
		ck_assert_uint_eq(r.n, n + 3);
		ck_assert_uint_eq(r.pages, 4 * n - 2);
		ck_assert_uint_eq(uffd_range_img(uffd_ranges_find(&r, T_PG(last + 2)), T_PG(last + 2)),
				  T_PG(1102));
		ck_assert_ptr_null(uffd_ranges_find(&r, T_PG(102)));
		uffd_ranges_free(&r);
	}
}
END_TEST

TCase *ranges_tcase_build(void)
{
	TCase *tc = tcase_create("build");

	tcase_add_loop_test(tc, test_build, 0, sizeof(styles) / sizeof(styles[0]));
	tcase_add_test(tc, test_build_empty);
	return tc;
}

TCase *ranges_tcase_remap(void)
{
	TCase *tc = tcase_create("remap");

	tcase_add_loop_test(tc, test_remap_cases, 0, sizeof(remap_cases) / sizeof(remap_cases[0]));
	tcase_add_test(tc, test_remap_bad_args);
	tcase_add_test(tc, test_remap_keeps_img);
	tcase_add_test(tc, test_remap_grows);
	return tc;
}
