/* SPDX-License-Identifier: MIT */
/* A real `faultline page-server` in a child process, over a synthetic image
 * directory, and a blocking test client (plain TCP or TLS) that speaks the
 * CRIU page-server protocol.  t_ps_ prefix. */
#ifndef FL_TEST_PS_HARNESS_H
#define FL_TEST_PS_HARNESS_H

#include <openssl/ssl.h>
#include <stdint.h>
#include <sys/types.h>

#include "transport/proto.h"

/* The synthetic dump: pid 1, entries (all in pages-1.img):
 *   0x10000 x4 non-lazy | 0x20000 x8 lazy | 0x28000 x8 lazy | 0x40000 x2 lazy */
enum { T_PS_PID = 1 };
#define T_PS_LAZY1 0x20000ULL  /* 16 contiguous lazy pages */
#define T_PS_LAZY2 0x40000ULL  /* 2 lazy pages */
#define T_PS_EAGER 0x10000ULL  /* 4 non-lazy pages */

struct t_ps {
	char dir[64];      /* temp dir: images in DIR, pki in DIR/pki, log DIR/ps.log */
	pid_t pid;
	int port;
	int tls;
	const char *addr; /* where it listens: "127.0.0.1" unless started with t_ps_start_at */
};

/* Writes the images (and a PKI when TLS) and starts the server with EXTRA
 * flags (NULL-terminated, may be NULL).  Waits until it listens. */
void t_ps_start(struct t_ps *ps, int tls, const char *const *extra);
/* The same, listening on ADDR (an IPv4 or IPv6 literal). */
void t_ps_start_at(struct t_ps *ps, int tls, const char *addr, const char *const *extra);
/* SIGTERM, then the exit status (as from waitpid's WEXITSTATUS, -1 if killed). */
int t_ps_stop(struct t_ps *ps);
/* Waits up to 10 s for the server to exit on its own; returns as t_ps_stop. */
int t_ps_wait(struct t_ps *ps);
/* 1 if the server log contains TEXT (polls up to 5 s). */
int t_ps_log_has(const struct t_ps *ps, const char *text);
void t_ps_cleanup(struct t_ps *ps);

/* The byte the synthetic dump holds at VADDR + OFF (every page differs). */
uint8_t t_ps_byte(uint64_t vaddr, size_t off);

struct t_cli {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	enum xport_proto_ver ver;
};

/* Connects to PS; WHO picks the client certificate: "client" (good),
 * "none" (no certificate) or "other" (signed by another CA).  Returns 0, or
 * -1 if the TLS handshake failed (the connection is then closed). */
int t_cli_open(struct t_cli *c, const struct t_ps *ps, const char *who, enum xport_proto_ver ver);
void t_cli_close(struct t_cli *c);
int t_cli_send(struct t_cli *c, const void *p, size_t n);
/* Reads exactly N bytes; returns 0, or -1 on EOF, error or a 5 s timeout. */
int t_cli_recv(struct t_cli *c, void *p, size_t n);
/* Sends a header in the client's layout. */
int t_cli_hdr(struct t_cli *c, unsigned cmd, uint64_t nr, uint64_t vaddr, uint64_t id);
/* GET NR pages at VADDR for PID; checks the reply header and every byte. */
void t_cli_get_ok(struct t_cli *c, uint64_t vaddr, uint64_t nr);
/* CLOSE: expects the 4-byte zero status. */
void t_cli_close_ok(struct t_cli *c);
/* 1 if the server closed this connection (EOF or reset within 5 s). */
int t_cli_closed(struct t_cli *c);

#endif
