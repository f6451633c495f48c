/* SPDX-License-Identifier: MIT */
/*
 * loadgen: closed-loop SET/GET load on a real key-value server (redis: RESP;
 * memcached: the ASCII protocol), its throughput over time, and a byte-for-byte check
 * of every key (--fill, then --verify after a migration). One thread, epoll, N
 * connections, each with K requests in flight (sent as one batch once the previous
 * batch is answered). The value of key i is a fixed function of i and --value-size,
 * so SETs under load never change what --verify expects.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_net.h"

static const char usage[] =
"usage: loadgen --connect ADDR:PORT --proto redis|memcached [options]\n"
"\n"
"Closed-loop load: --conns connections, each sending --pipeline requests at once and\n"
"the next batch when all are answered. Each request is a SET (probability\n"
"--set-ratio) or a GET of a key drawn uniformly from key:00000000 .. key:<keys-1>.\n"
"The value of key i is a fixed pseudo-random string of --value-size bytes.\n"
"\n"
"    --connect ADDR:PORT  the server: IPv4, [IPv6] or a host name\n"
"    --proto P            redis (RESP) or memcached (ASCII protocol)\n"
"    --conns N            connections (default 4)\n"
"    --pipeline K         requests in flight per connection (default 8)\n"
"    --keys N             key space (default 10000)\n"
"    --value-size B       bytes per value (default 100)\n"
"    --set-ratio R        share of SETs, 0..1 (default 0.1)\n"
"    --stats FILE         append \"<CLOCK_REALTIME ms> <ops completed in 100 ms>\" every\n"
"                         100 ms\n"
"    --duration S         stop after S seconds (default: at SIGTERM/SIGINT/--until-file)\n"
"    --until-file F       stop once F exists\n"
"    --timeout S          a connection with no reply for S s is lost (default 30)\n"
"    --fill               SET every key once, in order, then exit\n"
"    --verify             GET every key, in order, and check each value byte for byte;\n"
"                         exit 1 at the first missing or different value\n"
"    -h, --help           show this help\n"
"\n"
"At exit, one JSON line on stdout: {\"mode\":..,\"ops\":N,\"sets\":N,\"gets\":N,\n"
"\"misses\":N,\"seconds\":X,\"ops_per_s\":X,\"max_stall_ms\":X,\"conn_lost\":B,\"error\":\"..\"}\n"
"(max_stall_ms: the longest time without any reply while requests were in flight).\n"
"Exit status: 0; 1 on a lost connection, a server error or a --verify mismatch; 2 usage.\n";

enum proto { P_REDIS, P_MEMCACHED };
enum mode { M_LOAD, M_FILL, M_VERIFY };
enum { MAX_PIPE = 1024, RBUF = 1 << 20 };

static volatile sig_atomic_t stop;

struct conn {
	int fd;
	uint32_t keys[MAX_PIPE];      /* the keys in flight, in order */
	bool is_set[MAX_PIPE];
	int head, inflight;
	char *rbuf;
	size_t rlen;
};

struct lg {
	/* options */
	const char *connect, *stats, *until;
	enum proto proto;
	enum mode mode;
	int nconns, pipeline;
	uint32_t keys, vsize;
	double set_ratio, duration_s, timeout_s;
	/* state */
	struct conn *c;
	int ep, sfd;
	uint64_t rng, next_key, ops, sets, gets, misses, interval_ops;
	int64_t t0, last_reply, max_stall, next_stats;
	char *val, *req;             /* scratch: one value, one batch of requests */
	bool conn_lost, failed;
	char err[256];
};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* The value of KEY: VSIZE printable bytes into OUT. */
static void value_of(uint32_t key, uint32_t vsize, char *out)
{
	uint64_t w = 0;

	for (uint32_t i = 0; i < vsize; i++) {
		if (!(i % 8))
			w = mix64(((uint64_t)key << 32 | i) + 0x9e3779b97f4a7c15ULL);
		out[i] = (char)('a' + (w & 0xff) % 26);
		w >>= 8;
	}
}

static int fail(struct lg *g, bool lost, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct lg *g, bool lost, const char *fmt, ...)
{
	va_list ap;

	if (!g->err[0]) {
		va_start(ap, fmt);
		vsnprintf(g->err, sizeof(g->err), fmt, ap);
		va_end(ap);
	}
	g->conn_lost |= lost;
	g->failed = true;
	return -EPROTO;
}

static int dial(struct lg *g)
{
	char err[sizeof(g->err)];
	int fd = bench_tcp_connect(g->connect, err, sizeof(err));

	if (fd < 0)
		return fail(g, fd != -EINVAL, "%s", err), fd;
	return fd;
}

