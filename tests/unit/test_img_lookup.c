/* SPDX-License-Identifier: MIT */
/* img_pagemap_lookup: which pages-file bytes serve a GET of NR pages. */
#include <errno.h>

#include "tests/unit/helpers.h"
#include "tests/unit/test_img.h"

#define P IMG_PE_PRESENT
#define L IMG_PE_LAZY

static const struct t_pe layout[] = {
	{ 0x10000, 2, P },     /* off 0x0000, not lazy */
	{ 0x12000, 3, P | L }, /* off 0x2000 */
	{ 0x15000, 2, P | L }, /* off 0x5000, contiguous with the previous */
	{ 0x17000, 1, P },     /* off 0x7000, not lazy, contiguous */
	{ 0x20000, 2, P | L }, /* off 0x8000, after a gap */
	{ 0x30000, 2, L },     /* lazy, no data (dump --lazy-pages) */
	{ 0x32000, 1, P | L }, /* off 0xa000 */
	{ 0x33000, 1, L },     /* lazy, no data, contiguous */
	{ 0x40000, 1, IMG_PE_PARENT },
};

static const struct lookup_case {
	const char *what;
	uint64_t vaddr, nr;
	int ret;
	uint64_t off, run;
} lookup_cases[] = {
	{ "first page of an entry", 0x12000, 1, 0, 0x2000, 1 },
	{ "inside an entry", 0x13000, 1, 0, 0x3000, 1 },
	{ "whole entry", 0x12000, 3, 0, 0x2000, 3 },
	{ "shorter than the entry", 0x12000, 2, 0, 0x2000, 2 },
	{ "spans two contiguous entries", 0x13000, 4, 0, 0x3000, 4 },
	{ "entry between lazy-only ones", 0x32000, 1, 0, 0xa000, 1 },
	{ "runs into a non-lazy entry", 0x15000, 3, -ERANGE, 0, 0 },
	{ "second page after a gap", 0x21000, 1, 0, 0x9000, 1 },
	{ "runs from lazy into lazy-only", 0x32000, 2, -ERANGE, 0, 0 },
	{ "runs past the end into a gap", 0x20000, 3, -ERANGE, 0, 0 },
	{ "enormous count", 0x12000, UINT64_MAX, -ERANGE, 0, 0 },
	{ "below every entry", 0x0, 1, -ENOENT, 0, 0 },
	{ "in a gap", 0x19000, 1, -ENOENT, 0, 0 },
	{ "just past an entry", 0x22000, 1, -ENOENT, 0, 0 },
	{ "above every entry", 0x50000, 1, -ENOENT, 0, 0 },
	{ "top of the address space", 0xfffffffffffff000, 1, -ENOENT, 0, 0 },
	{ "non-lazy entry", 0x10000, 1, -EACCES, 0, 0 },
	{ "non-lazy tail entry", 0x17000, 1, -EACCES, 0, 0 },
	{ "parent entry", 0x40000, 1, -EACCES, 0, 0 },
	{ "lazy-only entry", 0x30000, 1, -ENODATA, 0, 0 },
	{ "lazy-only, second page", 0x31000, 2, -ENODATA, 0, 0 },
	{ "unaligned", 0x12800, 1, -EINVAL, 0, 0 },
	{ "zero pages", 0x12000, 0, -EINVAL, 0, 0 },
};

START_TEST(test_lookup_table)
{
	const struct lookup_case *c = &lookup_cases[_i];
	uint64_t off = 0xdead, run = 0xbeef;
	struct img_pagemap pm;
	struct t_buf b = { 0 };
	int ret;

	t_img_pagemap(&b, 1, layout, sizeof(layout) / sizeof(layout[0]), T_PE_42);
	ck_assert_int_eq(img_parse_pagemap(b.p, b.len, "pagemap-1.img", 1, &pm, NULL), 0);
	ret = img_pagemap_lookup(&pm, c->vaddr, c->nr, &off, &run);
	ck_assert_msg(ret == c->ret, "%s: ret %d, want %d", c->what, ret, c->ret);
	if (!ret) {
		ck_assert_msg(off == c->off, "%s: off 0x%llx", c->what, (unsigned long long)off);
		ck_assert_msg(run == c->run, "%s: run %llu", c->what, (unsigned long long)run);
	}
	img_pagemap_free(&pm);
	t_buf_free(&b);
}
END_TEST

/* Contiguous in memory but not in the pages file: RUN stops at the seam, and
 * the next call picks up from there. */
START_TEST(test_lookup_file_seam)
{
	struct img_pm_entry ents[] = {
		{ .vaddr = 0x1000, .nr_pages = 2, .flags = P | L, .file_off = 0 },
		{ .vaddr = 0x3000, .nr_pages = 2, .flags = P | L, .file_off = 0x10000 },
	};
	struct img_pagemap pm = { .ents = ents, .nr_ents = 2, .lazy_has_data = 1 };
	uint64_t off, run;

	ck_assert_int_eq(img_pagemap_lookup(&pm, 0x2000, 3, &off, &run), 0);
	ck_assert_uint_eq(off, 0x1000);
	ck_assert_uint_eq(run, 1);
	ck_assert_int_eq(img_pagemap_lookup(&pm, 0x3000, 2, &off, &run), 0);
	ck_assert_uint_eq(off, 0x10000);
	ck_assert_uint_eq(run, 2);
	ck_assert_int_eq(img_pagemap_lookup(&pm, 0x2000, 4, &off, &run), -ERANGE);
}
END_TEST

START_TEST(test_lookup_empty)
{
	struct img_pagemap pm = { .lazy_has_data = 1 };
	uint64_t off, run;

	ck_assert_int_eq(img_pagemap_lookup(&pm, 0x1000, 1, &off, &run), -ENOENT);
}
END_TEST

TCase *img_tcase_lookup(void)
{
	TCase *tc = tcase_create("lookup");

	tcase_add_loop_test(tc, test_lookup_table, 0,
			    sizeof(lookup_cases) / sizeof(lookup_cases[0]));
	tcase_add_test(tc, test_lookup_file_seam);
	tcase_add_test(tc, test_lookup_empty);
	return tc;
}
