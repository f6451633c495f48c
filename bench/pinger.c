/* SPDX-License-Identifier: MIT */
/*
 * pinger: the client that measures what a migration costs a client: one TCP
 * connection, one ping every interval, never more than one outstanding, and the longest
 * time between two consecutive replies (the gap a client sees while the server is
 * frozen). Used by the migration studies (faultline migrate) and tests/e2e/t_wl_*.sh.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_net.h"

static const char usage[] =
"usage: pinger --connect ADDR:PORT [options]\n"
"\n"
"Opens one TCP connection to ADDR:PORT and sends a ping every --interval-ms, never\n"
"more than one outstanding: when a reply is late the next ping waits for it, so the\n"
"longest time between two consecutive replies is the gap a client of the server saw\n"
"(the first gap starts at the connect).\n"
"\n"
"    --connect ADDR:PORT  the server: IPv4, [IPv6] or a host name\n"
"    --proto P            line (default): \"PING <n>\\n\" -> \"PONG <n>\\n\" (tests/workloads/\n"
"                         synth --port); redis: \"PING\\r\\n\" -> \"+PONG\\r\\n\";\n"
"                         memcached: \"version\\r\\n\" -> \"VERSION ...\\r\\n\"\n"
"    --interval-ms MS     time between pings, decimals allowed (default 10)\n"
"    --duration S         stop after S seconds (default: until a stop condition)\n"
"    --until-file F       stop once F exists (checked before every ping)\n"
"    --timeout S          no reply for S seconds: the connection is lost (default 30)\n"
"    --json FILE          the summary goes to FILE (written at exit) instead of stdout\n"
"    --timeline FILE      one line per reply: \"<CLOCK_REALTIME ms> <rtt us>\"\n"
"    -h, --help           show this help\n"
"\n"
"Stops on SIGTERM/SIGINT, --duration or --until-file, then writes the summary:\n"
"  {\"pings\":N,\"replies\":N,\"max_gap_ms\":X,\"max_gap_at_ms\":T,\"open_gap_ms\":X,\n"
"   \"rtt_us\":{\"p50\":..,\"p99\":..,\"max\":..},\"conn_lost\":false,\"error\":\"\"}\n"
"max_gap_at_ms is the CLOCK_REALTIME ms at which that gap began (the reply before it);\n"
"open_gap_ms the time since the last reply at exit (a gap still running). Times come\n"
"from CLOCK_MONOTONIC, mapped to CLOCK_REALTIME through one anchor taken at start.\n"
"Exit status: 0, 1 if the connection was lost (EOF, reset, --timeout without a\n"
"reply, a wrong reply) or could not be opened, 2 usage error.\n";

enum proto { P_LINE, P_REDIS, P_MEMCACHED };

static volatile sig_atomic_t stop;

struct pinger {
	/* options */
	const char *connect, *json, *timeline, *until;
	enum proto proto;
	double interval_ms, duration_s, timeout_s;
	/* state */
	int fd;
	FILE *tl;
	int64_t anchor_mono, anchor_rt;   /* ns */
	uint64_t pings, replies, seq;
	uint32_t *rtt;                    /* us, one per reply */
	size_t rtt_cap;
	int64_t last_reply, max_gap, max_gap_at;
	bool conn_lost;
	char err[200];
	char buf[512];
	size_t len;
};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t rt_ms(const struct pinger *p, int64_t mono)
{
	return (p->anchor_rt + (mono - p->anchor_mono)) / 1000000;
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Splits "ADDR:PORT" (ADDR may be [v6]) and connects with TCP_NODELAY; fd or -errno,
 * the reason in P->err. */
static int open_conn(struct pinger *p)
{
	return bench_tcp_connect(p->connect, p->err, sizeof(p->err));
}

static void lost(struct pinger *p, const char *why)
{
	p->conn_lost = true;
	snprintf(p->err, sizeof(p->err), "%s after %" PRIu64 " replies", why, p->replies);
}

/* Sends ping number p->seq; 0 or -errno. */
static int send_ping(struct pinger *p)
{
	char msg[64];
	int n;

	switch (p->proto) {
	case P_REDIS: n = snprintf(msg, sizeof(msg), "PING\r\n"); break;
	case P_MEMCACHED: n = snprintf(msg, sizeof(msg), "version\r\n"); break;
	default: n = snprintf(msg, sizeof(msg), "PING %" PRIu64 "\n", p->seq); break;
	}
	for (int off = 0; off < n;) {
		ssize_t w = send(p->fd, msg + off, (size_t)(n - off), MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		off += (int)w;
	}
	p->pings++;
	return 0;
}

/* Is the first line of the buffer (LEN bytes, newline included) the right reply? */
static bool reply_ok(const struct pinger *p, size_t len)
{
	char want[64];

	switch (p->proto) {
	case P_REDIS: return len == 7 && !memcmp(p->buf, "+PONG\r\n", 7);
	case P_MEMCACHED: return len > 9 && !memcmp(p->buf, "VERSION ", 8);
	default:
		snprintf(want, sizeof(want), "PONG %" PRIu64 "\n", p->seq);
		return len == strlen(want) && !memcmp(p->buf, want, len);
	}
}

static bool should_stop(const struct pinger *p, int64_t start)
{
	if (stop)
		return true;
	if (p->duration_s > 0 && mono_ns() - start >= (int64_t)(p->duration_s * 1e9))
		return true;
	return p->until && !access(p->until, F_OK);
}

/* Waits for the reply to the outstanding ping. 1 when it came, 0 when a stop condition
 * came first, -errno when the connection is lost (p->conn_lost set). */
static int await_reply(struct pinger *p, int64_t start, int64_t sent)
{
	char *nl;

	for (;;) {
		if ((nl = memchr(p->buf, '\n', p->len))) {
			size_t l = (size_t)(nl - p->buf) + 1;
			bool ok = reply_ok(p, l);

			memmove(p->buf, nl + 1, p->len - l);
			p->len -= l;
			if (!ok)
				return lost(p, "unexpected reply"), -EPROTO;
			return 1;
		}
		if (p->len == sizeof(p->buf))
			return lost(p, "reply line too long"), -EPROTO;
		int64_t left = sent + (int64_t)(p->timeout_s * 1e9) - mono_ns();
		if (left <= 0)
			return lost(p, "timeout: no reply"), -ETIMEDOUT;
		if (should_stop(p, start))
			return 0;
		struct pollfd pf = { .fd = p->fd, .events = POLLIN };
		int n = poll(&pf, 1, (int)(left / 1000000 < 100 ? left / 1000000 + 1 : 100));
		if (n <= 0)
			continue;
		ssize_t r = recv(p->fd, p->buf + p->len, sizeof(p->buf) - p->len, 0);
		if (r == 0)
			return lost(p, "connection closed by the server"), -ECONNRESET;
		if (r < 0 && errno != EINTR && errno != EAGAIN)
			return lost(p, strerror(errno)), -errno;
		p->len += r > 0 ? (size_t)r : 0;
	}
}

static void record(struct pinger *p, int64_t sent, int64_t now)
{
	uint32_t us = (uint32_t)((now - sent) / 1000);

	if (p->replies == p->rtt_cap) {
		size_t cap = p->rtt_cap ? p->rtt_cap * 2 : 4096;
		uint32_t *n = realloc(p->rtt, cap * sizeof(*n));

		if (!n) {
			fprintf(stderr, "pinger: out of memory for %zu rtts\n", cap);
			exit(1);
		}
		p->rtt = n;
		p->rtt_cap = cap;
	}
	p->rtt[p->replies++] = us;
	if (now - p->last_reply > p->max_gap) {
		p->max_gap = now - p->last_reply;
		p->max_gap_at = rt_ms(p, p->last_reply);
	}
	p->last_reply = now;
	if (p->tl)
		fprintf(p->tl, "%" PRId64 " %u\n", rt_ms(p, now), us);
}

/* Sleeps until T (CLOCK_MONOTONIC ns) or a signal. */
static void sleep_until(int64_t t)
{
	struct timespec ts = { .tv_sec = t / 1000000000, .tv_nsec = t % 1000000000 };

	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

static int run(struct pinger *p)
{
	int64_t start = mono_ns(), next = start, iv = (int64_t)(p->interval_ms * 1e6);
	int rc;

	p->last_reply = start;
	while (!should_stop(p, start)) {
		sleep_until(next);
		if (stop)
			break;
		int64_t sent = mono_ns();
		p->seq++;
		if ((rc = send_ping(p)))
			return lost(p, strerror(-rc)), rc;
		rc = await_reply(p, start, sent);
		if (rc <= 0)
			return rc;
		int64_t now = mono_ns();
		record(p, sent, now);
		next += iv;
		if (next < now) /* late: the next ping goes now, no burst */
			next = now;
	}
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void json_escape(const char *s, char *out, size_t sz)
{
	size_t o = 0;

	for (; *s && o + 2 < sz; s++) {
		if (*s == '"' || *s == '\\')
			out[o++] = '\\';
		out[o++] = (*s >= 0x20) ? *s : '?';
	}
	out[o] = 0;
}

static int write_json(struct pinger *p)
{
	FILE *f = p->json ? fopen(p->json, "w") : stdout;
	uint32_t p50 = 0, p99 = 0, max = 0;
	char err[420];

	if (!f)
		return fprintf(stderr, "pinger: cannot write %s: %s\n", p->json, strerror(errno)), -EIO;
	if (p->replies) {
		qsort(p->rtt, p->replies, sizeof(*p->rtt), cmp_u32);
		p50 = p->rtt[(p->replies - 1) / 2];
		p99 = p->rtt[(p->replies - 1) * 99 / 100];
		max = p->rtt[p->replies - 1];
	}
	json_escape(p->err, err, sizeof(err));
	fprintf(f, "{\"pings\":%" PRIu64 ",\"replies\":%" PRIu64 ",\"max_gap_ms\":%.3f,"
		"\"max_gap_at_ms\":%" PRId64 ",\"open_gap_ms\":%.3f,\"interval_ms\":%.3f,"
		"\"rtt_us\":{\"p50\":%u,\"p99\":%u,\"max\":%u},\"conn_lost\":%s,\"error\":\"%s\"}\n",
		p->pings, p->replies, (double)p->max_gap / 1e6, p->max_gap_at,
		p->last_reply ? (double)(mono_ns() - p->last_reply) / 1e6 : 0.0, p->interval_ms, p50,
		p99, max,
		p->conn_lost ? "true" : "false", err);
	if (f != stdout && fclose(f))
		return fprintf(stderr, "pinger: cannot write %s\n", p->json), -EIO;
	return 0;
}

static int parse(struct pinger *p, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "connect", 1, 0, 'c' }, { "proto", 1, 0, 'P' }, { "interval-ms", 1, 0, 'i' },
		{ "duration", 1, 0, 'd' }, { "json", 1, 0, 'j' }, { "until-file", 1, 0, 'u' },
		{ "timeline", 1, 0, 'T' }, { "timeout", 1, 0, 't' }, { "help", 0, 0, 'h' }, {} };
	int c;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'c': p->connect = optarg; break;
		case 'P':
			if (!strcmp(optarg, "line"))
				p->proto = P_LINE;
			else if (!strcmp(optarg, "redis"))
				p->proto = P_REDIS;
			else if (!strcmp(optarg, "memcached"))
				p->proto = P_MEMCACHED;
			else
				return fprintf(stderr, "pinger: unknown --proto %s\n", optarg), -EINVAL;
			break;
		case 'i': p->interval_ms = strtod(optarg, NULL); break;
		case 'd': p->duration_s = strtod(optarg, NULL); break;
		case 'j': p->json = optarg; break;
		case 'u': p->until = optarg; break;
		case 'T': p->timeline = optarg; break;
		case 't': p->timeout_s = strtod(optarg, NULL); break;
		case 'h': fputs(usage, stdout); exit(0);
		default: return -EINVAL;
		}
	}
	if (!p->connect || optind != argc || p->interval_ms < 0 || p->timeout_s <= 0)
		return fprintf(stderr, "pinger: --connect ADDR:PORT is required (see --help)\n"), -EINVAL;
	return 0;
}

