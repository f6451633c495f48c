/* SPDX-License-Identifier: MIT */
/* Fetching from a page server (faultline's or CRIU's) as a CRIU lazy client.
 *
 * Two links when the server takes them: link 0 carries faults, link 1 the
 * background stream, so a fault never waits behind megabytes of prefetch.
 * CRIU's own server accepts one connection; then both share link 0 and the
 * background is kept to a few requests in flight.  Replies come in request
 * order on each link (a FIFO); a reply is copied straight from the receive
 * buffer.  GETs are idempotent, so when a link drops, its unanswered requests
 * are sent again after reconnecting, with backoff, until --reconnect-timeout. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "uffd/lazy.h"

enum { PAGE = 4096, LINK_FAULT = 0, LINK_BG = 1 };

/* The fault link asks for low delay (IPTOS_LOWDELAY): a shaper can then keep its
 * few small packets ahead of the background stream, which otherwise fills the
 * bottleneck's queue and adds its whole length to every fault (docs/netlab.md).
 * The replies carry it too when the source reflects TOS (tcp_reflect_tos). */
#define UFFD_FAULT_TOS 0x10

struct link {
	struct uffd_remote *rm;
	int idx;
	struct xport_conn conn;
	unsigned up : 1, connecting : 1, conn_live : 1, closed : 1, close_sent : 1;
	int fd;
	struct xport_op connect_op, timer_op;
	struct __kernel_timespec backoff_ts;
	unsigned backoff_ms;
	struct uffd_req *head, *tail; /* sent or waiting to be sent, in order */
	struct uffd_req *unsent;      /* first request not yet written to this link */
	unsigned nr_bg;
	uint64_t replies;
	struct timespec down_since;
	int down;
};

struct uffd_remote {
	struct uffd_ctx *ctx;
	struct xport_endpoint ep;
	SSL_CTX *tls;
	struct sockaddr_storage sa;
	socklen_t salen;
	char peer[XPORT_ADDRSTRLEN];
	struct link links[2];
	int nr_links; /* 1 or 2 */
	int second_tried;
};

static void link_notify(struct xport_conn *c);
static void link_connect(struct link *l);

static struct link *conn_link(struct xport_conn *c)
{
	return (struct link *)((char *)c - offsetof(struct link, conn));
}

static int write_get(struct link *l, const struct uffd_req *req)
{
	struct xport_msg m = { .cmd = XPORT_CMD_GET, .nr_pages = req->nr, .vaddr = req->img_addr,
			       .dst_id = (uint64_t)req->task->pid };
	uint8_t hdr[XPORT_HDR_MAX];
	int n = xport_hdr_encode(l->rm->ctx->opts.proto, &m, hdr, sizeof(hdr));

	return n < 0 ? n : xport_conn_write(&l->conn, hdr, (size_t)n);
}

/* Writes every queued request the link has not sent yet. */
static void flush_unsent(struct link *l)
{
	/* Not before the TLS handshake is done: SSL_write would fail (EIO) and
	 * take the link down; link_notify flushes once it is established. */
	if (!l->up || !l->conn.established)
		return;
	for (; l->unsent; l->unsent = l->unsent->next) {
		int ret = write_get(l, l->unsent);
		if (ret) {
			xport_conn_fail(&l->conn, ret, "cannot queue a GET: %s", strerror(-ret));
			return;
		}
	}
	xport_conn_pump(&l->conn);
}

static void enqueue(struct link *l, struct uffd_req *req)
{
	req->next = NULL;
	if (l->tail)
		l->tail->next = req;
	else
		l->head = req;
	l->tail = req;
	if (!l->unsent)
		l->unsent = req;
	l->nr_bg += !req->fault;
}

static struct uffd_req *dequeue(struct link *l)
{
	struct uffd_req *req = l->head;

	l->head = req->next;
	if (!l->head)
		l->tail = NULL;
	l->nr_bg -= !req->fault;
	req->next = NULL;
	return req;
}

static int remote_submit(struct uffd_ctx *ctx, struct uffd_req *req)
{
	struct uffd_remote *rm = ctx->remote;
	struct link *l = &rm->links[!req->fault && rm->nr_links == 2 ? LINK_BG : LINK_FAULT];

	enqueue(l, req);
	flush_unsent(l);
	return 0;
}

