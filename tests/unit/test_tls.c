/* SPDX-License-Identifier: MIT */
/* transport/tls.c: contexts, mutual authentication, name checks and error
 * messages, over in-memory server/client pairs in one process. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "tests/unit/helpers.h"
#include "tests/unit/suites.h"
#include "tests/unit/test_tls.h"
#include "tests/unit/tls_pair.h"

/* Two PKI directories made once per TCase: dir_a is the trusted one, dir_b
 * a foreign CA; dir_a also holds a self-signed leaf. */
static char dir_a[64], dir_b[64];

static void pki_setup(void)
{
	t_tls_pki(dir_a);
	t_tls_pki(dir_b);
	t_tls_selfsigned(dir_a);
}

static void pki_teardown(void)
{
	t_rmdir_all(dir_a);
	t_rmdir_all(dir_b);
}

#define assert_has(s, sub) ck_assert_msg(strstr((s), (sub)), "\"%s\" lacks \"%s\"", (s), (sub))

/* Two connections from the same contexts, handshakes interleaved: each SSL
 * keeps its own state (unlike CRIU's single static session). */
START_TEST(test_two_connections)
{
	SSL_CTX *sctx = t_tls_ctx(XPORT_TLS_SERVER, dir_a, dir_a, "server", "127.0.0.1", 0);
	SSL_CTX *cctx = t_tls_ctx(XPORT_TLS_CLIENT, dir_a, dir_a, "client", "127.0.0.1", 0);
	struct t_tls_pair p1, p2;
	char d[256];

	t_tls_pair_open(&p1, sctx, cctx);
	t_tls_pair_open(&p2, sctx, cctx);
	for (int i = 0; i < 32; i++) {
		int done1 = t_tls_pair_step(&p1), done2 = t_tls_pair_step(&p2);

		if (done1 && done2)
			break;
	}
	ck_assert_msg(p1.srv_st == 1 && p1.cli_st == 1, "%s / %s", p1.srv_err, p1.cli_err);
	ck_assert_msg(p2.srv_st == 1 && p2.cli_st == 1, "%s / %s", p2.srv_err, p2.cli_err);
	xport_tls_describe(p1.srv, d, sizeof(d));
	ck_assert_str_eq(d, "TLSv1.3 TLS_AES_128_GCM_SHA256 peer CN=faultline-client");
	xport_tls_describe(p2.cli, d, sizeof(d));
	ck_assert_str_eq(d, "TLSv1.3 TLS_AES_128_GCM_SHA256 peer CN=faultline-server");
	t_tls_echo(&p2, "second");
	t_tls_echo(&p1, "first");
	t_tls_pair_close(&p1);
	t_tls_pair_close(&p2);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}
END_TEST

START_TEST(test_client_without_cert)
{
	SSL_CTX *sctx = t_tls_ctx(XPORT_TLS_SERVER, dir_a, dir_a, "server", NULL, 0);
	SSL_CTX *cctx = t_tls_ctx_nocert(dir_a);
	struct t_tls_pair p;

	t_tls_pair_open(&p, sctx, cctx);
	t_tls_handshake(&p);
	ck_assert_int_eq(p.srv_st, -1);
	assert_has(p.srv_err, "peer did not return a certificate");
	assert_has(t_tls_cli_read_err(&p), "alert certificate required");
	t_tls_pair_close(&p);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}
END_TEST

START_TEST(test_client_cert_from_other_ca)
{
	SSL_CTX *sctx = t_tls_ctx(XPORT_TLS_SERVER, dir_a, dir_a, "server", NULL, 0);
	SSL_CTX *cctx = t_tls_ctx(XPORT_TLS_CLIENT, dir_a, dir_b, "client", NULL, 0);
	struct t_tls_pair p;

	t_tls_pair_open(&p, sctx, cctx);
	t_tls_handshake(&p);
	ck_assert_int_eq(p.srv_st, -1);
	ck_assert_str_eq(p.srv_err, "peer certificate rejected: certificate verify failed "
				    "(unable to get local issuer certificate)");
	assert_has(t_tls_cli_read_err(&p), "alert unknown ca");
	t_tls_pair_close(&p);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}
END_TEST

static const struct name_case {
	enum xport_tls_role checker; /* the side whose context checks the name */
	const char *name;
	int no_cn, ok;
	const char *why; /* expected in the checker's error */
} name_cases[] = {
	{ XPORT_TLS_CLIENT, "127.0.0.1", 0, 1, NULL },
	{ XPORT_TLS_CLIENT, "::1", 0, 1, NULL },
	{ XPORT_TLS_CLIENT, "localhost", 0, 1, NULL },
	{ XPORT_TLS_CLIENT, "10.9.9.9", 0, 0, "(IP address mismatch)" },
	{ XPORT_TLS_CLIENT, "other.example", 0, 0, "(hostname mismatch)" },
	{ XPORT_TLS_CLIENT, "10.9.9.9", 1, 1, NULL },
	/* CRIU's server checks the client's certificate against its own address. */
	{ XPORT_TLS_SERVER, "127.0.0.1", 0, 1, NULL },
	{ XPORT_TLS_SERVER, "10.9.9.9", 0, 0, "(IP address mismatch)" },
	{ XPORT_TLS_SERVER, "10.9.9.9", 1, 1, NULL },
};

