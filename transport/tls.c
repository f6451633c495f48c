/* SPDX-License-Identifier: MIT */
/* OpenSSL 3 contexts that interoperate with CRIU's GnuTLS --tls mode
 * (docs: criu-interop.md §1.7): mutual authentication, only the given CA
 * trusted, the peer's name checked against the page server's address. */
#include "transport/tls.h"
#include "transport/ossl_err.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* Formats "PREFIX: <OpenSSL reasons>" into MSG and returns the matching -errno. */
__attribute__((format(printf, 4, 5)))
static int ossl_fail(char *msg, size_t len, int dflt, const char *fmt, ...)
{
	char reasons[256];
	size_t used;
	va_list ap;
	int ret;

	ret = xport_ossl_errq(reasons, sizeof(reasons), dflt);
	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
	used = strnlen(msg, len);
	if (reasons[0] && used + 1 < len)
		snprintf(msg + used, len - used, ": %s", reasons);
	return ret;
}

/* An encrypted key must fail to load, not stop a daemon at a tty prompt. */
static int no_passphrase(char *buf, int size, int rwflag, void *userdata)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)userdata;
	return -1; /* OpenSSL convention: no passphrase */
}

static int setup_protocol(SSL_CTX *ctx, char *msg, size_t len)
{
	/* CRIU's GnuTLS "NORMAL" priority negotiates 1.3, or 1.2 on older peers. */
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION))
		return ossl_fail(msg, len, -EINVAL, "tls: cannot set minimum version TLS 1.2");
	/* Every migration is a fresh session: no tickets, no session cache
	 * (a cache without a session id context breaks client-cert resumption). */
	if (!SSL_CTX_set_num_tickets(ctx, 0))
		return ossl_fail(msg, len, -EINVAL, "tls: cannot disable session tickets");
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	/* Page data is bulk: AES-128-GCM is ~30% cheaper than AES-256-GCM on
	 * this CPU and still strong; both ends prefer it, either end may refuse. */
	if (!SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
					   "TLS_CHACHA20_POLY1305_SHA256") ||
	    !SSL_CTX_set_cipher_list(ctx, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
					   "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
					   "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"))
		return ossl_fail(msg, len, -EINVAL, "tls: cannot set the cipher suites");
	return 0;
}

/* "OPT PATH: reason" for a system error (ENOENT, EACCES...), else
 * "OPT PATH: WHAT (OpenSSL's reasons)". */
static int file_fail(char *msg, size_t len, const char *opt, const char *path, const char *what)
{
	char reasons[256];
	int ret = xport_ossl_errq(reasons, sizeof(reasons), -EINVAL);

	if (ret != -EINVAL)
		snprintf(msg, len, "%s %s: %s", opt, path, reasons);
	else
		snprintf(msg, len, "%s %s: %s (%s)", opt, path, what,
			 reasons[0] ? reasons : "no details");
	return ret;
}

static int load_identity(SSL_CTX *ctx, const struct xport_tls_cfg *cfg, char *msg, size_t len)
{
	unsigned long e;

	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert) != 1)
		return file_fail(msg, len, "tls-cert", cfg->cert, "no usable PEM certificate");
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->key, SSL_FILETYPE_PEM) != 1) {
		/* A key of the certificate's type that does not match fails here;
		 * one of another type fails in SSL_CTX_check_private_key below. */
		e = ERR_peek_last_error();
		if (ERR_GET_LIB(e) != ERR_LIB_X509 || ERR_GET_REASON(e) != X509_R_KEY_VALUES_MISMATCH)
			return file_fail(msg, len, "tls-key", cfg->key,
					 "no usable unencrypted PEM private key");
		goto mismatch;
	}
	if (SSL_CTX_check_private_key(ctx) != 1)
		goto mismatch;
	return 0;
mismatch:
	ERR_clear_error();
	snprintf(msg, len, "tls-key %s does not match certificate %s", cfg->key, cfg->cert);
	return -EINVAL;
}

