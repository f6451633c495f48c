/* SPDX-License-Identifier: MIT */
/*
 * relay: a TCP relay that delays every byte by a fixed time in each direction, and
 * optionally caps its rate: the latency of the lab link (bench/netlab.sh,
 * docs/netlab.md), since netem is not built on the platform. Each direction keeps a
 * byte ring and a ring of (end offset, time read) records; a byte read at t is written
 * no earlier than t + delay. One thread, level-triggered epoll, a min-heap of
 * per-direction deadlines, epoll_pwait2 for sub-millisecond timeouts.
 */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
"usage: relay --listen ADDR:PORT --target ADDR:PORT --delay MS [options]\n"
"\n"
"A TCP relay that delays every byte by MS milliseconds in each direction (one-way\n"
"delay: the RTT through it grows by 2*MS). Each connection accepted on --listen gets\n"
"its own connection to --target, opened MS ms after the accept; a FIN is passed on MS\n"
"ms after it came. Order is kept, and reading goes on while bytes wait, up to\n"
"--buffer bytes per direction (so throughput <= BUFFER / MS); then the relay stops\n"
"reading and TCP flow control slows the sender: memory stays bounded.\n"
"\n"
"    --listen ADDR:PORT  address to accept on: IPv4 or [IPv6], numeric\n"
"    --target ADDR:PORT  address to relay each connection to\n"
"    --delay MS          one-way delay in ms, decimals allowed; 0: a plain relay\n"
"    --rate BYTES/s      cap each direction of each connection, after the delay\n"
"                        (token bucket, burst max(64 KiB, rate/100)); default none\n"
"    --buffer BYTES      held per direction per connection (default 32Mi)\n"
"    --max-conns N       connections at once; more are refused (default 1024)\n"
"    --lifetime SECS     exit after SECS s (default 0: at SIGTERM/SIGINT only)\n"
"    -h, --help          show this help\n"
"Numbers take suffixes k M G (x1000) or Ki Mi Gi (x1024).\n"
"\n"
"Prints 'relay: listening on ADDR:PORT ..., pid N' on stderr once it accepts; on\n"
"exit, totals and how late bytes left after their due time (percentiles over\n"
"releases, 10 us steps). Exit status: 0 after SIGTERM/SIGINT or --lifetime, 1 setup\n"
"error, 2 usage error. A reset from either peer, or a refused connect, resets the\n"
"other side at once (not delayed).\n";

enum {
	RELAY_RECS = 8192,           /* records per direction: more reads in flight stall */
	READ_MAX = 256 << 10,        /* bytes per read(2), so writes start early */
	READS_PER_EVENT = 2,         /* fairness between connections */
	WRITE_MAX = 512 << 10,       /* bytes per write(2): the loop stays responsive */
	EVENTS = 128,
	LATE_BUCKETS = 500,          /* lateness histogram: 10 us buckets up to 5 ms */
};
#define COALESCE_NS 20000            /* reads this close share a record (the later time) */
#define NS 1000000000LL

static volatile sig_atomic_t stop;

struct rec {
	uint64_t end;                /* bytes [previous end, end) ... */
	int64_t t;                   /* ... were read by t (CLOCK_MONOTONIC ns), ... */
	int64_t t0;                  /* ... the first of them at t0 */
};

/* One direction: bytes read from conn->fd[side] and written to conn->fd[!side]. */
struct dir {
	struct conn *c;
	int side;
	char *buf;                   /* ring of o.buffer bytes, mapped on first read */
	uint64_t in, ok, out;        /* bytes read; whose time has come; written */
	struct rec *rec;             /* RELAY_RECS records, from rh to rt (free-running) */
	uint32_t rh, rt;
	int64_t eof_at;              /* time the FIN was read, or -1 */
	bool eof_out;                /* FIN passed on (shutdown SHUT_WR done) */
	bool want_out;               /* the last write was short: wait for EPOLLOUT */
	double tokens;               /* --rate token bucket */
	int64_t tb_t;
	int64_t deadline;            /* when to run dir_pump again; in the heap if hidx >= 0 */
	int hidx;
};

enum conn_state { CONN_WAIT, CONN_CONNECTING, CONN_OPEN, CONN_DEAD };

