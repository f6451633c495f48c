/* SPDX-License-Identifier: MIT */
/* Shared by test_precopy.c and test_precopy_merge.c. */
#ifndef FL_TEST_PRECOPY_H
#define FL_TEST_PRECOPY_H

#include <check.h>

#include "images/precopy.h"
#include "tests/unit/helpers.h"

/* The sample stream of test_precopy.c (pid 7: 0x10000-0x13fff, 0x11000 sent
 * twice, 0x12000 invalidated; pid 9: 0x20000); WITH_END 0 leaves END out. */
void t_flpc_sample(struct t_buf *b, int with_end);
/* Runs img_pc_recv on B into STORE. */
int t_flpc_recv(const struct t_buf *b, const char *store, struct img_pc_recv_stats *st,
		struct img_err *err);
TCase *precopy_merge_tcase(void);

#endif
