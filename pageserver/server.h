/* SPDX-License-Identifier: MIT */
/* `faultline page-server`: serves CRIU lazy-page GETs from an image
 * directory to many clients at once and one after another, on one io_uring. */
#ifndef FL_PS_SERVER_H
#define FL_PS_SERVER_H

#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <stdint.h>

#include "pageserver/source.h"
#include "transport/conn.h"
#include "transport/proto.h"
#include "transport/ring.h"

struct ps_opts {
	enum xport_proto_ver proto; /* XPORT_PROTO_AUTO: detect per client */
	int once;                   /* exit after the first client is done */
};

struct ps_session;

struct ps_stats {
	uint64_t sessions, sessions_failed, gets, pages;
};

struct ps_server {
	struct ps_opts opts;
	struct ps_source *src;
	struct xport_ring ring;
	struct xport_endpoint ep;
	int listen_fd, signal_fd;
	struct xport_op accept_op, signal_op;
	struct sockaddr_storage accept_addr;
	socklen_t accept_len;
	struct signalfd_siginfo siginfo;
	unsigned accept_busy : 1, signal_busy : 1, stopping : 1, stop_started : 1;
	struct ps_session *sessions; /* live sessions, a doubly linked list */
	struct ps_stats stats;
	int exit_code;
};

/* Sets up the ring, the signal fd (SIGINT/SIGTERM, which must already be
 * blocked by the caller) and the endpoint (TLS may be NULL: plain TCP).
 * Takes ownership of LISTEN_FD.  Returns 0 or -errno. */
int ps_server_init(struct ps_server *srv, const struct ps_opts *opts, struct ps_source *src,
		   SSL_CTX *tls, int listen_fd);

/* Serves until SIGINT/SIGTERM (or, with once, the first client's end) and
 * every session has drained.  Returns the process exit code: 0 on a clean
 * shutdown, 1 if the ring failed or, with once, that client failed. */
int ps_server_run(struct ps_server *srv);
void ps_server_fini(struct ps_server *srv);

/* Session side, in session.c: start serving accepted socket FD; stop all. */
int ps_session_start(struct ps_server *srv, int fd, const char *peer);
void ps_session_stop_all(struct ps_server *srv, const char *why);

#endif
