/* SPDX-License-Identifier: MIT */
/* The byte pipe: local reads and writes on io_uring next to the connection's
 * own recv and send.  Completions only record their result; one step
 * function (pipe_step) then moves every direction forward, so the state
 * machine lives in one place. */
#include "transport/pipe.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/tcp.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "transport/tls.h"

enum {
	PIPE_CHUNK = 256 * 1024,            /* one read of IN_FD */
	PIPE_OUT_HIGH = 2 * 1024 * 1024,    /* no read of IN_FD above this much queued to send */
	PIPE_IN_HIGH = 1024 * 1024,         /* no recv above this much plaintext unwritten */
	PIPE_OBUF = 1024 * 1024,            /* one write of OUT_FD */
	PIPE_FIFO_SIZE = 1024 * 1024,       /* the default fs.pipe-max-size: never more */
	PIPE_RING_ENTRIES = 64,
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One connect attempt to AI, bounded by MS milliseconds. */
static int try_connect(const struct addrinfo *ai, int ms, int *fd)
{
	struct pollfd pfd = { .events = POLLOUT };
	int s, ret, err = 0;
	socklen_t len = sizeof(err);

	s = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (connect(s, ai->ai_addr, ai->ai_addrlen) < 0) {
		ret = -errno;
		if (ret != -EINPROGRESS)
			goto err_close;
		pfd.fd = s;
		ret = poll(&pfd, 1, ms);
		if (ret <= 0) {
			ret = ret < 0 ? -errno : -ETIMEDOUT;
			goto err_close;
		}
		if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		ret = -err;
		if (err)
			goto err_close;
	}
	fcntl(s, F_SETFL, fcntl(s, F_GETFL) & ~O_NONBLOCK);
	*fd = s;
	return 0;
err_close:
	close(s);
	return ret;
}

static int retryable(int err)
{
	return err == -ECONNREFUSED || err == -ENETUNREACH || err == -EHOSTUNREACH ||
	       err == -ECONNRESET || err == -EAGAIN;
}

int xport_pipe_connect(const char *addr, uint16_t port, double timeout, int *fd, char *msg,
		       size_t msglen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	double t0 = now(), deadline = t0 + timeout;
	char service[8];
	int ret;

	snprintf(service, sizeof(service), "%u", port);
	for (;;) {
		ret = getaddrinfo(addr, service, &hints, &res);
		if (ret) {
			snprintf(msg, msglen, "cannot resolve %s: %s", addr, gai_strerror(ret));
			return -EHOSTUNREACH;
		}
		ret = -EHOSTUNREACH;
		for (ai = res; ai; ai = ai->ai_next) {
			double left = deadline - now();

			ret = try_connect(ai, left > 0.001 ? (int)(left * 1000) : 1, fd);
			if (!ret)
				break;
		}
		freeaddrinfo(res);
		if (!ret)
			return 0;
		if (!retryable(ret) || now() + 0.1 >= deadline)
			break;
		usleep(100 * 1000);
	}
	snprintf(msg, msglen, "cannot connect to %s port %u (tried for %.1f s): %s", addr, port,
		 now() - t0, strerror(-ret));
	return ret;
}

int xport_pipe_accept(int lfd, int *fd, char *peer, size_t peerlen)
{
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };
	struct sockaddr_storage ss;
	socklen_t len;
	int s;

	for (;;) {
		if (poll(&pfd, 1, -1) < 0)
			return -errno;
		len = sizeof(ss);
		s = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
		if (s >= 0)
			break;
		if (errno != EAGAIN && errno != ECONNABORTED && errno != EINTR)
			return -errno;
	}
	xport_addr_str((struct sockaddr *)&ss, peer, peerlen);
	*fd = s;
	return 0;
}

__attribute__((format(printf, 3, 4)))
static int pipe_fail(struct xport_pipe *p, int err, const char *fmt, ...)
{
	va_list ap;

	if (p->err)
		return p->err;
	p->err = err;
	va_start(ap, fmt);
	vsnprintf(p->errmsg, sizeof(p->errmsg), fmt, ap);
	va_end(ap);
	return err;
}

