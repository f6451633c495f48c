/* SPDX-License-Identifier: MIT */
/* Unit-test runner: every module's Check suite in one SRunner.
 * CK_RUN_SUITE / CK_RUN_CASE select suites and cases (Check reads them);
 * CK_FORK stays on, so a crash or a timeout fails one test, not the run. */
#include <stdlib.h>

#include <check.h>

#include "tests/unit/suites.h"

int main(void)
{
	static Suite *(*const suites[])(void) = {
		/* --- suite list: append one line per module --- */
		img_suite,
		proto_suite,
		tls_suite,
		pki_suite,
		pageserver_suite,
		ranges_suite,
		hotness_suite,
		probe_pageset_suite,
		probe_procfs_suite,
		probe_compat_suite,
		policy_suite,
		precopy_suite,
		ps_live_suite,
		/* --- end of suite list --- */
	};
	SRunner *sr = srunner_create(NULL);
	int failed;

	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		srunner_add_suite(sr, suites[i]());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
