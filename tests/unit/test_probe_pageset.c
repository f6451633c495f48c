/* SPDX-License-Identifier: MIT */
/* `probe hotness` page counts, range merging and the hotness map it writes
 * (read back with lazy-pages' own parser). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/suites.h"

#ifdef FL_NO_BPF
Suite *probe_pageset_suite(void)
{
	return suite_create("probe_pageset (not built: FL_NO_BPF)");
}
#else
#include "bpf/pageset.h"
#include "bpf/wp.h"
#include "uffd/hotness.h"

#define PG 4096ULL

static void written(struct probe_pageset *s, unsigned proc, uint64_t a, uint32_t round)
{
	ck_assert_int_eq(probe_pageset_written(s, proc, a, round, NULL), 0);
}

START_TEST(counts_each_round_once)
{
	struct probe_pageset s = { 0 };
	int is_new = -1;

	ck_assert_int_eq(probe_pageset_written(&s, 0, 0x1000, 1, &is_new), 0);
	ck_assert_int_eq(is_new, 1);
	ck_assert_int_eq(probe_pageset_written(&s, 0, 0x1000, 1, &is_new), 0);
	ck_assert_int_eq(is_new, 0);
	written(&s, 0, 0x1000, 2);
	written(&s, 0, 0x1000, 4);
	written(&s, 0, 0x1000, 5);
	ck_assert_uint_eq(probe_pageset_get(&s, 0, 0x1000)->rounds, 4);
	ck_assert_ptr_null(probe_pageset_get(&s, 1, 0x1000));
	ck_assert_uint_eq(s.hot[0], 1); /* >= 1 */
	ck_assert_uint_eq(s.hot[1], 1); /* >= 2 */
	ck_assert_uint_eq(s.hot[2], 1); /* >= 4 */
	ck_assert_uint_eq(s.hot[3], 0); /* >= 8 */
	ck_assert_int_eq(probe_pageset_written(&s, PROBE_MAX_PROCS, 0x1000, 1, NULL), -EINVAL);
	probe_pageset_free(&s);
}
END_TEST

START_TEST(grows_and_finds_everything)
{
	struct probe_pageset s = { 0 };
	const uint64_t base = 0x7f0000000000ULL;

	for (uint64_t i = 0; i < 100000; i++)
		written(&s, (unsigned)(i % 3), base + i * PG, 1);
	ck_assert_uint_eq(s.n, 100000);
	ck_assert_uint_eq(s.hot[0], 100000);
	for (uint64_t i = 0; i < 100000; i++) {
		const struct probe_page *p = probe_pageset_get(&s, (unsigned)(i % 3), base + i * PG);

		ck_assert_ptr_nonnull(p);
		ck_assert_uint_eq(probe_page_addr(p->key), base + i * PG);
		ck_assert_uint_eq(probe_page_proc(p->key), i % 3);
	}
	probe_pageset_free(&s);
}
END_TEST

/* Pages per proc/address with their round counts, and the ranges expected. */
START_TEST(ranges_merge_equal_neighbours_hottest_first)
{
	struct probe_pageset s = { 0 };
	struct probe_hot_range *r;
	size_t n;

	for (uint32_t round = 1; round <= 3; round++) {
		written(&s, 0, 0x10000, round);
		written(&s, 0, 0x11000, round);
		if (round <= 2)
			written(&s, 0, 0x12000, round);
	}
	for (uint32_t round = 1; round <= 5; round++)
		written(&s, 1, 0x10000, round);
	written(&s, 0, 0x20000, 1);
	ck_assert_int_eq(probe_pageset_faults(&s, 0, 0x30000, 7), 0); /* BPF only: not in the map */
	ck_assert_int_eq(probe_pageset_faults(&s, 0, 0x10000, 2), 0);
	ck_assert_int_eq(probe_pageset_ranges(&s, &r, &n), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert(r[0].proc == 1 && r[0].start == 0x10000 && r[0].end == 0x11000 && r[0].writes == 5);
	ck_assert(r[1].proc == 0 && r[1].start == 0x10000 && r[1].end == 0x12000 && r[1].writes == 3);
	ck_assert_uint_eq(r[1].faults, 2);
	ck_assert(r[2].proc == 0 && r[2].start == 0x12000 && r[2].end == 0x13000 && r[2].writes == 2);
	ck_assert(r[3].proc == 0 && r[3].start == 0x20000 && r[3].end == 0x21000 && r[3].writes == 1);
	free(r);
	probe_pageset_free(&s);
}
END_TEST

START_TEST(map_reads_back_with_lazy_pages_parser)
{
	struct probe_pageset s = { 0 };
	struct probe_hot_range *r;
	struct uffd_hotmap m;
	const pid_t vpid[] = { 1, 42 };
	char *buf = NULL;
	size_t n, len = 0;
	FILE *f = open_memstream(&buf, &len);

	for (uint32_t round = 1; round <= 4; round++)
		for (uint64_t a = 0x7f12a4000000ULL; a < 0x7f12a4010000ULL; a += PG)
			written(&s, round & 1, a, round);
	written(&s, 1, 0x1000, 1);
	ck_assert_int_eq(probe_pageset_ranges(&s, &r, &n), 0);
	ck_assert_int_eq(probe_hotmap_print(f, r, n, vpid), 0);
	fclose(f);
	ck_assert_int_eq(strncmp(buf, "# faultline-hotness 1\n# vpid start end writes\n", 46), 0);
	ck_assert_int_eq(uffd_hotmap_parse(buf, len, &m), 0);
	ck_assert_uint_eq(m.n, n);
	ck_assert_uint_eq(m.n, 3);
	ck_assert(m.v[0].vpid == 1 && m.v[0].start == 0x7f12a4000000ULL && m.v[0].end == 0x7f12a4010000ULL);
	ck_assert_uint_eq(m.v[0].writes, 2);
	ck_assert(m.v[1].vpid == 42 && m.v[1].writes == 2);
	ck_assert(m.v[2].vpid == 42 && m.v[2].start == 0x1000 && m.v[2].writes == 1);
	uffd_hotmap_free(&m);
	free(buf);
	free(r);
	probe_pageset_free(&s);
}
END_TEST

START_TEST(range_set_normalizes)
{
	struct probe_ranges r = { 0 };

	ck_assert_int_eq(probe_ranges_add(&r, 0x5000, 0x6000), 0);
	ck_assert_int_eq(probe_ranges_add(&r, 0x6000, 0x8000), 0); /* touches: merged */
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(probe_ranges_add(&r, 0x1000, 0x3000), 0);
	ck_assert_int_eq(probe_ranges_add(&r, 0x2000, 0x5000), 0);
	ck_assert_int_eq(probe_ranges_add(&r, 0xa000, 0xb000), 0);
	probe_ranges_normalize(&r);
	ck_assert_uint_eq(r.n, 2);
	ck_assert(r.v[0].start == 0x1000 && r.v[0].end == 0x8000);
	ck_assert(r.v[1].start == 0xa000 && r.v[1].end == 0xb000);
	probe_ranges_free(&r);
}
END_TEST

Suite *probe_pageset_suite(void)
{
	Suite *s = suite_create("probe_pageset");
	TCase *tc = tcase_create("pageset");

	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, counts_each_round_once);
	tcase_add_test(tc, grows_and_finds_everything);
	tcase_add_test(tc, ranges_merge_equal_neighbours_hottest_first);
	tcase_add_test(tc, map_reads_back_with_lazy_pages_parser);
	tcase_add_test(tc, range_set_normalizes);
	suite_add_tcase(s, tc);
	return s;
}
#endif
