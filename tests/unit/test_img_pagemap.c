/* SPDX-License-Identifier: MIT */
/* pagemap-<pid>.img: 4.1 / 4.2 / legacy encodings, offsets and validation. */
#include <errno.h>
#include <stdio.h>

#include "proto/pagemap.pb-c.h"
#include "tests/unit/helpers.h"
#include "tests/unit/test_img.h"

#define P IMG_PE_PRESENT
#define L IMG_PE_LAZY
#define PAR IMG_PE_PARENT
#define MAXE 8

/* A normal dump: lazy entries are PRESENT|LAZY; one page in the parent. */
static const struct t_pe normal[] = {
	{ 0x400000, 2, P }, { 0x600000, 3, P | L }, { 0x603000, 1, P | L },
	{ 0x700000, 1, PAR }, { 0x800000, 2, P },
};
static const uint64_t normal_off[] = { 0, 0x2000, 0x5000, 0, 0x6000 };

/* dump --lazy-pages: lazy entries carry no data. */
static const struct t_pe lazy_only[] = {
	{ 0x400000, 2, P }, { 0x600000, 3, L }, { 0x603000, 1, L }, { 0x800000, 2, P },
};
static const uint64_t lazy_only_off[] = { 0, 0, 0, 0x2000 };

static const struct t_pe legacy[] = { { 0x1000, 1, P }, { 0x2000, 2, PAR }, { 0x5000, 1, P } };
static const uint64_t legacy_off[] = { 0, 0, 0x1000 };

/* More than 2^32 pages needs field 5 (CRIU 4.2). */
static const struct t_pe huge[] = { { 0x100000000000, 0x100000001, P | L } };
static const uint64_t huge_off[] = { 0 };

static const struct good_case {
	const char *what;
	const struct t_pe *e;
	const uint64_t *off;
	size_t n;
	enum t_pe_style style;
	uint64_t nr_lazy, present_pages;
	int lazy_has_data;
} good_cases[] = {
	{ "4.1 normal dump", normal, normal_off, 5, T_PE_41, 4, 8, 1 },
	{ "4.2 normal dump", normal, normal_off, 5, T_PE_42, 4, 8, 1 },
	{ "4.1 dump --lazy-pages", lazy_only, lazy_only_off, 4, T_PE_41, 4, 4, 0 },
	{ "4.2 dump --lazy-pages", lazy_only, lazy_only_off, 4, T_PE_42, 4, 4, 0 },
	{ "legacy in_parent", legacy, legacy_off, 3, T_PE_LEGACY, 0, 2, 1 },
	{ "4.2 field 5 beyond u32", huge, huge_off, 1, T_PE_42, 0x100000001, 0x100000001, 1 },
	{ "head only", NULL, NULL, 0, T_PE_41, 0, 0, 1 },
};

START_TEST(test_pagemap_good)
{
	const struct good_case *c = &good_cases[_i];
	struct img_err err = { "" };
	struct img_pagemap pm;
	struct t_buf b = { 0 };

	t_img_pagemap(&b, 7, c->e, c->n, c->style);
	ck_assert_msg(!img_parse_pagemap(b.p, b.len, "pagemap-9.img", 9, &pm, &err), "%s: %s",
		      c->what, err.msg);
	ck_assert_int_eq(pm.pid, 9);
	ck_assert_uint_eq(pm.pages_id, 7);
	ck_assert_uint_eq(pm.nr_ents, c->n);
	for (size_t i = 0; i < c->n; i++) {
		ck_assert_uint_eq(pm.ents[i].vaddr, c->e[i].vaddr);
		ck_assert_uint_eq(pm.ents[i].nr_pages, c->e[i].nr_pages);
		ck_assert_uint_eq(pm.ents[i].flags, c->e[i].flags);
		ck_assert_uint_eq(pm.ents[i].file_off, c->off[i]);
	}
	ck_assert_uint_eq(pm.nr_lazy_pages, c->nr_lazy);
	ck_assert_uint_eq(pm.present_bytes, c->present_pages * IMG_PAGE_SIZE);
	ck_assert_int_eq(pm.lazy_has_data, c->lazy_has_data);
	img_pagemap_free(&pm);
	ck_assert_ptr_null(pm.ents);
	t_buf_free(&b);
}
END_TEST

START_TEST(test_field5_wins_over_field2)
{
	FlPagemapEntry pe = FL_PAGEMAP_ENTRY__INIT;
	struct img_pagemap pm;
	struct t_buf b = { 0 };

	t_img_pagemap(&b, 1, NULL, 0, T_PE_42);
	pe.has_vaddr = pe.has_compat_nr_pages = pe.has_nr_pages = pe.has_flags = 1;
	pe.vaddr = 0x1000;
	pe.compat_nr_pages = 1;
	pe.nr_pages = 3;
	pe.flags = P;
	t_buf_msg(&b, &pe.base);
	ck_assert_int_eq(img_parse_pagemap(b.p, b.len, "pagemap-1.img", 1, &pm, NULL), 0);
	ck_assert_uint_eq(pm.ents[0].nr_pages, 3);
	ck_assert_uint_eq(pm.present_bytes, 3 * IMG_PAGE_SIZE);
	img_pagemap_free(&pm);
	t_buf_free(&b);
}
END_TEST

