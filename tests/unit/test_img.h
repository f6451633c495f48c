/* SPDX-License-Identifier: MIT */
/* The images/ suite's test cases, one TCase per feature group. */
#ifndef FL_TEST_IMG_H
#define FL_TEST_IMG_H

#include <check.h>

TCase *img_tcase_frame(void);
TCase *img_tcase_pagemap(void);
TCase *img_tcase_lookup(void);
TCase *img_tcase_objs(void);
TCase *img_tcase_dir(void);

#endif