/* Appends one request for KEY to the batch at *OFF. */
static void add_request(struct lg *g, uint32_t key, bool set, size_t *off)
{
	char k[16], *o = g->req + *off;
	int n;

	snprintf(k, sizeof(k), "key:%08u", key);
	if (g->proto == P_REDIS && set)
		n = sprintf(o, "*3\r\n$3\r\nSET\r\n$%zu\r\n%s\r\n$%u\r\n", strlen(k), k, g->vsize);
	else if (g->proto == P_REDIS)
		n = sprintf(o, "*2\r\n$3\r\nGET\r\n$%zu\r\n%s\r\n", strlen(k), k);
	else if (set)
		n = sprintf(o, "set %s 0 0 %u\r\n", k, g->vsize);
	else
		n = sprintf(o, "get %s\r\n", k);
	*off += (size_t)n;
	if (set) {
		value_of(key, g->vsize, g->req + *off);
		memcpy(g->req + *off + g->vsize, "\r\n", 2);
		*off += g->vsize + 2;
	}
}

/* Sends the next batch on C; 0, 1 when there is nothing left to send, or -errno. */
static int send_batch(struct lg *g, struct conn *c)
{
	size_t off = 0;

	c->head = c->inflight = 0;
	for (int i = 0; i < g->pipeline; i++) {
		uint32_t key;
		bool set;

		if (g->mode != M_LOAD) {
			if (g->next_key >= g->keys)
				break;
			key = (uint32_t)g->next_key++;
			set = g->mode == M_FILL;
		} else {
			g->rng += 0x9e3779b97f4a7c15ULL;
			uint64_t r = mix64(g->rng);
			key = (uint32_t)((r >> 32) % g->keys);
			set = (double)(r & 0xffffffff) < g->set_ratio * 4294967296.0;
		}
		c->keys[c->inflight] = key;
		c->is_set[c->inflight++] = set;
		add_request(g, key, set, &off);
	}
	if (!c->inflight)
		return 1;
	for (size_t done = 0; done < off;) {
		ssize_t w = send(c->fd, g->req + done, off - done, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return fail(g, true, "send to %s: %s", g->connect, strerror(errno));
		done += (size_t)w;
	}
	return 0;
}

/* Length of the line at B (up to N bytes) with its "\r\n", or 0 if incomplete. */
static size_t line_len(const char *b, size_t n)
{
	const char *nl = memchr(b, '\n', n);

	return nl ? (size_t)(nl - b) + 1 : 0;
}

/* Parses one reply at B (N bytes). Returns its length, 0 if incomplete, -1 if
 * malformed. *DATA, *DLEN: a GET's value (NULL on a miss); *OK: a SET's success. */
static long parse_reply(const struct lg *g, const char *b, size_t n, const char **data,
			long *dlen, bool *ok)
{
	size_t l = line_len(b, n);
	unsigned long flags, bytes;

	*data = NULL, *dlen = -1, *ok = false;
	if (!l)
		return 0;
	if (g->proto == P_REDIS) {
		if (b[0] == '+')
			return *ok = !strncmp(b, "+OK\r\n", 5), (long)l;
		if (b[0] != '$')
			return -1;
		*dlen = strtol(b + 1, NULL, 10);
		if (*dlen < 0)
			return (long)l;
		if (n < l + (size_t)*dlen + 2)
			return 0;
		*data = b + l;
		return (long)(l + (size_t)*dlen + 2);
	}
	if (!strncmp(b, "STORED\r\n", 8))
		return *ok = true, (long)l;
	if (!strncmp(b, "END\r\n", 5))
		return (long)l;
	if (sscanf(b, "VALUE %*s %lu %lu", &flags, &bytes) != 2)
		return -1;
	if (n < l + bytes + 2 + 5)
		return 0;
	if (strncmp(b + l + bytes, "\r\nEND\r\n", 7))
		return -1;
	*data = b + l, *dlen = (long)bytes;
	return (long)(l + bytes + 7);
}

/* Checks one reply against the request it answers. */
static int check_reply(struct lg *g, struct conn *c, const char *data, long dlen, bool ok)
{
	uint32_t key = c->keys[c->head];

	if (c->is_set[c->head]) {
		g->sets++;
		return ok ? 0 : fail(g, false, "SET key:%08u was refused", key);
	}
	g->gets++;
	if (!data) {
		g->misses++;
		return g->mode == M_VERIFY ? fail(g, false, "key:%08u is missing", key) : 0;
	}
	if (g->mode == M_VERIFY || dlen != (long)g->vsize) {
		value_of(key, g->vsize, g->val);
		if (dlen != (long)g->vsize)
			return fail(g, false, "key:%08u has %ld bytes, expected %u", key, dlen, g->vsize);
		for (long i = 0; i < dlen; i++)
			if (data[i] != g->val[i])
				return fail(g, false, "key:%08u differs at byte %ld: 0x%02x, expected 0x%02x",
					    key, i, (unsigned char)data[i], (unsigned char)g->val[i]);
	}
	return 0;
}

/* Reads what C's server sent and consumes the complete replies; a finished batch is
 * followed by the next one. 0 or -errno. */
static int on_readable(struct lg *g, struct conn *c)
{
	ssize_t r = recv(c->fd, c->rbuf + c->rlen, RBUF - c->rlen, 0);
	size_t off = 0;

	if (r == 0)
		return fail(g, true, "connection closed by %s", g->connect);
	if (r < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : fail(g, true, "recv from %s: %s", g->connect, strerror(errno));
	c->rlen += (size_t)r;
	for (;;) {
		const char *data;
		long dlen, n;
		bool ok;

		if (!c->inflight && c->rlen > off)
			return fail(g, false, "unexpected data from %s", g->connect);
		if (!c->inflight)
			break;
		n = parse_reply(g, c->rbuf + off, c->rlen - off, &data, &dlen, &ok);
		if (n < 0)
			return fail(g, false, "bad reply from %s: %.40s", g->connect, c->rbuf + off);
		if (n == 0)
			break;
		if (check_reply(g, c, data, dlen, ok))
			return -EPROTO;
		off += (size_t)n;
		c->head++, c->inflight--, g->ops++, g->interval_ops++;
		g->last_reply = mono_ns();
		if (!c->inflight && !stop && send_batch(g, c) < 0)
			return -EPROTO;
	}
	memmove(c->rbuf, c->rbuf + off, c->rlen - off);
	c->rlen -= off;
	if (c->rlen == RBUF)
		return fail(g, false, "reply larger than %d bytes from %s", RBUF, g->connect);
	return 0;
}

static void stats_tick(struct lg *g, int64_t now)
{
	struct timespec rt;
	char line[64];
	int n;

	if (now < g->next_stats)
		return;
	g->next_stats = now + 100000000;
	if (g->sfd < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &rt);
	n = snprintf(line, sizeof(line), "%" PRId64 " %" PRIu64 "\n",
		     (int64_t)rt.tv_sec * 1000 + rt.tv_nsec / 1000000, g->interval_ops);
	if (write(g->sfd, line, (size_t)n) == n)
		g->interval_ops = 0;
}

static bool should_stop(struct lg *g, int64_t now)
{
	return stop || (g->duration_s > 0 && now - g->t0 >= (int64_t)(g->duration_s * 1e9)) ||
	       (g->until && !access(g->until, F_OK));
}

/* Whether any connection waits for replies. */
static bool busy(const struct lg *g)
{
	for (int i = 0; i < g->nconns; i++)
		if (g->c[i].inflight)
			return true;
	return false;
}

static int loop(struct lg *g)
{
	struct epoll_event ev[64];

	while (!g->failed && busy(g)) {
		int64_t now = mono_ns();

		if (now - g->last_reply > g->max_stall)
			g->max_stall = now - g->last_reply;
		if (now - g->last_reply > (int64_t)(g->timeout_s * 1e9))
			return fail(g, true, "no reply from %s for %.0f s", g->connect, g->timeout_s);
		stats_tick(g, now);
		if (!stop && should_stop(g, now))
			stop = 1; /* no new batches; the ones in flight are finished */
		int n = epoll_wait(g->ep, ev, 64, 50);
		for (int i = 0; i < n && !g->failed; i++)
			on_readable(g, &g->c[ev[i].data.u32]);
	}
	return g->failed ? -EPROTO : 0;
}

static int setup(struct lg *g)
{
	size_t reqsz = (size_t)g->pipeline * (g->vsize + 96);

	g->c = calloc((size_t)g->nconns, sizeof(*g->c));
	g->val = malloc(g->vsize + 1);
	g->req = malloc(reqsz);
	g->ep = epoll_create1(EPOLL_CLOEXEC);
	if (!g->c || !g->val || !g->req || g->ep < 0)
		return fail(g, false, "out of memory");
	for (int i = 0; i < g->nconns; i++) {
		struct conn *c = &g->c[i];
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };

		if ((c->fd = dial(g)) < 0)
			return c->fd;
		if (!(c->rbuf = malloc(RBUF)))
			return fail(g, false, "out of memory");
		epoll_ctl(g->ep, EPOLL_CTL_ADD, c->fd, &ev);
	}
	g->t0 = g->last_reply = mono_ns();
	g->next_stats = g->t0 + 100000000;
	for (int i = 0; i < g->nconns; i++)
		if (send_batch(g, &g->c[i]) < 0)
			return -EPROTO;
	return 0;
}

static void summary(const struct lg *g)
{
	static const char *const modes[] = { "load", "fill", "verify" };
	double secs = (double)(mono_ns() - g->t0) / 1e9;
	char err[600];
	size_t o = 0;

	for (const char *s = g->err; *s && o + 2 < sizeof(err); s++) {
		if (*s == '"' || *s == '\\')
			err[o++] = '\\';
		err[o++] = *s >= 0x20 ? *s : '?';
	}
	err[o] = 0;
	printf("{\"mode\":\"%s\",\"ops\":%" PRIu64 ",\"sets\":%" PRIu64 ",\"gets\":%" PRIu64
	       ",\"misses\":%" PRIu64 ",\"seconds\":%.3f,\"ops_per_s\":%.0f,\"max_stall_ms\":%.3f,"
	       "\"conn_lost\":%s,\"error\":\"%s\"}\n", modes[g->mode], g->ops, g->sets, g->gets,
	       g->misses, secs, secs > 0 ? (double)g->ops / secs : 0, (double)g->max_stall / 1e6,
	       g->conn_lost ? "true" : "false", err);
}

static int parse(struct lg *g, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "connect", 1, 0, 'c' }, { "proto", 1, 0, 'P' }, { "conns", 1, 0, 'n' },
		{ "pipeline", 1, 0, 'k' }, { "keys", 1, 0, 'K' }, { "value-size", 1, 0, 'v' },
		{ "set-ratio", 1, 0, 'r' }, { "stats", 1, 0, 's' }, { "duration", 1, 0, 'd' },
		{ "until-file", 1, 0, 'u' }, { "timeout", 1, 0, 't' }, { "fill", 0, 0, 'F' },
		{ "verify", 0, 0, 'V' }, { "help", 0, 0, 'h' }, {} };
	int c, proto = -1;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'c': g->connect = optarg; break;
		case 'P': proto = !strcmp(optarg, "redis") ? P_REDIS : !strcmp(optarg, "memcached") ? P_MEMCACHED : -2; break;
		case 'n': g->nconns = atoi(optarg); break;
		case 'k': g->pipeline = atoi(optarg); break;
		case 'K': g->keys = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'v': g->vsize = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'r': g->set_ratio = strtod(optarg, NULL); break;
		case 's': g->stats = optarg; break;
		case 'd': g->duration_s = strtod(optarg, NULL); break;
		case 'u': g->until = optarg; break;
		case 't': g->timeout_s = strtod(optarg, NULL); break;
		case 'F': g->mode = M_FILL; break;
		case 'V': g->mode = M_VERIFY; break;
		case 'h': fputs(usage, stdout); exit(0);
		default: return -EINVAL;
		}
	}
	g->proto = (enum proto)proto;
	if (!g->connect || proto < 0 || optind != argc || g->nconns < 1 || g->pipeline < 1 ||
	    g->pipeline > MAX_PIPE || !g->keys || !g->vsize || g->vsize > (512 << 10) ||
	    g->set_ratio < 0 || g->set_ratio > 1 || g->timeout_s <= 0) {
		fprintf(stderr, "loadgen: --connect and --proto redis|memcached are required; "
			"1 <= --pipeline <= %d, 1 <= --value-size <= 512Ki (see --help)\n", MAX_PIPE);
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct lg g = { .nconns = 4, .pipeline = 8, .keys = 10000, .vsize = 100, .set_ratio = 0.1,
			.timeout_s = 30, .sfd = -1, .ep = -1, .rng = 42 };
	struct sigaction sa = { .sa_handler = on_signal };
	int rc;

	if (parse(&g, argc, argv))
		return 2;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (g.mode != M_LOAD)
		g.nconns = 1; /* in key order, on one connection */
	if (g.stats && (g.sfd = open(g.stats, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0) {
		fprintf(stderr, "loadgen: cannot open %s: %s\n", g.stats, strerror(errno));
		return 1;
	}
	rc = setup(&g);
	if (!rc)
		rc = loop(&g);
	summary(&g);
	if (rc)
		fprintf(stderr, "loadgen: %s\n", g.err);
	return rc ? 1 : 0;
}
