/* SPDX-License-Identifier: MIT */
/* Connection plumbing shared by both backends, and the plain TCP backend. */
#include "transport/conn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { RECV_CHUNK = 64 * 1024, SPARE_BLOCKS = 4 };

int xport_buf_reserve(struct xport_buf *b, size_t n)
{
	if (b->cap - b->off - b->len >= n)
		return 0;
	if (b->off) {
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
		if (b->cap - b->len >= n)
			return 0;
	}
	size_t cap = b->cap ? b->cap : RECV_CHUNK;
	while (cap - b->len < n)
		cap *= 2;
	uint8_t *p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

static struct xport_block *block_get(struct xport_outq *q, size_t n)
{
	struct xport_block *b = q->spare;
	size_t cap = n > XPORT_BLOCK_SIZE ? n : XPORT_BLOCK_SIZE;

	if (b && b->cap >= n) {
		q->spare = b->next;
	} else {
		b = malloc(sizeof(*b) + cap);
		if (!b)
			return NULL;
		b->cap = cap;
	}
	b->next = NULL;
	b->off = b->len = 0;
	if (q->tail)
		q->tail->next = b;
	else
		q->head = b;
	q->tail = b;
	return b;
}

void *xport_outq_tail(struct xport_outq *q, size_t n)
{
	struct xport_block *t = q->tail;

	if (!t || t->cap - t->len < n)
		t = block_get(q, n);
	return t ? t->data + t->len : NULL;
}

int xport_outq_append(struct xport_outq *q, const void *p, size_t n)
{
	const uint8_t *src = p;

	while (n) {
		struct xport_block *t = q->tail;
		if (!t || t->cap == t->len)
			t = block_get(q, 1);
		if (!t)
			return -ENOMEM;
		size_t k = t->cap - t->len < n ? t->cap - t->len : n;
		memcpy(t->data + t->len, src, k);
		t->len += k;
		q->bytes += k;
		src += k;
		n -= k;
	}
	return 0;
}

/* Drops N sent bytes from the head, keeping a few emptied blocks for reuse. */
static void outq_sent(struct xport_outq *q, size_t n)
{
	unsigned spares = 0;

	for (struct xport_block *s = q->spare; s; s = s->next)
		spares++;
	q->bytes -= n;
	while (n) {
		struct xport_block *b = q->head;
		size_t k = b->len - b->off < n ? b->len - b->off : n;

		b->off += k;
		n -= k;
		if (b->off < b->len || b == q->tail)
			continue;
		q->head = b->next;
		if (spares < SPARE_BLOCKS && b->cap == XPORT_BLOCK_SIZE) {
			b->next = q->spare;
			q->spare = b;
			spares++;
		} else {
			free(b);
		}
	}
}

static void outq_free(struct xport_outq *q)
{
	for (struct xport_block *b = q->head, *n; b; b = n) {
		n = b->next;
		free(b);
	}
	for (struct xport_block *b = q->spare, *n; b; b = n) {
		n = b->next;
		free(b);
	}
	memset(q, 0, sizeof(*q));
}

void xport_conn_abort(struct xport_conn *c);

int xport_conn_fail(struct xport_conn *c, int err, const char *fmt, ...)
{
	if (!c->err) {
		va_list ap;

		c->err = err;
		va_start(ap, fmt);
		vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
		va_end(ap);
	}
	if (!c->linger)
		xport_conn_abort(c);
	return err;
}

void xport_conn_abort(struct xport_conn *c)
{
	if (c->aborted)
		return;
	c->aborted = 1;
	/* Makes the in-flight recv/send complete now. */
	shutdown(c->fd, SHUT_RDWR);
}

static void recv_done(struct xport_op *op, int res)
{
	struct xport_conn *c = (struct xport_conn *)((char *)op - offsetof(struct xport_conn, recv_op));
	struct xport_buf *b = c->ssl ? &c->rx : &c->in;

	c->recv_busy = 0;
	if (res > 0) {
		b->len += res;
		res = c->established ? c->ops->ingest(c) : c->ops->handshake(c);
		if (res == XPORT_DONE && !c->established) {
			c->established = 1;
			res = c->ops->ingest(c); /* data may follow the handshake */
		}
		if (res < 0) {
			char why[sizeof(c->errmsg)];

			snprintf(why, sizeof(why), "%s", c->errmsg[0] ? c->errmsg : strerror(-res));
			c->errmsg[0] = 0;
			/* Let a TLS alert reach the peer before the socket goes. */
			c->linger = 1;
			xport_conn_fail(c, res, "%s", why);
		}
	} else if (res == 0) {
		c->eof = 1;
	} else if (!c->aborted) {
		xport_conn_fail(c, res, "recv: %s", strerror(-res));
	}
	c->notify(c);
}

static void send_done(struct xport_op *op, int res)
{
	struct xport_conn *c = (struct xport_conn *)((char *)op - offsetof(struct xport_conn, send_op));

	c->send_busy = 0;
	if (res > 0)
		outq_sent(&c->out, res);
	else if (!c->aborted)
		xport_conn_fail(c, res ? res : -EPIPE, "send: %s", strerror(res ? -res : EPIPE));
	c->notify(c);
}

static void arm_recv(struct xport_conn *c)
{
	struct xport_buf *b = c->ssl ? &c->rx : &c->in;

	if (c->recv_busy || c->eof || c->aborted || c->in.len >= c->in_high)
		return;
	if (xport_buf_reserve(b, RECV_CHUNK)) {
		xport_conn_fail(c, -ENOMEM, "out of memory for the receive buffer");
		return;
	}
	struct io_uring_sqe *sqe = xport_ring_sqe(c->ep->ring, &c->recv_op);
	io_uring_prep_recv(sqe, c->fd, b->data + b->off + b->len, b->cap - b->off - b->len, 0);
	c->recv_busy = 1;
}

static void arm_send(struct xport_conn *c)
{
	unsigned n = 0;

	if (c->send_busy || c->aborted || !c->out.bytes)
		return;
	for (struct xport_block *b = c->out.head; b && n < XPORT_MAX_IOV; b = b->next) {
		if (b->len == b->off)
			continue;
		c->iov[n].iov_base = b->data + b->off;
		c->iov[n].iov_len = b->len - b->off;
		n++;
	}
	memset(&c->msg, 0, sizeof(c->msg));
	c->msg.msg_iov = c->iov;
	c->msg.msg_iovlen = n;
	struct io_uring_sqe *sqe = xport_ring_sqe(c->ep->ring, &c->send_op);
	io_uring_prep_sendmsg(sqe, c->fd, &c->msg, MSG_NOSIGNAL);
	c->send_busy = 1;
}

int xport_conn_pump(struct xport_conn *c)
{
	if (c->err) {
		if (c->linger && c->out.bytes && !c->aborted)
			arm_send(c);
		else
			xport_conn_abort(c);
		return c->err;
	}
	arm_send(c);
	arm_recv(c);
	return c->err;
}

void *xport_conn_wbuf(struct xport_conn *c, size_t n)
{
	return c->ops->wbuf(c, n);
}

int xport_conn_commit(struct xport_conn *c, size_t n)
{
	return c->ops->commit(c, n);
}

int xport_conn_write(struct xport_conn *c, const void *p, size_t n)
{
	void *dst = c->ops->wbuf(c, n);

	if (!dst)
		return -ENOMEM;
	memcpy(dst, p, n);
	return c->ops->commit(c, n);
}

void xport_conn_consume(struct xport_conn *c, size_t n)
{
	c->in.off += n;
	c->in.len -= n;
	/* Rewind only if no recv is writing into in: a plain-TCP recv in flight
	 * lands at the offset it was armed with (off + len, unchanged by this). */
	if (!c->in.len && (c->ssl || !c->recv_busy))
		c->in.off = 0;
}

int xport_conn_shutdown(struct xport_conn *c)
{
	return c->ops->shutdown(c);
}

static int tcp_handshake(struct xport_conn *c)
{
	(void)c;
	return XPORT_DONE;
}

static int tcp_ingest(struct xport_conn *c)
{
	(void)c; /* recv lands in c->in directly */
	return XPORT_DONE;
}

static void *tcp_wbuf(struct xport_conn *c, size_t n)
{
	return xport_outq_tail(&c->out, n);
}

static int tcp_commit(struct xport_conn *c, size_t n)
{
	c->out.tail->len += n;
	c->out.bytes += n;
	return 0;
}

static int tcp_shutdown(struct xport_conn *c)
{
	(void)c;
	return 0;
}

static void tcp_release(struct xport_conn *c)
{
	(void)c;
}

static const struct xport_ops tcp_ops = {
	.handshake = tcp_handshake,
	.ingest = tcp_ingest,
	.wbuf = tcp_wbuf,
	.commit = tcp_commit,
	.shutdown = tcp_shutdown,
	.release = tcp_release,
};

int xport_endpoint_init(struct xport_endpoint *ep, struct xport_ring *ring, SSL_CTX *tls,
			int server)
{
	ep->ring = ring;
	ep->tls = tls;
	ep->server = server;
	ep->bio = NULL;
	return tls ? xport_tls_bio_method(&ep->bio) : 0;
}

void xport_endpoint_fini(struct xport_endpoint *ep)
{
	if (ep->bio)
		BIO_meth_free(ep->bio);
	ep->bio = NULL;
}

int xport_conn_init(struct xport_conn *c, struct xport_endpoint *ep, int fd, const char *peer,
		    void (*notify)(struct xport_conn *c))
{
	memset(c, 0, sizeof(*c));
	c->ep = ep;
	c->fd = fd;
	c->notify = notify;
	c->in_high = XPORT_IN_HIGH;
	c->recv_op.done = recv_done;
	c->send_op.done = send_done;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	xport_set_nodelay(fd);
	xport_set_liveness(fd, XPORT_LIVENESS_MS); /* not TCP (a test's socketpair): no-op */
	if (!ep->tls) {
		c->ops = &tcp_ops;
		c->established = 1;
		return 0;
	}
	c->ops = &xport_tls_ops;
	return xport_tls_conn_setup(c);
}

void xport_conn_destroy(struct xport_conn *c)
{
	c->ops->release(c);
	outq_free(&c->out);
	free(c->rx.data);
	free(c->in.data);
	free(c->scratch);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}