static const struct bad_case {
	const char *what;
	struct t_pe e[MAXE];
	size_t n, bad; /* entry BAD is rejected */
	enum t_pe_style style;
	const char *detail;
} bad_cases[] = {
	{ "unsorted", { { 0x600000, 1, P }, { 0x400000, 1, P } }, 2, 1, T_PE_41, "unsorted" },
	{ "overlapping", { { 0x400000, 2, P }, { 0x401000, 1, P } }, 2, 1, T_PE_41, "overlapping" },
	{ "duplicate", { { 0x400000, 1, P }, { 0x400000, 1, P } }, 2, 1, T_PE_42, "overlapping" },
	{ "unaligned vaddr", { { 0x1000, 1, P }, { 0x400800, 1, P } }, 2, 1, T_PE_41, "unaligned" },
	{ "zero nr_pages", { { 0x400000, 0, P } }, 1, 0, T_PE_41, "zero nr_pages" },
	{ "zero nr_pages 4.2", { { 0x400000, 0, L } }, 1, 0, T_PE_42, "zero nr_pages" },
	{ "end overflows", { { 0xfffffffffffff000, 2, P } }, 1, 0, T_PE_42, "overflow" },
	{ "nr_pages overflows", { { 0x1000, 1ULL << 52, P } }, 1, 0, T_PE_42, "overflow" },
	{ "unknown flags", { { 0x1000, 1, 8 | P } }, 1, 0, T_PE_41, "unknown flags" },
};

START_TEST(test_pagemap_bad)
{
	const struct bad_case *c = &bad_cases[_i];
	struct img_err err = { "" };
	struct img_pagemap pm;
	struct t_buf b = { 0 };
	size_t off;
	int ret;

	t_img_pagemap(&b, 1, c->e, c->bad, c->style);
	off = b.len + 4;
	t_buf_free(&b);
	t_img_pagemap(&b, 1, c->e, c->n, c->style);
	ret = img_parse_pagemap(b.p, b.len, "pagemap-42.img", 42, &pm, &err);
	ck_assert_msg(ret == -EPROTO, "%s: ret %d (%s)", c->what, ret, err.msg);
	t_assert_err_at(&err, "pagemap-42.img", off);
	ck_assert_msg(strstr(err.msg, c->detail), "%s: \"%s\"", c->what, err.msg);
	ck_assert_ptr_null(pm.ents);
	ck_assert_uint_eq(pm.nr_ents, 0);
	t_buf_free(&b);
}
END_TEST

START_TEST(test_missing_fields)
{
	FlPagemapHead h = FL_PAGEMAP_HEAD__INIT;
	FlPagemapEntry pe = FL_PAGEMAP_ENTRY__INIT;
	struct img_err err = { "" };
	struct img_pagemap pm;
	struct t_buf b = { 0 };

	t_buf_header(&b, IMG_MAGIC_PAGEMAP);
	t_buf_msg(&b, &h.base);
	ck_assert_int_eq(img_parse_pagemap(b.p, b.len, "pagemap-3.img", 3, &pm, &err), -EPROTO);
	t_assert_err_at(&err, "pagemap-3.img", 12);
	ck_assert_ptr_nonnull(strstr(err.msg, "pages_id"));
	t_buf_free(&b);

	t_img_pagemap(&b, 1, NULL, 0, T_PE_41);
	size_t off = b.len + 4;
	pe.has_vaddr = 1;
	pe.vaddr = 0x1000;
	t_buf_msg(&b, &pe.base);
	ck_assert_int_eq(img_parse_pagemap(b.p, b.len, "pagemap-3.img", 3, &pm, &err), -EPROTO);
	t_assert_err_at(&err, "pagemap-3.img", off);
	ck_assert_ptr_nonnull(strstr(err.msg, "nr_pages"));
	t_buf_free(&b);
}
END_TEST

TCase *img_tcase_pagemap(void)
{
	TCase *tc = tcase_create("pagemap");

	tcase_add_loop_test(tc, test_pagemap_good, 0, sizeof(good_cases) / sizeof(good_cases[0]));
	tcase_add_loop_test(tc, test_pagemap_bad, 0, sizeof(bad_cases) / sizeof(bad_cases[0]));
	tcase_add_test(tc, test_field5_wins_over_field2);
	tcase_add_test(tc, test_missing_fields);
	return tc;
}
