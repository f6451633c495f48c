/* SPDX-License-Identifier: MIT */
/* The images/ suite: CRIU image framing, parsers, range lookup, directory. */
#include "tests/unit/suites.h"
#include "tests/unit/test_img.h"

Suite *img_suite(void)
{
	static TCase *(*const cases[])(void) = {
		img_tcase_frame, img_tcase_pagemap, img_tcase_lookup,
		img_tcase_objs,  img_tcase_dir,
	};
	Suite *s = suite_create("img");

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = cases[i]();

		tcase_set_timeout(tc, 10);
		suite_add_tcase(s, tc);
	}
	return s;
}
