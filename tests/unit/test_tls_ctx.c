/* SPDX-License-Identifier: MIT */
/* xport_tls_ctx_new's failures: missing files, a key that does not match its
 * certificate, a file that is not PEM; each message names the file. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "tests/unit/helpers.h"
#include "tests/unit/test_tls.h"
#include "tests/unit/tls_pair.h"

static char dir_a[64];

static void pki_setup(void)
{
	t_tls_pki(dir_a);
}

static void pki_teardown(void)
{
	t_rmdir_all(dir_a);
}

static const struct ctx_case {
	const char *ca, *cert, *key; /* file names in dir_a */
	int err;
	const char *want; /* expected in the message; each %s is dir_a */
} ctx_cases[] = {
	{ "ca.pem", "nope.pem", "server.key", -ENOENT,
	  "tls-cert %s/nope.pem: No such file or directory" },
	{ "ca.pem", "server.pem", "nope.key", -ENOENT,
	  "tls-key %s/nope.key: No such file or directory" },
	{ "nope.pem", "server.pem", "server.key", -ENOENT,
	  "tls-cacert %s/nope.pem: No such file or directory" },
	{ "ca.pem", "server.pem", "client.key", -EINVAL,
	  "tls-key %s/client.key does not match certificate %s/server.pem" },
	{ "ca.pem", "server.key", "server.key", -EINVAL, "tls-cert %s/server.key: " },
	{ "server.key", "server.pem", "server.key", -EINVAL, "tls-cacert %s/server.key" },
};

START_TEST(test_ctx_error)
{
	const struct ctx_case *c = &ctx_cases[_i];
	char ca[128], cert[128], key[128], msg[512], want[256];
	struct xport_tls_cfg cfg = { .cacert = ca, .cert = cert, .key = key };
	SSL_CTX *ctx;
	int err = 0;

	snprintf(ca, sizeof(ca), "%s/%s", dir_a, c->ca);
	snprintf(cert, sizeof(cert), "%s/%s", dir_a, c->cert);
	snprintf(key, sizeof(key), "%s/%s", dir_a, c->key);
	for (int role = XPORT_TLS_SERVER; role <= XPORT_TLS_CLIENT; role++) {
		ctx = xport_tls_ctx_new(role, &cfg, &err, msg, sizeof(msg));
		ck_assert_ptr_null(ctx);
		ck_assert_msg(err == c->err, "%d != %d: %s", err, c->err, msg);
		snprintf(want, sizeof(want), c->want, dir_a, dir_a);
		ck_assert_msg(strstr(msg, want), "\"%s\" lacks \"%s\"", msg, want);
	}
}
END_TEST

START_TEST(test_ctx_missing_paths)
{
	struct xport_tls_cfg cfg = { .cacert = "/x/ca.pem", .cert = "/x/c.pem" };
	char msg[256];
	int err = 0;

	ck_assert_ptr_null(xport_tls_ctx_new(XPORT_TLS_CLIENT, &cfg, &err, msg, sizeof(msg)));
	ck_assert_int_eq(err, -EINVAL);
	ck_assert_ptr_nonnull(strstr(msg, "required"));
}
END_TEST

START_TEST(test_ctx_ok_clears_err)
{
	char ca[128], cert[128], key[128], msg[256] = "";
	struct xport_tls_cfg cfg = { .cacert = ca, .cert = cert, .key = key,
				     .verify_name = "::1" };
	SSL_CTX *ctx;
	int err = -1;

	snprintf(ca, sizeof(ca), "%s/ca.pem", dir_a);
	snprintf(cert, sizeof(cert), "%s/server.pem", dir_a);
	snprintf(key, sizeof(key), "%s/server.key", dir_a);
	ctx = xport_tls_ctx_new(XPORT_TLS_SERVER, &cfg, &err, msg, sizeof(msg));
	ck_assert_msg(ctx && err == 0, "%d %s", err, msg);
	ck_assert_int_eq(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
	ck_assert_int_eq(SSL_CTX_get_verify_mode(ctx),
			 SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
	ck_assert_uint_eq(SSL_CTX_get_num_tickets(ctx), 0);
	SSL_CTX_free(ctx);
}
END_TEST

TCase *tls_tcase_ctx(void)
{
	TCase *tc = tcase_create("ctx");

	tcase_add_unchecked_fixture(tc, pki_setup, pki_teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_ctx_error, 0, sizeof(ctx_cases) / sizeof(ctx_cases[0]));
	tcase_add_test(tc, test_ctx_missing_paths);
	tcase_add_test(tc, test_ctx_ok_clears_err);
	return tc;
}