struct conn {
	struct relay *r;
	int fd[2];                   /* 0: the accepted client, 1: the target */
	uint32_t mask[2];            /* epoll interest registered now (0: not registered) */
	enum conn_state state;
	int64_t connect_at;
	struct dir d[2];             /* d[0]: client -> target, d[1]: target -> client */
	uint64_t id;
	uint32_t gen;                /* bumped when the slot is reused; in epoll events */
};

struct relay_opts {
	struct sockaddr_storage listen, target;
	socklen_t listen_len, target_len;
	int64_t delay;               /* ns */
	double rate;                 /* bytes/s, 0: none */
	double burst;
	size_t buffer;
	int max_conns, lifetime;
};

struct relay {
	struct relay_opts o;
	int ep, lfd;
	struct dir **heap;           /* 2 * max_conns entries */
	size_t hn;
	struct conn *conns;          /* max_conns slots ... */
	uint32_t *free_slots, nfree; /* ... of which these are free */
	uint64_t accepted, refused, bytes[2];
	uint64_t late_n, late_max;    /* lateness of releases (ns) ... */
	uint64_t late_hist[LATE_BUCKETS + 1];  /* ... in 10 us buckets, the last: more */
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * NS + ts.tv_nsec;
}

/* ---- timer heap: directions keyed by deadline ---- */

static void heap_swap(struct relay *r, size_t a, size_t b)
{
	struct dir *t = r->heap[a];

	r->heap[a] = r->heap[b];
	r->heap[b] = t;
	r->heap[a]->hidx = (int)a;
	r->heap[b]->hidx = (int)b;
}

