/* SPDX-License-Identifier: MIT */
/* The page server's loop: accept, signals, shutdown.  Sessions: session.c. */
#include "pageserver/server.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "common/log.h"

enum { RING_ENTRIES = 256 };

static void arm_accept(struct ps_server *srv)
{
	if (srv->accept_busy || srv->stopping)
		return;
	srv->accept_len = sizeof(srv->accept_addr);
	struct io_uring_sqe *sqe = xport_ring_sqe(&srv->ring, &srv->accept_op);
	io_uring_prep_accept(sqe, srv->listen_fd, (struct sockaddr *)&srv->accept_addr,
			     &srv->accept_len, SOCK_CLOEXEC);
	srv->accept_busy = 1;
}

static void accept_done(struct xport_op *op, int res)
{
	struct ps_server *srv = (struct ps_server *)((char *)op - offsetof(struct ps_server, accept_op));
	char peer[XPORT_ADDRSTRLEN];
	int ret;

	srv->accept_busy = 0;
	if (res >= 0) {
		xport_addr_str((struct sockaddr *)&srv->accept_addr, peer, sizeof(peer));
		if (srv->stopping) {
			close(res);
			return;
		}
		ret = ps_session_start(srv, res, peer);
		if (ret) {
			fl_err(peer, "cannot start a session: %s", strerror(-ret));
			close(res);
		}
		/* With --once, serve exactly one client, and stop listening like
		 * CRIU's page server: a further connection (a lazy-pages client's
		 * second link) is then refused at once instead of being left in the
		 * backlog, where its requests would wait forever. */
		if (!srv->opts.once) {
			arm_accept(srv);
		} else {
			close(srv->listen_fd);
			srv->listen_fd = -1;
		}
	} else if (res != -ECANCELED) {
		fl_warn("page-server", "accept: %s", strerror(-res));
		arm_accept(srv);
	}
}

static void begin_stop(struct ps_server *srv, const char *why)
{
	if (srv->stop_started)
		return;
	srv->stop_started = 1;
	srv->stopping = 1;
	if (srv->accept_busy) {
		struct io_uring_sqe *sqe = xport_ring_sqe(&srv->ring, NULL);
		io_uring_prep_cancel(sqe, &srv->accept_op, 0);
	}
	if (srv->signal_busy) {
		struct io_uring_sqe *sqe = xport_ring_sqe(&srv->ring, NULL);
		io_uring_prep_cancel(sqe, &srv->signal_op, 0);
	}
	ps_session_stop_all(srv, why);
}

static void signal_done(struct xport_op *op, int res)
{
	struct ps_server *srv = (struct ps_server *)((char *)op - offsetof(struct ps_server, signal_op));

	srv->signal_busy = 0;
	if (res == (int)sizeof(srv->siginfo)) {
		fl_info("page-server", "got %s, shutting down",
			strsignal((int)srv->siginfo.ssi_signo));
		srv->exit_code = 0;
		begin_stop(srv, "server shutting down");
	}
}

static void arm_signal(struct ps_server *srv)
{
	if (srv->signal_busy || srv->stopping)
		return;
	struct io_uring_sqe *sqe = xport_ring_sqe(&srv->ring, &srv->signal_op);
	io_uring_prep_read(sqe, srv->signal_fd, &srv->siginfo, sizeof(srv->siginfo), 0);
	srv->signal_busy = 1;
}

int ps_server_init(struct ps_server *srv, const struct ps_opts *opts, struct ps_source *src,
		   SSL_CTX *tls, int listen_fd)
{
	sigset_t set;
	int ret;

	memset(srv, 0, sizeof(*srv));
	srv->opts = *opts;
	srv->src = src;
	srv->listen_fd = listen_fd;
	srv->accept_op.done = accept_done;
	srv->signal_op.done = signal_done;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	srv->signal_fd = signalfd(-1, &set, SFD_CLOEXEC);
	if (srv->signal_fd < 0)
		return -errno;
	ret = xport_ring_init(&srv->ring, RING_ENTRIES);
	if (ret)
		goto err_close_signal;
	ret = xport_endpoint_init(&srv->ep, &srv->ring, tls, 1);
	if (ret)
		goto err_exit_ring;
	return 0;

err_exit_ring:
	xport_ring_exit(&srv->ring);
err_close_signal:
	close(srv->signal_fd);
	return ret;
}

int ps_server_run(struct ps_server *srv)
{
	arm_accept(srv);
	arm_signal(srv);
	for (;;) {
		if (srv->stopping) {
			begin_stop(srv, "server shutting down");
			if (!srv->ring.inflight && !srv->sessions)
				break;
		}
		int ret = xport_ring_run(&srv->ring, 0);
		if (ret < 0 && ret != -EINTR) {
			fl_err("page-server", "io_uring: %s", strerror(-ret));
			return 1;
		}
	}
	fl_info("page-server", "stopped: %llu sessions (%llu failed), %llu GETs, %llu pages served",
		(unsigned long long)srv->stats.sessions,
		(unsigned long long)srv->stats.sessions_failed,
		(unsigned long long)srv->stats.gets, (unsigned long long)srv->stats.pages);
	return srv->exit_code;
}

void ps_server_fini(struct ps_server *srv)
{
	xport_endpoint_fini(&srv->ep);
	xport_ring_exit(&srv->ring);
	close(srv->signal_fd);
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
}
