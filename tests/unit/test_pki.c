/* SPDX-License-Identifier: MIT */
/* transport/pki.c and `faultline pki`: the files, what the certificates
 * carry, refusal to overwrite, bad input, and the CLI's exit codes. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cli/cli.h"
#include "tests/unit/helpers.h"
#include "tests/unit/suites.h"
#include "transport/pki.h"

static const char *const req_ips[] = { "192.0.2.7", "2001:db8::5", "127.0.0.1" };
static const char *const req_dns[] = { "dst.example.org" };

static int pki_in(const char *dir, int force, char *msg, size_t len)
{
	struct xport_pki_req req = { .dir = dir, .ips = req_ips, .nr_ips = 3,
				     .dns = req_dns, .nr_dns = 1, .days = 30, .force = force };

	return xport_pki_init(&req, msg, len);
}

static X509 *load_cert(const char *dir, const char *name)
{
	char path[128];
	X509 *x;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	t_die_if(!f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	ck_assert_ptr_nonnull(x);
	return x;
}

static mode_t mode_of(const char *dir, const char *name)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	t_die_if(stat(path, &st));
	return st.st_mode & 07777;
}

START_TEST(test_files_and_modes)
{
	static const char *const names[] = { "ca.pem", "ca.key", "server.pem",
					     "server.key", "client.pem", "client.key" };
	char base[64], dir[80], msg[256];

	t_mkdtemp(base);
	snprintf(dir, sizeof(dir), "%s/pki", base);
	ck_assert_msg(pki_in(dir, 0, msg, sizeof(msg)) == 0, "%s", msg);
	ck_assert_uint_eq(mode_of(base, "pki"), 0700);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strstr(names[i], ".key"))
			ck_assert_uint_eq(mode_of(dir, names[i]), 0600);
	t_rmdir_all(dir);
	t_rmdir_all(base);
}
END_TEST

static void check_leaf(X509 *leaf, X509 *ca, const char *cn)
{
	static const char *const ips[] = { "127.0.0.1", "::1", "192.0.2.7", "2001:db8::5" };
	char got[64];
	time_t t;

	ck_assert_int_ge(X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName,
						   got, sizeof(got)), 0);
	ck_assert_str_eq(got, cn);
	for (size_t i = 0; i < sizeof(ips) / sizeof(ips[0]); i++)
		ck_assert_msg(X509_check_ip_asc(leaf, ips[i], 0) == 1, "%s lacks %s", cn, ips[i]);
	ck_assert_int_eq(X509_check_host(leaf, "localhost", 0, 0, NULL), 1);
	ck_assert_int_eq(X509_check_host(leaf, "dst.example.org", 0, 0, NULL), 1);
	ck_assert_int_eq(X509_check_ip_asc(leaf, "10.9.9.9", 0), 0);
	/* Both EKUs on both leaves: CRIU's name check runs on both ends. */
	ck_assert_int_eq(X509_check_purpose(leaf, X509_PURPOSE_SSL_SERVER, 0), 1);
	ck_assert_int_eq(X509_check_purpose(leaf, X509_PURPOSE_SSL_CLIENT, 0), 1);
	ck_assert_int_eq(X509_check_ca(leaf), 0);
	ck_assert_int_eq(X509_check_issued(ca, leaf), X509_V_OK);
	ck_assert_int_eq(X509_get_signature_nid(leaf), NID_ecdsa_with_SHA256);
	t = time(NULL) + 29 * 86400;
	ck_assert_int_eq(X509_cmp_time(X509_get0_notAfter(leaf), &t), 1);
	t = time(NULL) + 31 * 86400;
	ck_assert_int_eq(X509_cmp_time(X509_get0_notAfter(leaf), &t), -1);
	t = time(NULL) - 1800;
	ck_assert_int_eq(X509_cmp_time(X509_get0_notBefore(leaf), &t), -1);
}

START_TEST(test_cert_contents)
{
	char dir[64], msg[256];
	X509 *ca, *srv, *cli;

	t_mkdtemp(dir);
	ck_assert_msg(pki_in(dir, 0, msg, sizeof(msg)) == 0, "%s", msg);
	ca = load_cert(dir, "ca.pem");
	srv = load_cert(dir, "server.pem");
	cli = load_cert(dir, "client.pem");
	ck_assert_int_eq(X509_check_ca(ca), 1);
	ck_assert_int_eq(X509_check_issued(ca, ca), X509_V_OK);
	check_leaf(srv, ca, "faultline-server");
	check_leaf(cli, ca, "faultline-client");
	ck_assert_int_ne(ASN1_INTEGER_cmp(X509_get0_serialNumber(srv),
					  X509_get0_serialNumber(cli)), 0);
	ck_assert_int_eq(ASN1_STRING_length(X509_get0_serialNumber(srv)), 16);
	X509_free(ca);
	X509_free(srv);
	X509_free(cli);
	t_rmdir_all(dir);
}
END_TEST

