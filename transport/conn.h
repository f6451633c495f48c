/* SPDX-License-Identifier: MIT */
/* A stream connection driven by io_uring, over plain TCP or TLS.
 *
 * The connection owns its socket, its SSL (if any), a receive buffer of
 * plaintext ("in") and a queue of bytes to send ("out").  It keeps at most
 * one recv and one send in flight.  After each of their completions it calls
 * the owner's notify(); the owner reads from in, writes replies and calls
 * xport_conn_pump() to get them sent.  Single-threaded: a connection is used
 * from the thread that owns its ring. */
#ifndef FL_XPORT_CONN_H
#define FL_XPORT_CONN_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "transport/net.h"
#include "transport/ring.h"

enum xport_status { XPORT_DONE = 0, XPORT_AGAIN = 1 };

enum {
	XPORT_BLOCK_SIZE = 256 * 1024, /* out-queue block */
	XPORT_MAX_IOV = 8,             /* blocks per sendmsg */
	XPORT_IN_HIGH = 256 * 1024,    /* stop receiving above this much unread input */
};

struct xport_buf {
	uint8_t *data;
	size_t off, len, cap; /* valid bytes are data[off, off + len) */
};

struct xport_block {
	struct xport_block *next;
	size_t off, len, cap;
	uint8_t data[];
};

struct xport_outq {
	struct xport_block *head, *tail, *spare;
	size_t bytes;
};

struct xport_conn;

/* A backend: plain TCP or TLS.  handshake/ingest return XPORT_DONE,
 * XPORT_AGAIN or -errno; the rest 0 or -errno (wbuf: NULL on ENOMEM). */
struct xport_ops {
	int (*handshake)(struct xport_conn *c);
	int (*ingest)(struct xport_conn *c);
	void *(*wbuf)(struct xport_conn *c, size_t n);
	int (*commit)(struct xport_conn *c, size_t n);
	int (*shutdown)(struct xport_conn *c);
	void (*release)(struct xport_conn *c);
};

/* What every connection of one endpoint shares. */
struct xport_endpoint {
	struct xport_ring *ring;
	SSL_CTX *tls;      /* NULL: plain TCP */
	BIO_METHOD *bio;   /* TLS ciphertext <-> the connection's buffers */
	int server;        /* 1: TLS server role */
};

struct xport_conn {
	struct xport_endpoint *ep;
	const struct xport_ops *ops;
	int fd;
	SSL *ssl;
	char peer[XPORT_ADDRSTRLEN];
	struct xport_buf rx;    /* TLS only: ciphertext received, not yet decrypted */
	struct xport_buf in;    /* plaintext received, not yet consumed */
	struct xport_outq out;  /* bytes to send (ciphertext under TLS) */
	uint8_t *scratch;       /* TLS only: plaintext staged by wbuf */
	size_t scratch_cap;
	struct xport_op recv_op, send_op;
	struct iovec iov[XPORT_MAX_IOV];
	struct msghdr msg;
	unsigned recv_busy : 1, send_busy : 1, established : 1, eof : 1, aborted : 1;
	unsigned linger : 1;     /* on failure, flush out (a TLS alert) before aborting */
	size_t in_high;         /* stop receiving above this much unread input */
	int err;                /* first fatal error, -errno; sticky */
	char errmsg[256];       /* why, when err is set */
	void (*notify)(struct xport_conn *c);
};

/* Endpoint setup: TLS may be NULL for plain TCP.  Returns 0 or -errno. */
int xport_endpoint_init(struct xport_endpoint *ep, struct xport_ring *ring, SSL_CTX *tls,
			int server);
void xport_endpoint_fini(struct xport_endpoint *ep);

/* Takes ownership of connected socket FD.  PEER names it in logs.  Starts
 * the TLS handshake (if any) on the next pump.  Returns 0 or -errno; on
 * failure FD is still the caller's. */
int xport_conn_init(struct xport_conn *c, struct xport_endpoint *ep, int fd, const char *peer,
		    void (*notify)(struct xport_conn *c));

/* Arms the recv and send the connection needs.  Returns 0 or c->err. */
int xport_conn_pump(struct xport_conn *c);

/* Space for N bytes of application data, valid until the matching commit;
 * no other write may come in between.  Under TLS each commit becomes its own
 * TLS record(s), so a header committed alone never shares a record with the
 * data after it.  Returns NULL on ENOMEM. */
void *xport_conn_wbuf(struct xport_conn *c, size_t n);
int xport_conn_commit(struct xport_conn *c, size_t n);

/* wbuf + memcpy + commit.  Returns 0 or -errno. */
int xport_conn_write(struct xport_conn *c, const void *p, size_t n);

/* Drops N bytes from the front of in. */
void xport_conn_consume(struct xport_conn *c, size_t n);

/* Bytes queued for sending and not yet acknowledged by the kernel. */
static inline size_t xport_conn_queued(const struct xport_conn *c)
{
	return c->out.bytes;
}

/* Queues a TLS close_notify (no-op for TCP). Returns 0 or -errno. */
int xport_conn_shutdown(struct xport_conn *c);

/* Records a fatal error (the first one wins) and aborts the socket so that
 * in-flight operations complete (after flushing out, if linger is set: the
 * next pump does it).  Returns ERR. */
int xport_conn_fail(struct xport_conn *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Shuts the socket down so that in-flight operations complete; no error. */
void xport_conn_abort(struct xport_conn *c);

/* True while a recv or send is in flight: the connection must not be freed. */
static inline int xport_conn_busy(const struct xport_conn *c)
{
	return c->recv_busy || c->send_busy;
}

/* Frees buffers and SSL and closes the socket.  Must not be busy. */
void xport_conn_destroy(struct xport_conn *c);

/* Internal to the backends. */
int xport_buf_reserve(struct xport_buf *b, size_t n);
int xport_outq_append(struct xport_outq *q, const void *p, size_t n);
void *xport_outq_tail(struct xport_outq *q, size_t n);
extern const struct xport_ops xport_tls_ops;
int xport_tls_bio_method(BIO_METHOD **out);
int xport_tls_conn_setup(struct xport_conn *c);

#endif