START_TEST(test_name_check)
{
	const struct name_case *c = &name_cases[_i];
	int srv_chk = c->checker == XPORT_TLS_SERVER;
	SSL_CTX *sctx = t_tls_ctx(XPORT_TLS_SERVER, dir_a, dir_a, "server",
				  srv_chk ? c->name : NULL, c->no_cn);
	SSL_CTX *cctx = t_tls_ctx(XPORT_TLS_CLIENT, dir_a, dir_a, "client",
				  srv_chk ? NULL : c->name, c->no_cn);
	struct t_tls_pair p;

	t_tls_pair_open(&p, sctx, cctx);
	t_tls_handshake(&p);
	if (c->ok) {
		ck_assert_msg(p.srv_st == 1 && p.cli_st == 1, "%s: %s / %s", c->name, p.srv_err,
			      p.cli_err);
	} else {
		ck_assert_int_eq((srv_chk ? p.srv_st : p.cli_st), -1);
		assert_has(srv_chk ? p.srv_err : p.cli_err, c->why);
	}
	t_tls_pair_close(&p);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}
END_TEST

START_TEST(test_tls12_client)
{
	SSL_CTX *sctx = t_tls_ctx(XPORT_TLS_SERVER, dir_a, dir_a, "server", "127.0.0.1", 0);
	SSL_CTX *cctx = t_tls_ctx(XPORT_TLS_CLIENT, dir_a, dir_a, "client", "127.0.0.1", 0);
	struct t_tls_pair p;
	char d[256];

	ck_assert(SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION));
	t_tls_pair_open(&p, sctx, cctx);
	t_tls_handshake(&p);
	ck_assert_msg(p.srv_st == 1 && p.cli_st == 1, "%s / %s", p.srv_err, p.cli_err);
	ck_assert_str_eq(xport_tls_describe(p.srv, d, sizeof(d)),
			 "TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256 peer CN=faultline-client");
	t_tls_echo(&p, "over 1.2");
	t_tls_pair_close(&p);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}
END_TEST

/* A self-signed leaf listed as its own CA, on both ends (CRIU accepts it). */
START_TEST(test_self_signed_leaf)
{
	SSL_CTX *sctx = t_tls_ctx(XPORT_TLS_SERVER, dir_a, dir_a, "self", NULL, 0);
	SSL_CTX *cctx = t_tls_ctx(XPORT_TLS_CLIENT, dir_a, dir_a, "self", NULL, 0);
	struct t_tls_pair p;
	char d[256];

	t_tls_pair_open(&p, sctx, cctx);
	t_tls_handshake(&p);
	ck_assert_msg(p.srv_st == 1 && p.cli_st == 1, "%s / %s", p.srv_err, p.cli_err);
	assert_has(xport_tls_describe(p.cli, d, sizeof(d)), "peer CN=self-signed leaf");
	t_tls_pair_close(&p);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}
END_TEST

/* The CA file holds only the server's leaf (pinning): as with GnuTLS, any
 * certificate in that file is a trust anchor, CA or not. */
START_TEST(test_pinned_leaf)
{
	char ca[128], cert[128], key[128], msg[512];
	struct xport_tls_cfg cfg = { .cacert = ca, .cert = cert, .key = key,
				     .verify_name = "127.0.0.1" };
	SSL_CTX *sctx = t_tls_ctx(XPORT_TLS_SERVER, dir_a, dir_a, "server", NULL, 0);
	SSL_CTX *cctx;
	struct t_tls_pair p;
	int err;

	snprintf(ca, sizeof(ca), "%s/server.pem", dir_a);
	snprintf(cert, sizeof(cert), "%s/client.pem", dir_a);
	snprintf(key, sizeof(key), "%s/client.key", dir_a);
	cctx = xport_tls_ctx_new(XPORT_TLS_CLIENT, &cfg, &err, msg, sizeof(msg));
	ck_assert_msg(cctx, "%s", msg);
	t_tls_pair_open(&p, sctx, cctx);
	t_tls_handshake(&p);
	ck_assert_msg(p.srv_st == 1 && p.cli_st == 1, "%s / %s", p.srv_err, p.cli_err);
	t_tls_pair_close(&p);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}
END_TEST

Suite *tls_suite(void)
{
	Suite *s = suite_create("tls");
	TCase *hs = tcase_create("handshake");

	tcase_add_unchecked_fixture(hs, pki_setup, pki_teardown);
	tcase_set_timeout(hs, 20);
	tcase_add_test(hs, test_two_connections);
	tcase_add_test(hs, test_client_without_cert);
	tcase_add_test(hs, test_client_cert_from_other_ca);
	tcase_add_loop_test(hs, test_name_check, 0, sizeof(name_cases) / sizeof(name_cases[0]));
	tcase_add_test(hs, test_tls12_client);
	tcase_add_test(hs, test_self_signed_leaf);
	tcase_add_test(hs, test_pinned_leaf);
	suite_add_tcase(s, hs);
	suite_add_tcase(s, tls_tcase_ctx());
	return s;
}