static void heap_fix(struct relay *r, size_t i)
{
	while (i > 0 && r->heap[(i - 1) / 2]->deadline > r->heap[i]->deadline) {
		heap_swap(r, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	for (;;) {
		size_t l = 2 * i + 1, m = i;

		if (l < r->hn && r->heap[l]->deadline < r->heap[m]->deadline)
			m = l;
		if (l + 1 < r->hn && r->heap[l + 1]->deadline < r->heap[m]->deadline)
			m = l + 1;
		if (m == i)
			return;
		heap_swap(r, i, m);
		i = m;
	}
}

/* heap_set: give d the deadline t (-1: none). The heap has room for every direction
 * of --max-conns connections. */
static void heap_set(struct relay *r, struct dir *d, int64_t t)
{
	size_t i = (size_t)d->hidx;

	if (t < 0 && d->hidx >= 0) {
		heap_swap(r, i, --r->hn);
		d->hidx = -1;
		if (i < r->hn)
			heap_fix(r, i);
	} else if (t >= 0) {
		if (d->hidx < 0) {
			d->hidx = (int)r->hn;
			r->heap[r->hn++] = d;
		}
		d->deadline = t;
		heap_fix(r, (size_t)d->hidx);
	}
}

/* ---- connections ---- */

static void conn_close(struct conn *c, bool reset, const char *why)
{
	struct linger lg = { 1, 0 };   /* close with a RST */
	struct relay *r = c->r;

	if (c->state == CONN_DEAD)
		return;
	if (reset)
		fprintf(stderr, "relay: conn %" PRIu64 ": %s (%" PRIu64 " bytes to target, %"
			PRIu64 " to client)\n", c->id, why, c->d[0].out, c->d[1].out);
	for (int s = 0; s < 2; s++) {
		struct dir *d = &c->d[s];

		if (c->fd[s] >= 0 && reset)
			setsockopt(c->fd[s], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		if (c->fd[s] >= 0)
			close(c->fd[s]);
		heap_set(r, d, -1);
		r->bytes[s] += d->out;
		if (d->buf)
			munmap(d->buf, r->o.buffer + RELAY_RECS * sizeof(struct rec));
	}
	c->state = CONN_DEAD;
	r->free_slots[r->nfree++] = (uint32_t)(c - r->conns);
}

static uint32_t conn_want(const struct conn *c, int s)
{
	const struct dir *d = &c->d[s];
	uint32_t m = 0;

	if (c->fd[s] < 0)
		return 0;
	if ((s == 0 || c->state == CONN_OPEN) && d->eof_at < 0 &&
	    d->in - d->out < c->r->o.buffer && d->rt - d->rh < RELAY_RECS)
		m |= EPOLLIN;
	if (c->d[!s].want_out || (s == 1 && c->state == CONN_CONNECTING))
		m |= EPOLLOUT;
	return m;
}

/* conn_sync: make the epoll interest of both sockets match the state. A socket with
 * nothing to wait for is taken out of epoll, so a hang-up it reports cannot spin. */
static int conn_sync(struct conn *c)
{
	for (int s = 0; s < 2 && c->state != CONN_DEAD; s++) {
		uint32_t want = conn_want(c, s);
		struct epoll_event ev = { .events = want,
					  .data.u64 = (uint64_t)c->gen << 32 |
						      (uint64_t)(c - c->r->conns) << 1 | (uint64_t)s };
		int op = !c->mask[s] ? EPOLL_CTL_ADD : !want ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;

		if (want == c->mask[s])
			continue;
		if (epoll_ctl(c->r->ep, op, c->fd[s], &ev) < 0)
			return -errno;
		c->mask[s] = want;
	}
	return 0;
}

static int conn_connect(struct conn *c)
{
	const struct relay_opts *o = &c->r->o;
	int one = 1, fd = socket(o->target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	c->fd[1] = fd;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* Pass the client's IP TOS on (the accepted socket has it when the host
	 * reflects TOS, as the lab does): a low-delay connection stays one across. */
	if (o->target.ss_family == AF_INET) {
		int tos = 0;
		socklen_t len = sizeof(tos);

		if (!getsockopt(c->fd[0], IPPROTO_IP, IP_TOS, &tos, &len) && tos)
			setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos));
	}
	c->state = CONN_CONNECTING;
	if (connect(fd, (struct sockaddr *)&o->target, o->target_len) == 0)
		c->state = CONN_OPEN;
	return c->state == CONN_OPEN || errno == EINPROGRESS ? 0 : -errno;
}

/* ---- one direction ---- */

/* ring_iov: the n ring bytes from offset pos (mod the buffer size) as 1 or 2 iovecs. */
static int ring_iov(const struct dir *d, uint64_t pos, uint64_t n, struct iovec *iov)
{
	size_t cap = d->c->r->o.buffer;

	pos %= cap;
	iov[0] = (struct iovec){ d->buf + pos, n < cap - pos ? n : cap - pos };
	iov[1] = (struct iovec){ d->buf, n - iov[0].iov_len };
	return iov[1].iov_len ? 2 : 1;
}

static int64_t dir_token_wait(struct dir *d, int64_t now, uint64_t pending)
{
	const struct relay_opts *o = &d->c->r->o;
	double need = (double)pending < o->burst / 4 ? (double)pending : o->burst / 4;

	d->tokens += (double)(now - d->tb_t) * o->rate / NS;
	if (d->tokens > o->burst)
		d->tokens = o->burst;
	d->tb_t = now;
	if (d->tokens >= need)
		return 0;
	return now + (int64_t)((need - d->tokens) * NS / o->rate) + 1;
}

/* dir_write: write the released bytes the rate allows. 0, or -errno to drop the conn. */
static int dir_write(struct dir *d, int64_t now, int64_t *wait)
{
	const struct relay_opts *o = &d->c->r->o;
	uint64_t n = d->ok - d->out;
	struct iovec iov[2];
	ssize_t w;

	if (n > WRITE_MAX)
		n = WRITE_MAX;
	if (o->rate > 0) {
		*wait = dir_token_wait(d, now, n);
		if (*wait)
			return 0;
		if ((double)n > d->tokens)
			n = (uint64_t)d->tokens;
	}
	w = writev(d->c->fd[!d->side], iov, ring_iov(d, d->out, n, iov));
	if (w < 0)
		return errno == EAGAIN ? (d->want_out = true, 0) : -errno;
	d->out += (uint64_t)w;
	d->tokens -= (double)w;
	d->want_out = (uint64_t)w < n;
	return 0;
}

/* dir_pump: release the bytes whose time has come, write what the socket takes, pass
 * the FIN on when due, and set the next deadline. 0, or -errno to drop the conn. */
static int dir_pump(struct dir *d, int64_t now)
{
	struct conn *c = d->c;
	const struct relay_opts *o = &c->r->o;
	int64_t next = -1, wait = 0;
	int err;

	while (d->rh != d->rt && d->rec[d->rh % RELAY_RECS].t + o->delay <= now) {
		struct rec *rec = &d->rec[d->rh++ % RELAY_RECS];
		uint64_t late = (uint64_t)(now - rec->t - o->delay);

		d->ok = rec->end;
		c->r->late_n++;
		c->r->late_hist[late / 10000 < LATE_BUCKETS ? late / 10000 : LATE_BUCKETS]++;
		if (late > c->r->late_max)
			c->r->late_max = late;
	}
	if (d->rh != d->rt)
		next = d->rec[d->rh % RELAY_RECS].t + o->delay;
	if (c->state == CONN_WAIT && d->side == 0 && (next < 0 || c->connect_at < next))
		next = c->connect_at;
	if (c->state == CONN_OPEN && d->ok > d->out && !d->want_out) {
		err = dir_write(d, now, &wait);
		if (err)
			return err;
		/* More to write and the socket takes it: come back after the next poll. */
		if (!wait && d->ok > d->out && !d->want_out)
			wait = now_ns();
		if (wait && (next < 0 || wait < next))
			next = wait;
	}
	if (d->eof_at >= 0 && !d->eof_out && d->out == d->in && c->state == CONN_OPEN) {
		if (d->eof_at + o->delay <= now) {
			if (shutdown(c->fd[!d->side], SHUT_WR) < 0 && errno != ENOTCONN)
				return -errno;
			d->eof_out = true;
		} else if (next < 0 || d->eof_at + o->delay < next) {
			next = d->eof_at + o->delay;
		}
	}
	heap_set(c->r, d, next);
	return 0;
}

static void dir_record(struct dir *d, uint64_t n, int64_t now)
{
	struct rec *last = d->rh != d->rt ? &d->rec[(d->rt - 1) % RELAY_RECS] : NULL;

	d->in += n;
	/* Released at the latest read time: no byte leaves early, and the first ones
	 * leave at most COALESCE_NS late. */
	if (last && now - last->t0 < COALESCE_NS) {
		last->end = d->in;
		last->t = now;
		return;
	}
	d->rec[d->rt % RELAY_RECS] = (struct rec){ .end = d->in, .t = now, .t0 = now };
	d->rt++;
}

/* dir_alloc: map the byte ring and the records after it; pages are touched (and
 * cost memory) only as bytes come in. 0 or -ENOMEM. */
static int dir_alloc(struct dir *d)
{
	size_t len = d->c->r->o.buffer;
	char *p = mmap(NULL, len + RELAY_RECS * sizeof(struct rec), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return -ENOMEM;
	d->buf = p;
	d->rec = (struct rec *)(p + len);
	return 0;
}

/* dir_read: read what the socket has and the ring can hold, timestamping it.
 * 0, or -errno to drop the conn (-ECONNRESET and the like from the peer). */
static int dir_read(struct dir *d)
{
	uint64_t cap = d->c->r->o.buffer;
	int err;

	if (!d->buf && (err = dir_alloc(d)))
		return err;
	for (int i = 0; i < READS_PER_EVENT && d->eof_at < 0; i++) {
		uint64_t space = cap - (d->in - d->out);
		struct iovec iov[2];
		ssize_t n;

		if (!space || d->rt - d->rh >= RELAY_RECS)
			break;
		if (space > READ_MAX)
			space = READ_MAX;
		n = readv(d->c->fd[d->side], iov, ring_iov(d, d->in, space, iov));
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		if (n == 0)
			d->eof_at = now_ns();
		else
			dir_record(d, (uint64_t)n, now_ns());
		if ((uint64_t)n < space)
			break;
	}
	return 0;
}

/* ---- events ---- */

/* conn_step: after anything happened to c, pump both directions, close it when both
 * FINs have been passed on, and update its epoll interest. */
static void conn_step(struct conn *c, int64_t now)
{
	int err = 0;

	for (int s = 0; s < 2 && !err; s++)
		err = dir_pump(&c->d[s], now);
	if (!err && c->d[0].eof_out && c->d[1].eof_out) {
		conn_close(c, false, "closed");
		return;
	}
	if (!err)
		err = conn_sync(c);
	if (err)
		conn_close(c, true, strerror(-err));
}

static int conn_finish_connect(struct conn *c)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	if (getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		return -errno;
	c->state = soerr ? c->state : CONN_OPEN;
	return -soerr;
}

static void conn_event(struct conn *c, int s, uint32_t ev)
{
	int err = 0;

	if (c->state == CONN_DEAD)
		return;
	if (s == 1 && c->state == CONN_CONNECTING && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
		err = conn_finish_connect(c);
	else if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
		err = dir_read(&c->d[s]);
	if (!err && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
		c->d[!s].want_out = false;
	if (err)
		conn_close(c, true, strerror(-err));
	else
		conn_step(c, now_ns());
}

static void conn_timer(struct dir *d, int64_t now)
{
	struct conn *c = d->c;
	int err;

	heap_set(c->r, d, -1);
	if (c->state == CONN_WAIT && now >= c->connect_at && (err = conn_connect(c)))
		conn_close(c, true, strerror(-err));
	else
		conn_step(c, now);
}

/* conn_new: a free slot for the accepted socket fd. The slot's new generation makes
 * events still queued for its previous connection stale. */
static struct conn *conn_new(struct relay *r, int fd, int64_t now)
{
	struct conn *c = &r->conns[r->free_slots[--r->nfree]];
	uint32_t gen = c->gen + 1;

	*c = (struct conn){ .r = r, .fd = { fd, -1 }, .id = ++r->accepted, .gen = gen,
			    .state = CONN_WAIT, .connect_at = now + r->o.delay };
	for (int s = 0; s < 2; s++) {
		c->d[s] = (struct dir){ .c = c, .side = s, .eof_at = -1, .hidx = -1,
					.tokens = r->o.burst, .tb_t = now };
	}
	return c;
}

static void relay_accept(struct relay *r)
{
	for (int i = 0; i < 64; i++) {
		int one = 1, fd = accept4(r->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int64_t now = now_ns();
		struct conn *c;

		if (fd < 0)
			return;
		if (!r->nfree) {
			if (!r->refused++)
				fprintf(stderr, "relay: refusing connections beyond --max-conns %d\n",
					r->o.max_conns);
			close(fd);
			continue;
		}
		c = conn_new(r, fd, now);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		/* The connect (the SYN) is delayed like the data; at delay 0 it is immediate. */
		heap_set(r, &c->d[0], c->connect_at);
		if (r->o.delay == 0)
			conn_timer(&c->d[0], now);
		else if (conn_sync(c) < 0)
			conn_close(c, true, "epoll_ctl failed");
	}
}

static void relay_timers(struct relay *r, int64_t now)
{
	/* Bounded: each pass pops a deadline that is due; a pump sets a later one. */
	for (size_t i = 0; r->hn && r->heap[0]->deadline <= now && i < 1000000; i++)
		conn_timer(r->heap[0], now);
}

/* relay_run: the event loop, until a signal or --lifetime. 0 or -errno. */
static int relay_run(struct relay *r, const sigset_t *waitmask)
{
	int64_t end = r->o.lifetime ? now_ns() + r->o.lifetime * NS : INT64_MAX;
	struct epoll_event evs[EVENTS];

	while (!stop) {
		int64_t now = now_ns(), next = end;
		struct timespec ts;
		int n;

		relay_timers(r, now);
		if (now >= end)
			break;
		if (r->hn && r->heap[0]->deadline < next)
			next = r->heap[0]->deadline;
		next = next > now ? next - now : 0;
		ts = (struct timespec){ next / NS, next % NS };
		n = epoll_pwait2(r->ep, evs, EVENTS, &ts, waitmask);
		if (n < 0 && errno != EINTR)
			return -errno;
		for (int i = 0; i < n; i++) {
			uint64_t u = evs[i].data.u64;

			/* Bytes due while earlier events were handled go out first. */
			if (i && r->hn && r->heap[0]->deadline <= (now = now_ns()))
				relay_timers(r, now);

			if (u == UINT64_MAX)
				relay_accept(r);
			else if (r->conns[(uint32_t)u >> 1].gen == u >> 32)
				conn_event(&r->conns[(uint32_t)u >> 1], (int)(u & 1), evs[i].events);
		}
	}
	return 0;
}

/* ---- setup ---- */

/* parse_addr: numeric "HOST:PORT" or "[V6]:PORT" into ss. 0 or -EINVAL. */
static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV }, *ai;
	const char *colon = strrchr(s, ':');
	size_t hl = colon ? (size_t)(colon - s) : 0;
	char host[64];

	if (!hl || hl >= sizeof(host) || !colon[1])
		return -EINVAL;
	if (s[0] == '[' && colon[-1] == ']')
		s++, hl -= 2;
	memcpy(host, s, hl);
	host[hl] = 0;
	if (getaddrinfo(host, colon + 1, &hints, &ai))
		return -EINVAL;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static void format_addr(const struct sockaddr_storage *ss, socklen_t len, char *out, size_t n)
{
	char h[INET6_ADDRSTRLEN] = "?", p[8] = "?";

	getnameinfo((const struct sockaddr *)ss, len, h, sizeof(h), p, sizeof(p),
		    NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(out, n, ss->ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", h, p);
}

/* parse_num: a non-negative number with an optional k/M/G (x1000) or Ki/Mi/Gi (x1024)
 * suffix. 0 or -EINVAL. */
static int parse_num(const char *s, double *v)
{
	static const struct { const char *sfx; double mul; } sfx[] = {
		{ "", 1 }, { "k", 1e3 }, { "K", 1e3 }, { "M", 1e6 }, { "G", 1e9 },
		{ "Ki", 1024.0 }, { "Mi", 1048576.0 }, { "Gi", 1073741824.0 },
	};
	char *end;
	double x = strtod(s, &end);

	if (end == s || !(x >= 0) || x > 1e15)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		if (!strcmp(end, sfx[i].sfx)) {
			*v = x * sfx[i].mul;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_opt(struct relay_opts *o, const char *k, const char *v, bool *have)
{
	double x;

	if (!strcmp(k, "--listen"))
		return have[0] = true, parse_addr(v, &o->listen, &o->listen_len);
	if (!strcmp(k, "--target"))
		return have[1] = true, parse_addr(v, &o->target, &o->target_len);
	if (parse_num(v, &x) < 0)
		return -EINVAL;
	if (!strcmp(k, "--delay")) {
		have[2] = true;
		o->delay = (int64_t)(x * 1e6 + 0.5);
		return x <= 3600e3 ? 0 : -EINVAL;
	}
	if (!strcmp(k, "--rate"))
		o->rate = x;
	else if (!strcmp(k, "--buffer") && x >= 4096 && x <= 1e12)
		o->buffer = (size_t)x;
	else if (!strcmp(k, "--max-conns") && x >= 1 && x <= 1e6)
		o->max_conns = (int)x;
	else if (!strcmp(k, "--lifetime") && x <= 1e7)
		o->lifetime = (int)x;
	else
		return -EINVAL;
	return 0;
}

/* parse_args: fill o from argv. 0, 1 for --help, or -EINVAL (message printed). */
static int parse_args(int argc, char **argv, struct relay_opts *o)
{
	bool have[3] = { false, false, false };

	*o = (struct relay_opts){ .buffer = 32u << 20, .max_conns = 1024 };
	for (int i = 1; i < argc; i += 2) {
		const char *k = argv[i];

		if (!strcmp(k, "-h") || !strcmp(k, "--help"))
			return 1;
		if (i + 1 >= argc || parse_opt(o, k, argv[i + 1], have) < 0) {
			fprintf(stderr, "relay: bad option: %s %s\n", k, i + 1 < argc ? argv[i + 1] : "");
			return -EINVAL;
		}
	}
	if (!have[0] || !have[1] || !have[2]) {
		fprintf(stderr, "relay: --listen, --target and --delay are required\n");
		return -EINVAL;
	}
	o->burst = o->rate / 100 > 65536 ? o->rate / 100 : 65536;
	return 0;
}

static int relay_listen(struct relay *r)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = UINT64_MAX };
	int one = 1;

	r->heap = calloc(2 * (size_t)r->o.max_conns, sizeof(*r->heap));
	r->conns = calloc((size_t)r->o.max_conns, sizeof(*r->conns));
	r->free_slots = calloc((size_t)r->o.max_conns, sizeof(*r->free_slots));
	if (!r->heap || !r->conns || !r->free_slots)
		return -ENOMEM;
	for (r->nfree = 0; r->nfree < (uint32_t)r->o.max_conns; r->nfree++)
		r->free_slots[r->nfree] = (uint32_t)r->o.max_conns - 1 - r->nfree;
	r->ep = epoll_create1(EPOLL_CLOEXEC);
	if (r->ep < 0)
		return -errno;
	r->lfd = socket(r->o.listen.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r->lfd < 0)
		return -errno;
	setsockopt(r->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(r->lfd, (struct sockaddr *)&r->o.listen, r->o.listen_len) < 0 ||
	    listen(r->lfd, 1024) < 0)
		return -errno;
	r->o.listen_len = sizeof(r->o.listen);
	if (getsockname(r->lfd, (struct sockaddr *)&r->o.listen, &r->o.listen_len) < 0)
		return -errno;
	return epoll_ctl(r->ep, EPOLL_CTL_ADD, r->lfd, &ev) < 0 ? -errno : 0;
}

/* print_lateness: how late after their due time bytes were released, as percentiles
 * over releases (the upper edge of their 10 us bucket). */
static void print_lateness(const struct relay *r)
{
	static const double pct[] = { 0.5, 0.9, 0.99 };
	uint64_t seen = 0, b = 0, p[3];

	if (!r->late_n || !r->o.delay)
		return;
	for (int i = 0; i < 3; i++) {
		while (b < LATE_BUCKETS && seen + r->late_hist[b] < pct[i] * (double)r->late_n)
			seen += r->late_hist[b++];
		p[i] = (b + 1) * 10;
	}
	fprintf(stderr, "relay: %" PRIu64 " releases late by p50 <%" PRIu64 " us, p90 <%" PRIu64
		" us, p99 <%" PRIu64 " us, max %.0f us\n", r->late_n, p[0], p[1], p[2],
		(double)r->late_max / 1e3);
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* setup_signals: SIGTERM/SIGINT set `stop`; they are blocked except inside
 * epoll_pwait2 (waitmask), so one cannot slip in between the check and the wait. */
static void setup_signals(sigset_t *waitmask)
{
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t block;

	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, waitmask);
	sigdelset(waitmask, SIGTERM);
	sigdelset(waitmask, SIGINT);
}

int main(int argc, char **argv)
{
	struct relay r = { .ep = -1, .lfd = -1 };
	char la[80], ta[80];
	sigset_t waitmask;
	int err = parse_args(argc, argv, &r.o);

	if (err) {
		fputs(err > 0 ? usage : "see relay --help\n", err > 0 ? stdout : stderr);
		return err > 0 ? 0 : 2;
	}
	setup_signals(&waitmask);
	/* Deadlines are sub-millisecond: don't let the default 50 us timer slack add up. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	err = relay_listen(&r);
	format_addr(&r.o.listen, r.o.listen_len, la, sizeof(la));
	format_addr(&r.o.target, r.o.target_len, ta, sizeof(ta));
	if (err) {
		fprintf(stderr, "relay: cannot listen on %s: %s\n", la, strerror(-err));
		return 1;
	}
	fprintf(stderr, "relay: listening on %s, target %s, delay %.3f ms, rate %.0f B/s, "
		"buffer %zu, pid %d\n", la, ta, (double)r.o.delay / 1e6, r.o.rate, r.o.buffer,
		(int)getpid());
	err = relay_run(&r, &waitmask);
	fprintf(stderr, "relay: exit%s%s: %" PRIu64 " connections (%" PRIu64 " refused), %"
		PRIu64 " bytes to target, %" PRIu64 " to clients (closed connections)\n",
		err ? ": " : "", err ? strerror(-err) : "", r.accepted, r.refused, r.bytes[0],
		r.bytes[1]);
	print_lateness(&r);
	free(r.heap);
	free(r.conns);
	free(r.free_slots);
	return err ? 1 : 0;
}