static unsigned remote_bg_room(struct uffd_ctx *ctx)
{
	struct uffd_remote *rm = ctx->remote;
	const struct link *l = &rm->links[rm->nr_links == 2 ? LINK_BG : LINK_FAULT];
	unsigned depth = ctx->opts.bg_depth;

	/* Sharing one link with faults: keep little ahead of them. */
	if (rm->nr_links == 1 && depth > 2)
		depth = 2;
	return l->nr_bg < depth ? depth - l->nr_bg : 0;
}

static int remote_close(struct uffd_ctx *ctx)
{
	struct uffd_remote *rm = ctx->remote;
	struct xport_msg m = { .cmd = XPORT_CMD_CLOSE };
	uint8_t hdr[XPORT_HDR_MAX];

	for (int i = 0; i < rm->nr_links; i++) {
		struct link *l = &rm->links[i];
		int n = xport_hdr_encode(ctx->opts.proto, &m, hdr, sizeof(hdr));

		if (!l->up || !l->conn.established) {
			/* Down, or still in its TLS handshake (CLOSE cannot be
			 * written yet): every live task has all its pages, so
			 * whatever is queued on it was for tasks that exited. */
			if (l->up)
				xport_conn_abort(&l->conn);
			l->closed = 1;
			continue;
		}
		if (n > 0 && xport_conn_write(&l->conn, hdr, (size_t)n) == 0)
			l->close_sent = 1;
		xport_conn_pump(&l->conn);
	}
	uffd_remote_check_closed(ctx);
	return 0;
}

static const struct uffd_fetch_ops remote_ops = {
	.submit = remote_submit,
	.close = remote_close,
	.bg_room = remote_bg_room,
};

void uffd_remote_check_closed(struct uffd_ctx *ctx)
{
	struct uffd_remote *rm = ctx->remote;

	for (int i = 0; i < rm->nr_links; i++)
		if (!rm->links[i].closed)
			return;
	fl_info(rm->peer, "page-server session closed");
	ctx->stopped = 1;
}

static void arm_timer(struct link *l)
{
	l->backoff_ms = l->backoff_ms ? l->backoff_ms * 2 : 50;
	if (l->backoff_ms > 1000)
		l->backoff_ms = 1000;
	l->backoff_ts.tv_sec = l->backoff_ms / 1000;
	l->backoff_ts.tv_nsec = (long long)(l->backoff_ms % 1000) * 1000000;
	struct io_uring_sqe *sqe = xport_ring_sqe(&l->rm->ctx->ring, &l->timer_op);
	io_uring_prep_timeout(sqe, &l->backoff_ts, 0, 0);
}

/* The background link is an optimisation: when it fails, fold it into link 0. */
static void retire_bg_link(struct uffd_remote *rm, const char *why)
{
	struct link *bg = &rm->links[LINK_BG], *l0 = &rm->links[LINK_FAULT];

	if (rm->nr_links == 2)
		fl_info(rm->peer, "background link: %s; background shares the fault link", why);
	rm->nr_links = 1;
	while (bg->head) {
		struct uffd_req *req = dequeue(bg);
		enqueue(l0, req);
	}
	bg->unsent = NULL;
	flush_unsent(l0);
}

static void link_down(struct link *l, const char *why)
{
	struct uffd_ctx *ctx = l->rm->ctx;

	if (l->down || l->closed)
		return;
	l->up = 0;
	if (l->conn_live)
		xport_conn_abort(&l->conn);
	if (l->close_sent || (ctx->closing && !l->head)) {
		l->closed = 1; /* the end of a finished session */
		uffd_remote_check_closed(ctx);
		return;
	}
	if (l->idx == LINK_BG) {
		l->closed = 1;
		retire_bg_link(l->rm, why);
		return;
	}
	l->down = 1;
	clock_gettime(CLOCK_MONOTONIC, &l->down_since);
	l->unsent = l->head; /* GETs are idempotent: all unanswered ones go again */
	fl_warn(l->rm->peer, "connection lost (%s); reconnecting for up to %.1f s", why,
		ctx->opts.reconnect_timeout);
	l->backoff_ms = 0;
	arm_timer(l);
}

static int check_reply(struct link *l, const struct xport_msg *m, const struct uffd_req *req)
{
	if (m->cmd == XPORT_CMD_ADD_F && m->vaddr == req->img_addr &&
	    m->dst_id == (uint64_t)req->task->pid && m->nr_pages >= 1 && m->nr_pages <= req->nr)
		return 0;
	return xport_conn_fail(&l->conn, -EPROTO,
			       "reply cmd %u pid %llu vaddr 0x%llx nr %llu does not answer GET pid %d "
			       "vaddr 0x%llx nr %llu", m->cmd, (unsigned long long)m->dst_id,
			       (unsigned long long)m->vaddr, (unsigned long long)m->nr_pages,
			       req->task->pid, (unsigned long long)req->img_addr,
			       (unsigned long long)req->nr);
}