static void io_done(struct xport_op *op, int res)
{
	struct xport_pipe_io *io = (struct xport_pipe_io *)op;

	io->busy = 0;
	io->ready = 1;
	io->res = res;
}

static void cancel_done(struct xport_op *op, int res)
{
	(void)op;
	(void)res;
}

static void conn_notify(struct xport_conn *c)
{
	(void)c; /* pipe_step runs after every batch of completions */
}

/* A bigger pipe buffer means fewer, larger reads and writes; best effort,
 * and never above the default fs.pipe-max-size. */
static void grow_fifo(int fd)
{
	if (fcntl(fd, F_GETPIPE_SZ) > 0 && fcntl(fd, F_GETPIPE_SZ) < PIPE_FIFO_SIZE)
		fcntl(fd, F_SETPIPE_SZ, PIPE_FIFO_SIZE);
}

int xport_pipe_init(struct xport_pipe *p, SSL_CTX *tls, int server, int sock, const char *peer,
		    int in_fd, int out_fd)
{
	int ret;

	memset(p, 0, sizeof(*p));
	p->conn.fd = -1;
	p->rd = (struct xport_pipe_io){ .op.done = io_done, .fd = in_fd };
	p->wr = (struct xport_pipe_io){ .op.done = io_done, .fd = out_fd };
	p->cancel_op.done = cancel_done;
	p->t_start = now();
	p->obuf = malloc(PIPE_OBUF);
	p->ibuf[0] = malloc(PIPE_CHUNK);
	p->ibuf[1] = malloc(PIPE_CHUNK);
	ret = p->obuf && p->ibuf[0] && p->ibuf[1] ? xport_ring_init(&p->ring, PIPE_RING_ENTRIES)
						   : -ENOMEM;
	if (ret)
		goto err_close_sock;
	p->started = 1;
	ret = xport_endpoint_init(&p->ep, &p->ring, tls, server);
	if (ret)
		goto err_close_sock;
	ret = xport_conn_init(&p->conn, &p->ep, sock, peer, conn_notify);
	if (ret) {
		/* SOCK is still ours; drop what the TLS setup made. */
		if (p->conn.ops)
			p->conn.ops->release(&p->conn);
		p->conn.ops = NULL;
		p->conn.fd = -1;
		goto err_close_sock;
	}
	p->conn.in_high = PIPE_IN_HIGH;
	grow_fifo(in_fd);
	grow_fifo(out_fd);
	return 0;
err_close_sock:
	close(sock);
	return ret;
}

/* Arms a read of IN_FD into the free input buffer, or a poll when the last
 * read said EAGAIN (IN_FD is O_NONBLOCK). */
static int arm_read(struct xport_pipe *p)
{
	struct xport_conn *c = &p->conn;
	struct io_uring_sqe *sqe;

	if (p->rd.busy || p->in_eof || !c->established || xport_conn_queued(c) >= PIPE_OUT_HIGH)
		return 0;
	if (p->rd.polling) {
		sqe = xport_ring_sqe(&p->ring, &p->rd.op);
		io_uring_prep_poll_add(sqe, p->rd.fd, POLLIN);
		p->rd.busy = 1;
		return 0;
	}
	sqe = xport_ring_sqe(&p->ring, &p->rd.op);
	io_uring_prep_read(sqe, p->rd.fd, p->ibuf[p->iread], PIPE_CHUNK, (uint64_t)-1);
	p->rd.busy = 1;
	return 0;
}

/* IN_FD -> connection: handles the last read; the next one is armed into
 * the other buffer before this one is encrypted and queued, so reading and
 * encrypting overlap. */
