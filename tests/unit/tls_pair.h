/* SPDX-License-Identifier: MIT */
/* TLS test helpers (t_tls_ prefix): throwaway PKI directories, contexts built
 * through xport_tls_ctx_new, and a server/client SSL pair joined by a BIO
 * pair and driven step by step in one thread. */
#ifndef FL_TEST_TLS_PAIR_H
#define FL_TEST_TLS_PAIR_H

#include <openssl/ssl.h>

#include "transport/tls.h"

/* A fresh temp directory holding a `pki init` with default options. */
void t_tls_pki(char dir[64]);

/* DIR/self.pem + DIR/self.key: a self-signed leaf (CA:FALSE, no SANs). */
void t_tls_selfsigned(const char *dir);

/* Context trusting CA_DIR/ca.pem and presenting CERT_DIR/WHO.pem + WHO.key
 * (WHO: "server", "client", "self"; with "self" the trust file is self.pem).
 * NAME and NO_CN fill the name check.  Fails the test on error. */
SSL_CTX *t_tls_ctx(enum xport_tls_role role, const char *ca_dir, const char *cert_dir,
		   const char *who, const char *name, int no_cn);

/* Client context that trusts CA_DIR/ca.pem but has no certificate. */
SSL_CTX *t_tls_ctx_nocert(const char *ca_dir);

struct t_tls_pair {
	SSL *srv, *cli;
	int srv_st, cli_st; /* 0 handshaking, 1 done, -1 failed */
	char srv_err[256], cli_err[256];
};

void t_tls_pair_open(struct t_tls_pair *p, SSL_CTX *sctx, SSL_CTX *cctx);
/* One SSL_do_handshake on each unsettled side; returns 1 once both settled. */
int t_tls_pair_step(struct t_tls_pair *p);
/* Steps until both sides settle (or a step budget runs out). */
void t_tls_handshake(struct t_tls_pair *p);
/* Client sends TEXT, server must read exactly TEXT back. */
void t_tls_echo(struct t_tls_pair *p, const char *text);
/* A client read that must fail (the server's alert); returns cli_err. */
const char *t_tls_cli_read_err(struct t_tls_pair *p);
void t_tls_pair_close(struct t_tls_pair *p);

#endif