/* Splits off what a short reply (M < N) did not carry and asks for it again. */
static int requeue_rest(struct uffd_ctx *ctx, struct uffd_req *req, uint64_t got)
{
	struct uffd_req *rest = malloc(sizeof(*rest));

	if (!rest)
		return -ENOMEM;
	*rest = *req;
	rest->img_addr += got * PAGE;
	rest->nr -= got;
	req->nr = got;
	ctx->fault_reqs += !!rest->fault;
	ctx->bg_reqs += !rest->fault;
	return remote_submit(ctx, rest);
}

static void parse_close_reply(struct link *l)
{
	struct xport_conn *c = &l->conn;
	int32_t status;

	if (c->in.len < sizeof(status))
		return;
	memcpy(&status, c->in.data + c->in.off, sizeof(status));
	xport_conn_consume(c, sizeof(status));
	if (status)
		fl_warn(l->rm->peer, "CLOSE answered with status %d", status);
	xport_conn_shutdown(c);
	xport_conn_pump(c);
	l->closed = 1;
	uffd_remote_check_closed(l->rm->ctx);
}

static void parse_replies(struct link *l)
{
	struct uffd_ctx *ctx = l->rm->ctx;
	struct xport_conn *c = &l->conn;
	size_t hs = xport_hdr_size(ctx->opts.proto);
	struct xport_msg m;

	while (!c->err && !ctx->stopped) {
		if (!l->head || l->head == l->unsent) {
			if (l->close_sent)
				parse_close_reply(l);
			else if (c->in.len)
				xport_conn_fail(c, -EPROTO, "%zu bytes nobody asked for", c->in.len);
			return;
		}
		if (xport_hdr_decode(ctx->opts.proto, c->in.data + c->in.off, c->in.len, &m))
			return;
		if (check_reply(l, &m, l->head))
			return;
		size_t need = hs + m.nr_pages * PAGE;
		if (c->in.len < need) {
			if (c->in_high < need + XPORT_IN_HIGH)
				c->in_high = need + XPORT_IN_HIGH;
			return;
		}
		struct uffd_req *req = dequeue(l);
		if (m.nr_pages < req->nr && requeue_rest(ctx, req, m.nr_pages)) {
			uffd_fatal(ctx, "out of memory");
			return;
		}
		l->replies++;
		uffd_deliver(ctx, req, c->in.data + c->in.off + hs);
		xport_conn_consume(c, need);
	}
}

static void try_second_link(struct uffd_remote *rm)
{
	if (rm->second_tried || rm->ctx->opts.bg_depth == 0)
		return;
	rm->second_tried = 1;
	link_connect(&rm->links[LINK_BG]);
}

static void link_notify(struct xport_conn *c)
{
	struct link *l = conn_link(c);

	if (c->established && l->unsent)
		flush_unsent(l);
	parse_replies(l);
	if (l->idx == LINK_FAULT && l->replies)
		try_second_link(l->rm);
	if (c->err)
		link_down(l, c->errmsg);
	else if (c->eof)
		link_down(l, "the page server closed the connection");
	else
		xport_conn_pump(c);
	if (l->conn_live && c->aborted && !xport_conn_busy(c)) {
		xport_conn_destroy(c);
		l->conn_live = 0;
	}
}