int main(int argc, char **argv)
{
	struct pinger p = { .interval_ms = 10, .timeout_s = 30, .fd = -1 };
	struct sigaction sa = { .sa_handler = on_signal };
	struct timespec rt;
	int rc;

	if (parse(&p, argc, argv))
		return 2;
	sigaction(SIGTERM, &sa, NULL); /* no SA_RESTART: poll and sleeps return */
	sigaction(SIGINT, &sa, NULL);
	p.anchor_mono = mono_ns();
	clock_gettime(CLOCK_REALTIME, &rt);
	p.anchor_rt = (int64_t)rt.tv_sec * 1000000000 + rt.tv_nsec;
	if (p.timeline && !(p.tl = fopen(p.timeline, "w"))) {
		fprintf(stderr, "pinger: cannot create %s: %s\n", p.timeline, strerror(errno));
		return 1;
	}
	if (p.tl)
		setvbuf(p.tl, NULL, _IOLBF, 0);
	p.fd = open_conn(&p);
	rc = p.fd < 0 ? p.fd : run(&p);
	if (p.fd < 0)
		p.conn_lost = true;
	if (rc < 0)
		fprintf(stderr, "pinger: %s\n", p.err);
	if (p.tl)
		fclose(p.tl);
	if (p.fd >= 0)
		close(p.fd);
	if (write_json(&p))
		return 1;
	free(p.rtt);
	return p.conn_lost || rc < 0 ? 1 : 0;
}