static int load_trust(SSL_CTX *ctx, enum xport_tls_role role, const struct xport_tls_cfg *cfg,
		      char *msg, size_t len)
{
	X509_VERIFY_PARAM *param = SSL_CTX_get0_param(ctx);

	/* Only this file is trusted: no SSL_CTX_set_default_verify_paths(). */
	if (SSL_CTX_load_verify_file(ctx, cfg->cacert) != 1)
		return file_fail(msg, len, "tls-cacert", cfg->cacert, "no usable PEM CA certificate");
	/* As in GnuTLS, every certificate in the CA file is a trust anchor on its
	 * own: an intermediate CA or a self-signed leaf listed there is accepted. */
	X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
	if (role == XPORT_TLS_SERVER)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	else
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return 0;
}

static int is_ip_literal(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* CRIU checks the peer against the local --address on both ends (the server
 * checks the client's certificate against its own address), so both roles
 * set the same kind of expectation here. */
static int setup_name_check(SSL_CTX *ctx, const struct xport_tls_cfg *cfg, char *msg, size_t len)
{
	X509_VERIFY_PARAM *param = SSL_CTX_get0_param(ctx);
	const char *name = cfg->verify_name;
	int ok;

	if (!name || !name[0] || cfg->no_cn_verify)
		return 0;
	if (is_ip_literal(name))
		ok = X509_VERIFY_PARAM_set1_ip_asc(param, name);
	else
		ok = X509_VERIFY_PARAM_set1_host(param, name, 0);
	if (ok != 1)
		return ossl_fail(msg, len, -EINVAL, "tls: cannot check peer name '%s'", name);
	return 0;
}

SSL_CTX *xport_tls_ctx_new(enum xport_tls_role role, const struct xport_tls_cfg *cfg, int *err,
			   char *msg, size_t msglen)
{
	SSL_CTX *ctx;
	int ret;

	if (!cfg || !cfg->cacert || !cfg->cert || !cfg->key) {
		snprintf(msg, msglen, "tls: a CA file, a certificate and a key are all required");
		ret = -EINVAL;
		goto err_out;
	}
	ERR_clear_error();
	ctx = SSL_CTX_new(role == XPORT_TLS_SERVER ? TLS_server_method() : TLS_client_method());
	if (!ctx) {
		ret = ossl_fail(msg, msglen, -ENOMEM, "tls: cannot create context");
		goto err_out;
	}
	ret = setup_protocol(ctx, msg, msglen);
	if (!ret)
		ret = load_identity(ctx, cfg, msg, msglen);
	if (!ret)
		ret = load_trust(ctx, role, cfg, msg, msglen);
	if (!ret)
		ret = setup_name_check(ctx, cfg, msg, msglen);
	if (ret)
		goto err_free_ctx;
	*err = 0;
	return ctx;

err_free_ctx:
	SSL_CTX_free(ctx);
err_out:
	*err = ret;
	return NULL;
}

const char *xport_tls_strerror(SSL *ssl, char *msg, size_t msglen)
{
	long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	char q[256];

	xport_ossl_errq(q, sizeof(q), -EPROTO);
	if (vr != X509_V_OK)
		snprintf(msg, msglen, "peer certificate rejected: %s (%s)",
			 q[0] ? q : "certificate verify failed", X509_verify_cert_error_string(vr));
	else if (q[0])
		snprintf(msg, msglen, "%s", q);
	else
		snprintf(msg, msglen, "no TLS error recorded");
	return msg;
}

const char *xport_tls_describe(SSL *ssl, char *msg, size_t msglen)
{
	X509 *peer = SSL_get0_peer_certificate(ssl);
	char cn[256];

	if (!peer)
		snprintf(cn, sizeof(cn), "(no certificate)");
	else if (X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName,
					   cn + 3, sizeof(cn) - 3) >= 0)
		memcpy(cn, "CN=", 3);
	else
		snprintf(cn, sizeof(cn), "(no CN)");
	snprintf(msg, msglen, "%s %s peer %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl), cn);
	return msg;
}