static void connect_done(struct xport_op *op, int res)
{
	struct link *l = (struct link *)((char *)op - offsetof(struct link, connect_op));
	struct uffd_remote *rm = l->rm;
	struct uffd_ctx *ctx = rm->ctx;
	struct timespec now;
	int ret;

	l->connecting = 0;
	if (ctx->stopped) {
		close(l->fd);
		return;
	}
	if (res == 0) {
		ret = xport_conn_init(&l->conn, &rm->ep, l->fd, rm->peer, link_notify);
		if (!ret) {
			l->conn_live = 1;
			l->up = 1;
			l->down = 0;
			l->backoff_ms = 0;
			if (l->idx == LINK_BG)
				rm->nr_links = 2;
			fl_info(rm->peer, "%s link connected", l->idx == LINK_BG ? "background" : "fault");
			xport_conn_pump(&l->conn);
			return;
		}
		res = ret;
	}
	close(l->fd);
	if (l->idx == LINK_BG) {
		l->closed = 1;
		retire_bg_link(rm, strerror(-res));
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (uffd_elapsed(&l->down_since, &now) >= ctx->opts.reconnect_timeout) {
		uffd_fatal(ctx, "page server %s unreachable for %.1f s (%s); %llu lazy pages are "
			   "lost", rm->peer, ctx->opts.reconnect_timeout, strerror(-res),
			   (unsigned long long)(ctx->total_pages - ctx->stats.faulted -
						ctx->stats.prefetched));
		return;
	}
	arm_timer(l);
}

static void link_connect(struct link *l)
{
	struct uffd_remote *rm = l->rm;

	l->fd = socket(rm->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->fd < 0) {
		connect_done(&l->connect_op, -errno);
		return;
	}
	if (l->idx == LINK_FAULT)
		xport_set_tos(l->fd, rm->sa.ss_family, UFFD_FAULT_TOS);
	l->connecting = 1;
	struct io_uring_sqe *sqe = xport_ring_sqe(&rm->ctx->ring, &l->connect_op);
	io_uring_prep_connect(sqe, l->fd, (struct sockaddr *)&rm->sa, rm->salen);
}

static void timer_done(struct xport_op *op, int res)
{
	struct link *l = (struct link *)((char *)op - offsetof(struct link, timer_op));

	(void)res;
	if (l->rm->ctx->stopped)
		return;
	if (l->conn_live) { /* the old connection still has operations in flight */
		arm_timer(l);
		return;
	}
	link_connect(l);
}

static int resolve(struct uffd_remote *rm, const char *addr, uint16_t port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	char service[8];
	int ret;

	snprintf(service, sizeof(service), "%u", port);
	ret = getaddrinfo(addr, service, &hints, &res);
	if (ret) {
		fprintf(stderr, "lazy-pages: cannot resolve page server %s: %s\n", addr,
			gai_strerror(ret));
		return -EHOSTUNREACH;
	}
	memcpy(&rm->sa, res->ai_addr, res->ai_addrlen);
	rm->salen = res->ai_addrlen;
	freeaddrinfo(res);
	xport_addr_str((struct sockaddr *)&rm->sa, rm->peer, sizeof(rm->peer));
	return 0;
}

int uffd_remote_open(struct uffd_ctx *ctx, SSL_CTX *tls)
{
	struct uffd_remote *rm = calloc(1, sizeof(*rm));
	int ret, fd;

	if (!rm)
		return -ENOMEM;
	rm->ctx = ctx;
	rm->tls = tls;
	rm->nr_links = 1;
	for (int i = 0; i < 2; i++) {
		rm->links[i] = (struct link){ .rm = rm, .idx = i, .fd = -1 };
		rm->links[i].connect_op.done = connect_done;
		rm->links[i].timer_op.done = timer_done;
	}
	ret = resolve(rm, ctx->opts.address, ctx->opts.port);
	if (ret)
		goto err_free;
	ret = xport_endpoint_init(&rm->ep, &ctx->ring, tls, 0);
	if (ret)
		goto err_free;
	/* The first connection is made before restore starts, so a wrong
	 * address or a dead server is reported at once. */
	ret = xport_connect_tos(ctx->opts.address, ctx->opts.port, UFFD_FAULT_TOS, &fd);
	if (ret) {
		fprintf(stderr, "lazy-pages: cannot connect to page server %s: %s\n", rm->peer,
			strerror(-ret));
		goto err_fini;
	}
	ctx->remote = rm;
	ctx->fetch = &remote_ops;
	rm->links[LINK_FAULT].fd = fd;
	return 0;

err_fini:
	xport_endpoint_fini(&rm->ep);
err_free:
	free(rm);
	return ret;
}

int uffd_remote_fault_link(const struct uffd_ctx *ctx)
{
	return ctx->remote && ctx->remote->nr_links == 2;
}

void uffd_remote_start(struct uffd_ctx *ctx)
{
	struct uffd_remote *rm = ctx->remote;

	/* The ring exists now (after -d's fork): start TLS on the first link. */
	connect_done(&rm->links[LINK_FAULT].connect_op, 0);
}

void uffd_remote_free(struct uffd_ctx *ctx)
{
	struct uffd_remote *rm = ctx->remote;

	if (!rm)
		return;
	for (int i = 0; i < 2; i++) {
		struct link *l = &rm->links[i];
		while (l->head)
			free(dequeue(l));
		if (l->conn_live)
			xport_conn_destroy(&l->conn);
	}
	xport_endpoint_fini(&rm->ep);
	free(rm);
	ctx->remote = NULL;
}
