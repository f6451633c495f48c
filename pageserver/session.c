/* SPDX-License-Identifier: MIT */
/* One client of the page server: read headers, answer GETs in order, close.
 *
 * A GET is validated whole before its reply header goes out; the data then
 * streams in chunks: io_uring read from pages-N.img into the connection's
 * write buffer, commit (encrypting under TLS), send.  At most one read is in
 * flight and at most OUT_HIGH bytes are queued, so a session's memory stays
 * bounded whatever the request size.  Any bad input ends this session only.
 * A live source (live.c) has no file: each chunk is copied synchronously from
 * the frozen task straight into the write buffer (process_vm_readv). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "pageserver/server.h"

enum {
	CHUNK_PAGES = 64,             /* 256 KiB per file read */
	OUT_HIGH = 1024 * 1024,       /* queued bytes above which we stop reading */
};

enum ps_state { S_SERVING, S_CLOSING, S_DONE };

struct ps_session {
	struct xport_conn conn; /* first: notify() gets &conn */
	struct ps_server *srv;
	struct ps_session *prev, *next;
	enum xport_proto_ver ver;
	enum ps_state state;
	/* The reply being streamed. */
	struct ps_task *task;
	uint64_t vaddr, left; /* next page to send, pages still to send */
	size_t read_len;
	struct xport_op read_op;
	unsigned read_busy : 1, logged_end : 1;
	uint64_t gets, pages;
	struct timespec start;
};

