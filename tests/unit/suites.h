/* SPDX-License-Identifier: MIT */
/* Suite constructors run by tests/unit/main.c: one Suite per module. */
#ifndef FL_TEST_SUITES_H
#define FL_TEST_SUITES_H

#include <check.h>

/* --- suite constructors: append one line per module --- */
Suite *img_suite(void);
Suite *proto_suite(void);
Suite *tls_suite(void);
Suite *pki_suite(void);
Suite *pageserver_suite(void);
Suite *ranges_suite(void);
Suite *hotness_suite(void);
Suite *probe_pageset_suite(void);
Suite *probe_procfs_suite(void);
Suite *probe_compat_suite(void);
Suite *policy_suite(void);
Suite *precopy_suite(void);
Suite *ps_live_suite(void);
/* --- end of suite constructors --- */

#endif
