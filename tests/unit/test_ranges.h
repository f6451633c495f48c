/* SPDX-License-Identifier: MIT */
/* The uffd ranges suite: its test cases and shared expectations. */
#ifndef FL_TEST_RANGES_H
#define FL_TEST_RANGES_H

#include <check.h>

#include "uffd/ranges.h"

/* Tables are written in page numbers. */
#define T_PG(x) ((uint64_t)(x) * IMG_PAGE_SIZE)
#define T_R(s, e, i) { T_PG(s), T_PG(e), T_PG(i) }
#define T_MAXR 8

/* An expected set: N ranges, sorted. */
struct t_rset {
	size_t n;
	struct uffd_range v[T_MAXR];
};

/* Fails unless R is sorted, disjoint, aligned and its pages count is exact. */
void t_ranges_check(const struct uffd_ranges *r);
/* Fails (naming WHAT) unless R holds exactly EXP. */
void t_ranges_expect(const struct uffd_ranges *r, const struct t_rset *exp, const char *what);
/* R (initialized) gets EXP's ranges added. */
void t_ranges_fill(struct uffd_ranges *r, const struct t_rset *s);

TCase *ranges_tcase_basic(void);
TCase *ranges_tcase_cut(void);
TCase *ranges_tcase_build(void);
TCase *ranges_tcase_remap(void);
TCase *ranges_tcase_prop(void);

#endif
