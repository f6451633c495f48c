/* SPDX-License-Identifier: MIT */
/* TLS test helpers: PKI fixtures and an in-memory server/client pair. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <check.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "tests/unit/helpers.h"
#include "tests/unit/tls_pair.h"
#include "transport/pki.h"

void t_tls_pki(char dir[64])
{
	struct xport_pki_req req = { 0 };
	char msg[256];
	int ret;

	t_mkdtemp(dir);
	req.dir = dir;
	ret = xport_pki_init(&req, msg, sizeof(msg));
	ck_assert_msg(ret == 0, "pki_init %s: %d %s", dir, ret, msg);
}

static void write_pem(const char *dir, const char *name, EVP_PKEY *key, X509 *x)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	t_die_if(!f);
	ck_assert(key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)
		      : PEM_write_X509(f, x));
	fclose(f);
}

void t_tls_selfsigned(const char *dir)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	X509_NAME *name = X509_get_subject_name(x);
	X509_EXTENSION *ext;
	X509V3_CTX v3;

	ck_assert(key && x);
	ck_assert(X509_set_version(x, X509_VERSION_3));
	ck_assert(ASN1_INTEGER_set(X509_get_serialNumber(x), 7));
	ck_assert(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					     (const unsigned char *)"self-signed leaf", -1, -1, 0));
	ck_assert(X509_set_issuer_name(x, name));
	ck_assert(X509_gmtime_adj(X509_getm_notBefore(x), -60));
	ck_assert(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	ck_assert(X509_set_pubkey(x, key));
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage, "critical,digitalSignature");
	ck_assert(ext && X509_add_ext(x, ext, -1));
	X509_EXTENSION_free(ext);
	ck_assert(X509_sign(x, key, EVP_sha256()) > 0);
	write_pem(dir, "self.pem", NULL, x);
	write_pem(dir, "self.key", key, NULL);
	X509_free(x);
	EVP_PKEY_free(key);
}

SSL_CTX *t_tls_ctx(enum xport_tls_role role, const char *ca_dir, const char *cert_dir,
		   const char *who, const char *name, int no_cn)
{
	char ca[128], cert[128], key[128], msg[512];
	struct xport_tls_cfg cfg = { .cacert = ca, .cert = cert, .key = key,
				     .verify_name = name, .no_cn_verify = no_cn };
	SSL_CTX *ctx;
	int err = 0;

	snprintf(ca, sizeof(ca), "%s/%s.pem", ca_dir, strcmp(who, "self") ? "ca" : "self");
	snprintf(cert, sizeof(cert), "%s/%s.pem", cert_dir, who);
	snprintf(key, sizeof(key), "%s/%s.key", cert_dir, who);
	ctx = xport_tls_ctx_new(role, &cfg, &err, msg, sizeof(msg));
	ck_assert_msg(ctx && !err, "tls_ctx_new(%s): %d %s", who, err, msg);
	return ctx;
}

SSL_CTX *t_tls_ctx_nocert(const char *ca_dir)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char ca[128];

	snprintf(ca, sizeof(ca), "%s/ca.pem", ca_dir);
	ck_assert(ctx && SSL_CTX_load_verify_file(ctx, ca) == 1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

void t_tls_pair_open(struct t_tls_pair *p, SSL_CTX *sctx, SSL_CTX *cctx)
{
	BIO *bs, *bc;

	*p = (struct t_tls_pair){ .srv = SSL_new(sctx), .cli = SSL_new(cctx) };
	ck_assert(p->srv && p->cli);
	ck_assert(BIO_new_bio_pair(&bs, 0, &bc, 0) == 1);
	SSL_set_bio(p->srv, bs, bs);
	SSL_set_bio(p->cli, bc, bc);
	SSL_set_accept_state(p->srv);
	SSL_set_connect_state(p->cli);
}

/* Errors are read right after each call: the error queue is per thread and
 * both ends share this one. */
static void step_one(SSL *ssl, int *st, char *err, size_t len)
{
	int rc, e;

	if (*st)
		return;
	rc = SSL_do_handshake(ssl);
	if (rc == 1) {
		*st = 1;
		return;
	}
	e = SSL_get_error(ssl, rc);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return;
	*st = -1;
	xport_tls_strerror(ssl, err, len);
}

int t_tls_pair_step(struct t_tls_pair *p)
{
	step_one(p->cli, &p->cli_st, p->cli_err, sizeof(p->cli_err));
	step_one(p->srv, &p->srv_st, p->srv_err, sizeof(p->srv_err));
	return p->cli_st && p->srv_st;
}

void t_tls_handshake(struct t_tls_pair *p)
{
	for (int i = 0; i < 32 && !t_tls_pair_step(p); i++)
		;
}

void t_tls_echo(struct t_tls_pair *p, const char *text)
{
	char buf[128];
	int n = (int)strlen(text), r;

	ck_assert_int_eq(SSL_write(p->cli, text, n), n);
	r = SSL_read(p->srv, buf, sizeof(buf) - 1);
	ck_assert_int_eq(r, n);
	buf[r] = '\0';
	ck_assert_str_eq(buf, text);
}

const char *t_tls_cli_read_err(struct t_tls_pair *p)
{
	char buf[16];

	ck_assert_int_le(SSL_read(p->cli, buf, sizeof(buf)), 0);
	return xport_tls_strerror(p->cli, p->cli_err, sizeof(p->cli_err));
}

void t_tls_pair_close(struct t_tls_pair *p)
{
	SSL_free(p->srv);
	SSL_free(p->cli);
	ERR_clear_error();
}