static int step_send(struct xport_pipe *p)
{
	struct xport_conn *c = &p->conn;
	int res = p->rd.res, ret = 0;
	uint8_t *data;

	if (p->rd.ready) {
		p->rd.ready = 0;
		if (p->rd.polling) {
			p->rd.polling = 0;
			if (res < 0 && res != -EINTR)
				return pipe_fail(p, res, "waiting for input: %s", strerror(-res));
		} else if (res > 0) {
			data = p->ibuf[p->iread];
			p->iread ^= 1;
			ret = arm_read(p);
			if (!ret)
				ret = xport_conn_write(c, data, (size_t)res);
			p->sent += (uint64_t)res;
		} else if (res == 0) {
			p->in_eof = 1;
			fl_dbg(c->peer, "end of input after %llu bytes: closing the sending side",
			       (unsigned long long)p->sent);
			ret = xport_conn_shutdown(c);
		} else if (res == -EAGAIN) {
			p->rd.polling = 1;
		} else if (res != -EINTR) {
			return pipe_fail(p, res, "reading the input: %s", strerror(-res));
		}
		if (ret)
			return pipe_fail(p, ret, "%s: %s", c->peer,
					 c->errmsg[0] ? c->errmsg : strerror(-ret));
	}
	if (p->in_eof && !p->wr_shut && !xport_conn_queued(c) && !c->send_busy) {
		/* Everything, close_notify included, is in the kernel now. */
		if (shutdown(c->fd, SHUT_WR) < 0)
			return pipe_fail(p, -errno, "%s: shutdown: %s", c->peer, strerror(errno));
		p->wr_shut = 1;
	}
	return arm_read(p);
}

static void arm_write(struct xport_pipe *p)
{
	struct io_uring_sqe *sqe = xport_ring_sqe(&p->ring, &p->wr.op);

	if (p->wr.polling)
		io_uring_prep_poll_add(sqe, p->wr.fd, POLLOUT);
	else
		io_uring_prep_write(sqe, p->wr.fd, p->obuf + p->ooff, p->olen - p->ooff,
				    (uint64_t)-1);
	p->wr.busy = 1;
}

/* The peer's end of stream: clean only after a TLS close_notify. */
static int check_peer_eof(struct xport_pipe *p)
{
	struct xport_conn *c = &p->conn;

	if (!c->eof || p->peer_eof)
		return 0;
	if (c->ssl && !(SSL_get_shutdown(c->ssl) & SSL_RECEIVED_SHUTDOWN))
		return pipe_fail(p, -EPIPE, "%s: the peer closed the connection without a TLS "
				 "close_notify after %llu bytes: the stream is truncated", c->peer,
				 (unsigned long long)(p->received + c->in.len + p->olen - p->ooff));
	p->peer_eof = 1;
	fl_dbg(c->peer, "end of stream from the peer");
	return 0;
}

/* Connection -> OUT_FD: handles the last write, refills, arms the next. */
static int step_recv(struct xport_pipe *p)
{
	struct xport_conn *c = &p->conn;
	int res = p->wr.res;

	if (p->wr.ready) {
		p->wr.ready = 0;
		if (p->wr.polling) {
			p->wr.polling = 0;
			if (res < 0 && res != -EINTR)
				return pipe_fail(p, res, "waiting to write the output: %s",
						 strerror(-res));
		} else if (res > 0) {
			p->ooff += (size_t)res;
			p->received += (uint64_t)res;
		} else if (res == -EAGAIN) {
			p->wr.polling = 1;
		} else if (res != -EINTR) {
			return pipe_fail(p, res ? res : -EIO, "writing the output: %s",
					 strerror(res ? -res : EIO));
		}
	}
	if (p->wr.busy)
		return 0;
	if (p->ooff == p->olen && c->in.len) {
		size_t n = c->in.len < PIPE_OBUF ? c->in.len : PIPE_OBUF;

		/* A copy: the connection may move its buffer while a write runs. */
		memcpy(p->obuf, c->in.data + c->in.off, n);
		xport_conn_consume(c, n);
		p->ooff = 0;
		p->olen = n;
	}
	if (p->ooff < p->olen)
		arm_write(p);
	return check_peer_eof(p);
}

static void note_established(struct xport_pipe *p)
{
	struct xport_conn *c = &p->conn;
	char d[256];

	if (p->cipher[0] || !c->established)
		return;
	if (c->ssl) {
		snprintf(p->cipher, sizeof(p->cipher), "%s %s", SSL_get_version(c->ssl),
			 SSL_get_cipher_name(c->ssl));
		fl_info(c->peer, "connected: %s", xport_tls_describe(c->ssl, d, sizeof(d)));
	} else {
		snprintf(p->cipher, sizeof(p->cipher), "none");
		fl_info(c->peer, "connected: plain TCP (--no-tls)");
	}
}

