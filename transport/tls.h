/* SPDX-License-Identifier: MIT */
/* TLS configuration (OpenSSL 3): one SSL_CTX per role, one SSL per connection.
 * Mutual authentication is the default: the server requires a client
 * certificate, both sides verify the peer chain against the CA file, and the
 * peer's name is checked against an address unless no_cn_verify is set.
 * The connection layer (transport/conn.c) drives each SSL over memory BIOs,
 * so nothing here touches a socket. */
#ifndef FL_XPORT_TLS_H
#define FL_XPORT_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

enum xport_tls_role { XPORT_TLS_SERVER, XPORT_TLS_CLIENT };

struct xport_tls_cfg {
	const char *cacert;  /* PEM CA bundle; the only trust anchor */
	const char *cert;    /* PEM certificate (chain) presented to the peer */
	const char *key;     /* PEM private key for cert */
	const char *verify_name; /* IP literal or DNS name the peer's certificate must
				    carry (SAN, or CN when no SAN); NULL: no name check */
	int no_cn_verify;    /* 1: skip the name check (chain is still verified) */
};

/* Builds an SSL_CTX for ROLE: TLS 1.2 minimum (1.3 preferred), peer
 * verification required (server: SSL_VERIFY_PEER|FAIL_IF_NO_PEER_CERT),
 * num_tickets 0, no SNI needed.  Returns the context (caller frees with
 * SSL_CTX_free) or NULL with *ERR = -errno-style code and a readable reason
 * (file name + OpenSSL's reason) in MSG. */
SSL_CTX *xport_tls_ctx_new(enum xport_tls_role role, const struct xport_tls_cfg *cfg, int *err,
			   char *msg, size_t msglen);

/* Formats the verification failure of SSL (if any) and the OpenSSL error
 * queue into MSG, e.g. "peer certificate verify failed: unable to get local
 * issuer certificate".  Clears the error queue.  Returns MSG. */
const char *xport_tls_strerror(SSL *ssl, char *msg, size_t msglen);

/* One line describing the negotiated protocol and cipher, for logs. */
const char *xport_tls_describe(SSL *ssl, char *msg, size_t msglen);

#endif
