/* SPDX-License-Identifier: MIT */
/* A full-duplex byte pipe between two local file descriptors and one
 * connection (TLS or plain TCP), on io_uring: IN_FD -> peer and peer ->
 * OUT_FD at the same time, with bounded memory.  IN_FD and OUT_FD may be
 * pipes, sockets, ttys or regular files (read/written at their position).
 *
 * End of stream is explicit: IN_FD's EOF queues a TLS close_notify (TLS)
 * and then shuts the socket's sending side down; the pipe ends cleanly only
 * when the peer did the same.  A peer that goes away without close_notify
 * is a truncation and an error, so a cut stream is never taken as complete.
 * Single-threaded: the pipe owns its ring, endpoint and connection. */
#ifndef FL_XPORT_PIPE_H
#define FL_XPORT_PIPE_H

#include <stdint.h>

#include "transport/conn.h"
#include "transport/ring.h"

/* One local direction: reading IN_FD or writing OUT_FD. */
struct xport_pipe_io {
	struct xport_op op;
	int fd;
	int res;                /* result of the last completion, once ready */
	unsigned busy : 1, ready : 1, polling : 1;
};

struct xport_pipe {
	struct xport_ring ring;
	struct xport_endpoint ep;
	struct xport_conn conn;
	struct xport_pipe_io rd, wr;
	struct xport_op cancel_op;
	uint8_t *ibuf[2];       /* IN_FD is read into one while the other is sent */
	unsigned iread;         /* the buffer of the read in flight (or next) */
	uint8_t *obuf;          /* plaintext on its way to OUT_FD: [ooff, olen) */
	size_t ooff, olen;
	uint64_t sent, received; /* payload bytes: read from IN_FD, written to OUT_FD */
	uint64_t wire_sent, wire_received; /* TCP payload (TLS records included) */
	double t_start, t_end;  /* CLOCK_MONOTONIC seconds: connected, finished */
	unsigned started : 1, in_eof : 1, wr_shut : 1, peer_eof : 1;
	char cipher[96];        /* "TLSv1.3 TLS_AES_128_GCM_SHA256" once established */
	int err;                /* first fatal error, -errno; sticky */
	char errmsg[384];       /* why, when err is set */
};

/* Connects to ADDR:PORT, retrying every 100 ms while the connection is
 * refused (the listener is not up yet) or the network is unreachable, for at
 * most TIMEOUT seconds in total (each attempt is bounded by what is left).
 * On success *FD is a connected, blocking, close-on-exec socket.  Returns 0
 * or -errno (-ETIMEDOUT when the time ran out); MSG says why. */
int xport_pipe_connect(const char *addr, uint16_t port, double timeout, int *fd, char *msg,
		       size_t msglen);

/* Waits for one connection on listening socket LFD (blocking; -EINTR if a
 * signal arrives) and returns it in *FD (blocking, close-on-exec) with its
 * address in PEER (XPORT_ADDRSTRLEN).  Returns 0 or -errno. */
int xport_pipe_accept(int lfd, int *fd, char *peer, size_t peerlen);

/* Sets up P over connected socket SOCK (taken over, also on failure), with
 * TLS context TLS (NULL: plain TCP; SERVER picks the TLS role).  Does not
 * start any I/O.  Returns 0 or -errno; on failure xport_pipe_fini is still
 * needed. */
int xport_pipe_init(struct xport_pipe *p, SSL_CTX *tls, int server, int sock, const char *peer,
		    int in_fd, int out_fd);

/* Runs the pipe to its end: the handshake, then both directions until
 * both ended.  Returns 0 when both ended cleanly, else -errno with the
 * reason in p->errmsg (every operation has completed by then). */
int xport_pipe_run(struct xport_pipe *p);

/* "TLSv1.3 TLS_AES_128_GCM_SHA256", "none" for plain TCP, or "" before the
 * connection was established.  Owned by P. */
const char *xport_pipe_cipher(const struct xport_pipe *p);

/* Frees everything and closes the socket (not IN_FD or OUT_FD). */
void xport_pipe_fini(struct xport_pipe *p);

#endif
