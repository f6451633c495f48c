/* SPDX-License-Identifier: MIT */
/* Hotness map parsing (`lazy-pages --hotness`). */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "tests/unit/suites.h"
#include "uffd/hotness.h"

START_TEST(parses_ranges_in_order)
{
	static const char map[] = "# faultline-hotness 1\n"
				  "# vpid start end writes\n"
				  "1 7f12a4000000 7f12a4010000 523\n"
				  "\n"
				  "  42 1000 3000 2\r\n"
				  "1 a000 b000 0";
	struct uffd_hotmap m;

	ck_assert_int_eq(uffd_hotmap_parse(map, strlen(map), &m), 0);
	ck_assert_uint_eq(m.n, 3);
	ck_assert_int_eq(m.v[0].vpid, 1);
	ck_assert_uint_eq(m.v[0].start, 0x7f12a4000000ULL);
	ck_assert_uint_eq(m.v[0].end, 0x7f12a4010000ULL);
	ck_assert_uint_eq(m.v[0].writes, 523);
	ck_assert_int_eq(m.v[1].vpid, 42);
	ck_assert_uint_eq(m.v[2].start, 0xa000);
	uffd_hotmap_free(&m);
}
END_TEST

static const struct {
	const char *text;
	const char *line;
} bad[] = {
	{ "1 1000 2000\n", "line 1" },                /* missing writes */
	{ "# x\n1 1001 2000 5\n", "line 2" },         /* unaligned start */
	{ "1 2000 2000 5\n", "line 1" },              /* empty */
	{ "0 1000 2000 5\n", "line 1" },              /* pid 0 */
	{ "1 1000 2000 5 extra\n", "line 1" },        /* trailing junk */
	{ "1 3000 2000 5\n", "line 1" },              /* reversed */
	{ "1 zz 2000 5\n", "line 1" },                /* not hex */
};

START_TEST(rejects_bad_lines)
{
	struct uffd_hotmap m;

	ck_assert_int_eq(uffd_hotmap_parse(bad[_i].text, strlen(bad[_i].text), &m), -EBADMSG);
	ck_assert_msg(strstr(m.err, bad[_i].line), "error '%s' should name %s", m.err, bad[_i].line);
	ck_assert_ptr_null(m.v);
}
END_TEST

START_TEST(widen_to_blocks)
{
	static const char map[] = "1 11000 12000 9\n1 1f000 21000 3\n";
	struct uffd_hotmap m;

	ck_assert_int_eq(uffd_hotmap_parse(map, strlen(map), &m), 0);
	uffd_hotmap_widen(&m, 3); /* not a power of two: unchanged */
	ck_assert_uint_eq(m.v[0].start, 0x11000);
	uffd_hotmap_widen(&m, 16);
	ck_assert_uint_eq(m.v[0].start, 0x10000);
	ck_assert_uint_eq(m.v[0].end, 0x20000);
	ck_assert_uint_eq(m.v[1].start, 0x10000);
	ck_assert_uint_eq(m.v[1].end, 0x30000);
	uffd_hotmap_free(&m);
}
END_TEST

START_TEST(load_names_the_file)
{
	struct uffd_hotmap m;

	ck_assert_int_eq(uffd_hotmap_load("/nonexistent/hot.map", &m), -ENOENT);
	ck_assert_ptr_nonnull(strstr(m.err, "/nonexistent/hot.map"));
}
END_TEST

Suite *hotness_suite(void)
{
	Suite *s = suite_create("hotness");
	TCase *tc = tcase_create("parse");

	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, parses_ranges_in_order);
	tcase_add_loop_test(tc, rejects_bad_lines, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, load_names_the_file);
	tcase_add_test(tc, widen_to_blocks);
	suite_add_tcase(s, tc);
	return s;
}
