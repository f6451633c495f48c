/* SPDX-License-Identifier: MIT */
/* TCases of the tls suite that live outside test_tls.c. */
#ifndef FL_TEST_TLS_H
#define FL_TEST_TLS_H

#include <check.h>

/* xport_tls_ctx_new's failures: each names the file at fault. */
TCase *tls_tcase_ctx(void);

#endif