static double elapsed(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

static int fail(struct ps_session *s, int err, const char *why)
{
	return xport_conn_fail(&s->conn, err, "%s", why);
}

static int start_get(struct ps_session *s, const struct xport_msg *m)
{
	uint8_t hdr[XPORT_HDR_MAX];
	uint64_t off, run;
	char why[200];
	int ret;

	s->task = ps_source_find(s->srv->src, (int64_t)m->dst_id);
	if (!s->task) {
		snprintf(why, sizeof(why), "GET for unknown pid %llu (not in pstree.img)",
			 (unsigned long long)m->dst_id);
		return fail(s, -ESRCH, why);
	}
	if (s->srv->src->live_root)
		ret = ps_live_lookup(s->task, m->vaddr, m->nr_pages);
	else
		ret = img_pagemap_lookup(&s->task->pm, m->vaddr, m->nr_pages, &off, &run);
	if (ret) {
		static const char *const reasons[] = {
			[ENOENT] = "outside every pagemap entry",
			[EACCES] = "not lazy (restore already has them)",
			[ENODATA] = "lazy but without data in the images",
			[ERANGE] = "running past the end of the lazy run",
			[EINVAL] = "unaligned or empty",
		};
		const char *r = -ret < (int)(sizeof(reasons) / sizeof(reasons[0])) && reasons[-ret]
					? reasons[-ret] : strerror(-ret);
		snprintf(why, sizeof(why), "GET pid %d vaddr 0x%llx nr_pages %llu: pages %s",
			 s->task->pid, (unsigned long long)m->vaddr,
			 (unsigned long long)m->nr_pages, r);
		return fail(s, ret, why);
	}
	struct xport_msg reply = { .cmd = XPORT_CMD_ADD_F, .flags = XPORT_PE_PRESENT,
				   .nr_pages = m->nr_pages, .vaddr = m->vaddr,
				   .dst_id = m->dst_id };
	ret = xport_hdr_encode(s->ver, &reply, hdr, sizeof(hdr));
	if (ret < 0)
		return fail(s, ret, "cannot encode the GET reply");
	/* The header goes alone: under TLS it becomes its own record (interop rule). */
	ret = xport_conn_write(&s->conn, hdr, (size_t)ret);
	if (ret)
		return fail(s, ret, "out of memory");
	s->vaddr = m->vaddr;
	s->left = m->nr_pages;
	s->gets++;
	fl_dbg(s->conn.peer, "GET pid %d vaddr 0x%llx nr %llu", s->task->pid,
	       (unsigned long long)m->vaddr, (unsigned long long)m->nr_pages);
	return 0;
}

static int start_close(struct ps_session *s, unsigned cmd)
{
	static const uint8_t status[XPORT_CLOSE_REPLY_SIZE] = { 0 };
	int ret = xport_conn_write(&s->conn, status, sizeof(status));

	if (!ret)
		ret = xport_conn_shutdown(&s->conn);
	if (ret)
		return fail(s, ret, "cannot queue the CLOSE reply");
	fl_dbg(s->conn.peer, "%s", xport_cmd_name(cmd));
	s->state = S_CLOSING;
	return 0;
}

static int pick_version(struct ps_session *s)
{
	const uint8_t *p = s->conn.in.data + s->conn.in.off;
	int ret;

	if (s->ver != XPORT_PROTO_AUTO)
		return 0;
	ret = xport_detect_version(p, s->conn.in.len, &s->ver);
	if (ret == -EAGAIN)
		return XPORT_AGAIN;
	if (ret)
		return fail(s, -EPROTO,
			    "first header is neither a CRIU 4.1 nor a 4.2 GET/CLOSE");
	fl_info(s->conn.peer, "client speaks the CRIU %s page-server protocol (%zu-byte headers)",
		s->ver == XPORT_PROTO_41 ? "4.1" : "4.2+", xport_hdr_size(s->ver));
	return 0;
}

/* Handles one buffered header.  Returns 0, XPORT_AGAIN (need more bytes) or -errno. */
static int handle_header(struct ps_session *s)
{
	struct xport_msg m;
	char why[96];
	int ret = pick_version(s);

	if (ret)
		return ret;
	ret = xport_hdr_decode(s->ver, s->conn.in.data + s->conn.in.off, s->conn.in.len, &m);
	if (ret == -EAGAIN)
		return XPORT_AGAIN;
	xport_conn_consume(&s->conn, xport_hdr_size(s->ver));
	switch (m.cmd) {
	case XPORT_CMD_GET:
		return start_get(s, &m);
	case XPORT_CMD_CLOSE:
	case XPORT_CMD_FORCE_CLOSE:
		return start_close(s, m.cmd);
	default:
		if (xport_cmd_name(m.cmd))
			snprintf(why, sizeof(why), "unsupported command %s: this server only serves "
				 "lazy pages", xport_cmd_name(m.cmd));
		else
			snprintf(why, sizeof(why), "unknown command 0x%x", m.cmd);
		return fail(s, -EPROTO, why);
	}
}

static void read_done(struct xport_op *op, int res);

/* Queues the next file read of the reply in flight. */
static void submit_read(struct ps_session *s)
{
	uint64_t off, run;
	int ret = img_pagemap_lookup(&s->task->pm, s->vaddr, s->left, &off, &run);

	if (ret) {
		fail(s, ret, "pagemap lookup failed mid-reply");
		return;
	}
	if (run > CHUNK_PAGES)
		run = CHUNK_PAGES;
	s->read_len = run * XPORT_PAGE_SIZE;
	void *buf = xport_conn_wbuf(&s->conn, s->read_len);
	if (!buf) {
		fail(s, -ENOMEM, "out of memory");
		return;
	}
	struct io_uring_sqe *sqe = xport_ring_sqe(&s->srv->ring, &s->read_op);
	io_uring_prep_read(sqe, s->task->pages_fd, buf, s->read_len, off);
	s->read_busy = 1;
}

static void step(struct ps_session *s);

static void account(struct ps_session *s, size_t len)
{
	uint64_t pages = len / XPORT_PAGE_SIZE;

	s->vaddr += pages * XPORT_PAGE_SIZE;
	s->left -= pages;
	s->pages += pages;
}

/* Live source: copies the next chunk from the frozen task into the write
 * buffer.  Returns 1 when the loop may go on at once, 0 when it must wait. */
static int live_fill(struct ps_session *s)
{
	size_t len = (s->left < CHUNK_PAGES ? s->left : CHUNK_PAGES) * XPORT_PAGE_SIZE;
	char why[200];
	void *buf;
	int ret;

	if (xport_conn_queued(&s->conn) >= OUT_HIGH)
		return 0;
	buf = xport_conn_wbuf(&s->conn, len);
	if (!buf)
		return fail(s, -ENOMEM, "out of memory"), 0;
	ret = ps_live_read(s->task, s->vaddr, buf, len, why, sizeof(why));
	if (ret)
		return fail(s, ret, why), 0;
	if (xport_conn_commit(&s->conn, len))
		return fail(s, -EIO, "TLS encryption failed"), 0;
	account(s, len);
	return 1;
}

static void read_done(struct xport_op *op, int res)
{
	struct ps_session *s = (struct ps_session *)((char *)op - offsetof(struct ps_session, read_op));
	char why[160];

	s->read_busy = 0;
	if (s->conn.err) {
		step(s);
		return;
	}
	if (res != (int)s->read_len) {
		snprintf(why, sizeof(why), "reading pages-%u.img: %s", s->task->pm.pages_id,
			 res < 0 ? strerror(-res) : "short read (file truncated while serving?)");
		fail(s, res < 0 ? res : -ENODATA, why);
	} else if (xport_conn_commit(&s->conn, s->read_len)) {
		fail(s, -EIO, "TLS encryption failed");
	} else {
		account(s, s->read_len);
	}
	step(s);
}

static void session_end(struct ps_session *s)
{
	struct ps_server *srv = s->srv;
	/* After our CLOSE reply, a client that resets instead of closing is fine. */
	int clean = s->state == S_CLOSING &&
		    (!s->conn.err || s->conn.err == -ECONNRESET || s->conn.err == -EPIPE);

	if (clean)
		s->conn.err = 0;
	if (s->conn.err)
		fl_err(s->conn.peer, "closing connection: %s", s->conn.errmsg);
	fl_info(s->conn.peer, "session %s: %llu GETs, %llu pages (%.1f MiB) in %.3f s",
		clean ? "closed" : s->conn.err ? "failed" : "ended by EOF",
		(unsigned long long)s->gets, (unsigned long long)s->pages,
		s->pages * 4096.0 / (1 << 20), elapsed(&s->start));
	srv->stats.sessions++;
	srv->stats.sessions_failed += !!s->conn.err;
	srv->stats.gets += s->gets;
	srv->stats.pages += s->pages;
	if (srv->opts.once) {
		srv->exit_code = s->conn.err ? 1 : 0;
		srv->stopping = 1;
	}
}

static int finished(struct ps_session *s)
{
	if (s->conn.err || s->state == S_DONE)
		return 1;
	/* EOF: after CLOSE it is the normal end; without CLOSE a lazy client
	 * simply went away.  Either way, finish sending what is queued first. */
	return s->conn.eof && !s->left && !xport_conn_queued(&s->conn);
}

static void step(struct ps_session *s)
{
	while (!s->conn.err && s->state == S_SERVING) {
		if (s->left && s->srv->src->live_root) {
			if (live_fill(s))
				continue;
			break;
		}
		if (s->left) {
			if (!s->read_busy && xport_conn_queued(&s->conn) < OUT_HIGH)
				submit_read(s);
			break;
		}
		if (handle_header(s))
			break;
	}
	if (!s->conn.err && s->conn.eof && s->state == S_SERVING && !s->left && s->conn.in.len)
		xport_conn_fail(&s->conn, -EPROTO, "short header: %zu bytes before EOF",
				s->conn.in.len);
	xport_conn_pump(&s->conn);
	if (!finished(s))
		return;
	if (s->state != S_DONE) {
		session_end(s);
		s->state = S_DONE;
	}
	if (s->conn.err)
		xport_conn_pump(&s->conn); /* flushes a TLS alert, then aborts */
	else
		xport_conn_abort(&s->conn);
	if (xport_conn_busy(&s->conn) || s->read_busy)
		return;
	if (s->prev)
		s->prev->next = s->next;
	else
		s->srv->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	xport_conn_destroy(&s->conn);
	free(s);
}

static void notify(struct xport_conn *c)
{
	step((struct ps_session *)c);
}

int ps_session_start(struct ps_server *srv, int fd, const char *peer)
{
	struct ps_session *s = calloc(1, sizeof(*s));
	int ret;

	if (!s)
		return -ENOMEM;
	ret = xport_conn_init(&s->conn, &srv->ep, fd, peer, notify);
	if (ret) {
		free(s);
		return ret;
	}
	s->srv = srv;
	s->ver = srv->opts.proto;
	s->read_op.done = read_done;
	clock_gettime(CLOCK_MONOTONIC, &s->start);
	s->next = srv->sessions;
	if (s->next)
		s->next->prev = s;
	srv->sessions = s;
	fl_info(peer, "connected%s", srv->ep.tls ? " (TLS)" : " (plain TCP)");
	step(s);
	return 0;
}

void ps_session_stop_all(struct ps_server *srv, const char *why)
{
	for (struct ps_session *s = srv->sessions, *n; s; s = n) {
		n = s->next;
		xport_conn_fail(&s->conn, -ECANCELED, "%s", why);
		step(s);
	}
}