START_TEST(test_refuses_overwrite)
{
	char dir[64], path[128], msg[256];
	X509 *before, *after;

	t_mkdtemp(dir);
	ck_assert_msg(pki_in(dir, 0, msg, sizeof(msg)) == 0, "%s", msg);
	before = load_cert(dir, "server.pem");
	ck_assert_int_eq(pki_in(dir, 0, msg, sizeof(msg)), -EEXIST);
	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	ck_assert_msg(strstr(msg, path), "\"%s\" does not name %s", msg, path);
	after = load_cert(dir, "server.pem");
	ck_assert_int_eq(X509_cmp(before, after), 0);
	X509_free(after);
	/* One leftover file is enough to refuse. */
	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	t_die_if(unlink(path));
	ck_assert_int_eq(pki_in(dir, 0, msg, sizeof(msg)), -EEXIST);
	ck_assert_ptr_nonnull(strstr(msg, "ca.key"));
	ck_assert_msg(pki_in(dir, 1, msg, sizeof(msg)) == 0, "%s", msg);
	after = load_cert(dir, "server.pem");
	ck_assert_int_ne(X509_cmp(before, after), 0);
	ck_assert_uint_eq(mode_of(dir, "server.key"), 0600);
	X509_free(before);
	X509_free(after);
	t_rmdir_all(dir);
}
END_TEST

START_TEST(test_bad_input)
{
	static const char *const bad_ip[] = { "1.2.3" }, *const bad_dns[] = { "a b.example" };
	struct xport_pki_req req = { .dir = "/tmp/fl-unit-never-created" };
	char msg[256];

	req.ips = bad_ip, req.nr_ips = 1;
	ck_assert_int_eq(xport_pki_init(&req, msg, sizeof(msg)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(msg, "'1.2.3'"));
	req.nr_ips = 0, req.dns = bad_dns, req.nr_dns = 1;
	ck_assert_int_eq(xport_pki_init(&req, msg, sizeof(msg)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(msg, "'a b.example'"));
	req.nr_dns = 0, req.days = 40000;
	ck_assert_int_eq(xport_pki_init(&req, msg, sizeof(msg)), -EINVAL);
	ck_assert_int_ne(access(req.dir, F_OK), 0);
}
END_TEST

/* Runs `faultline pki ARGS...` with stdout and stderr sent to /dev/null. */
static int run_cli(int argc, const char **argv)
{
	int out = dup(1), err = dup(2), null = open("/dev/null", O_WRONLY), rc;

	t_die_if(out < 0 || err < 0 || null < 0);
	fflush(stdout);
	fflush(stderr);
	dup2(null, 1);
	dup2(null, 2);
	rc = cli_pki_main(argc, (char **)argv);
	fflush(stdout);
	fflush(stderr);
	dup2(out, 1);
	dup2(err, 2);
	close(out), close(err), close(null);
	return rc;
}

START_TEST(test_cli_exit_codes)
{
	char dir[64];

	t_mkdtemp(dir);
	ck_assert_int_eq(run_cli(2, (const char *[]){ "pki", "--help", NULL }), 0);
	ck_assert_int_eq(run_cli(1, (const char *[]){ "pki", NULL }), 2);
	ck_assert_int_eq(run_cli(2, (const char *[]){ "pki", "init", NULL }), 2);
	ck_assert_int_eq(run_cli(3, (const char *[]){ "pki", "make", dir, NULL }), 2);
	ck_assert_int_eq(run_cli(4, (const char *[]){ "pki", "init", dir, "--days=0", NULL }), 2);
	ck_assert_int_eq(run_cli(5, (const char *[]){ "pki", "init", dir, "--ip", "1.2.3", NULL }), 2);
	ck_assert_int_eq(run_cli(4, (const char *[]){ "pki", "init", dir, "--bogus", NULL }), 2);
	ck_assert_int_eq(run_cli(7, (const char *[]){ "pki", "--ip", "192.0.2.1", "init", dir,
						      "--dns", "a.example", NULL }), 0);
	ck_assert_int_eq(run_cli(3, (const char *[]){ "pki", "init", dir, NULL }), 1);
	ck_assert_int_eq(run_cli(4, (const char *[]){ "pki", "init", dir, "--force", NULL }), 0);
	t_rmdir_all(dir);
}
END_TEST

Suite *pki_suite(void)
{
	Suite *s = suite_create("pki");
	TCase *tc = tcase_create("init");

	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_files_and_modes);
	tcase_add_test(tc, test_cert_contents);
	tcase_add_test(tc, test_refuses_overwrite);
	tcase_add_test(tc, test_bad_input);
	tcase_add_test(tc, test_cli_exit_codes);
	suite_add_tcase(s, tc);
	return s;
}