static int pipe_finished(const struct xport_pipe *p)
{
	return p->wr_shut && p->peer_eof && !p->conn.in.len && p->ooff == p->olen && !p->wr.busy;
}

static int pipe_step(struct xport_pipe *p)
{
	struct xport_conn *c = &p->conn;

	if (c->err)
		return pipe_fail(p, c->err, "%s: %s", c->peer, c->errmsg);
	note_established(p);
	if (step_send(p) || step_recv(p))
		return p->err;
	if (xport_conn_pump(c))
		return pipe_fail(p, c->err, "%s: %s", c->peer, c->errmsg);
	return 0;
}

/* TCP states after the peer's FIN (include/net/tcp_states.h). */
enum { ST_TIME_WAIT = 6, ST_CLOSE = 7, ST_CLOSE_WAIT = 8, ST_LAST_ACK = 9, ST_CLOSING = 11 };

static void read_tcp_info(struct xport_pipe *p)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(p->conn.fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return;
	/* Sent once each, plus what still waits in the socket (bytes_acked
	 * would miss the unacknowledged tail and count the FIN); an unsent FIN
	 * is one byte of notsent. */
	p->wire_sent = ti.tcpi_bytes_sent - ti.tcpi_bytes_retrans + ti.tcpi_notsent_bytes;
	if (p->wr_shut && ti.tcpi_notsent_bytes)
		p->wire_sent--;
	p->wire_received = ti.tcpi_bytes_received;
	/* bytes_received counts the peer's FIN as one byte. */
	if (p->wire_received && (ti.tcpi_state == ST_TIME_WAIT || ti.tcpi_state == ST_CLOSE_WAIT ||
				 ti.tcpi_state == ST_LAST_ACK || ti.tcpi_state == ST_CLOSING ||
				 ti.tcpi_state == ST_CLOSE))
		p->wire_received--;
}

static void cancel(struct xport_pipe *p, struct xport_pipe_io *io)
{
	if (!io->busy)
		return;
	struct io_uring_sqe *sqe = xport_ring_sqe(&p->ring, &p->cancel_op);
	io_uring_prep_cancel(sqe, &io->op, 0);
}

/* After an error: lets a TLS alert out, cancels the local I/O and waits
 * until nothing is in flight, so the buffers can be freed. */
static void drain(struct xport_pipe *p)
{
	struct xport_conn *c = &p->conn;

	xport_conn_fail(c, p->err, "%s", p->errmsg);
	cancel(p, &p->rd);
	cancel(p, &p->wr);
	for (;;) {
		xport_conn_pump(c);
		if (!xport_conn_busy(c) && !p->rd.busy && !p->wr.busy && !p->ring.inflight)
			break;
		if (xport_ring_run(&p->ring, 0) < 0 && !p->ring.inflight)
			break;
	}
}

int xport_pipe_run(struct xport_pipe *p)
{
	int ret;

	for (;;) {
		if (pipe_step(p))
			break;
		if (pipe_finished(p))
			break;
		ret = xport_ring_run(&p->ring, 0);
		if (ret < 0 && ret != -EINTR) {
			pipe_fail(p, ret, "io_uring: %s", strerror(-ret));
			break;
		}
	}
	p->t_end = now();
	read_tcp_info(p);
	if (p->err)
		drain(p);
	return p->err;
}

const char *xport_pipe_cipher(const struct xport_pipe *p)
{
	return p->cipher;
}

void xport_pipe_fini(struct xport_pipe *p)
{
	if (p->started) {
		if (p->conn.ops)
			xport_conn_destroy(&p->conn);
		xport_endpoint_fini(&p->ep);
		xport_ring_exit(&p->ring);
	}
	free(p->obuf);
	free(p->ibuf[0]);
	free(p->ibuf[1]);
	p->obuf = p->ibuf[0] = p->ibuf[1] = NULL;
	p->started = 0;
}
