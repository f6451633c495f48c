/*
 * synth: the synthetic workload of the migration studies (faultline migrate).
 *   synth --size MIB --wss MIB --write-rate MB/s --skew uniform|zipf[:THETA] --dir DIR
 *         [--port P] [--stats FILE] [--seed S] [--threads N] [--max-wait SECS]
 * Fills SIZE MiB of anonymous memory with wl.h's pattern (version 0); version[] (u32 per
 * page) has a mapping of its own. N writers (thread t owns pages p % N == t) rewrite
 * whole pages of the first WSS MiB, uniform or Zipf(THETA, default 0.99, hot pages
 * scattered), WRITE-RATE MB/s in all (10^6 B/s; token bucket on CLOCK_MONOTONIC with a
 * 10 ms burst: a freeze is not caught up; 0: none): version[p]++, page_fill, total_ops++.
 * --port: a TCP server on 0.0.0.0 (own thread): line "PING <n>" -> "PONG <n>".
 * --stats: every 100 ms one write() of "<REALTIME ms> <ops in interval> <total_ops>".
 * DIR/ready: "ready <bytes> <hex data base> <fill ms> <hex version base> <pages>".
 * On DIR/go: writes stop for good, every page is checked against version[p], then
 * sum(version) == total_ops; DIR/go is removed, DIR/result = "OK pages=N ops=M" or
 * "FAIL ..." (first bad page). It keeps serving (rm DIR/result, touch DIR/go: a new
 * check). Exits on SIGTERM, or "FAIL timeout" after --max-wait s (1800) without go.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>

#include "tests/workloads/wl.h"

#define PAGE 4096UL
#define WORDS (PAGE / 8)
#define MAX_THREADS 64

struct synth {
	uint64_t size_mib, wss_mib, seed, pages, wss, total_ops;
	double rate, theta;          /* rate: MB/s; theta 0: uniform */
	const char *dir, *stats;
	int port, threads, max_wait, lfd, sfd, stop;
	uint64_t *data;
	uint32_t *version;
};

struct writer {
	struct synth *s;
	uint64_t id, n, mult, rng;          /* n pages, mult: the bijection */
	double zetan, eta, alpha, half_pow; /* the Zipf generator */
};

static uint64_t now_ns(clockid_t c)
{
	struct timespec ts;

	return clock_gettime(c, &ts), (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Page P at version V into D: the fill for V == 0, else (P << 32 | V) then a pattern
 * from (seed, P, V), so a stale, zero or misplaced page never matches. */
static void page_fill(uint64_t *d, uint64_t seed, uint64_t p, uint32_t v)
{
	uint64_t h = wl_mix64(wl_word(seed, p) + v);

	for (uint64_t w = 0; w < WORDS; w++)
		d[w] = !v ? wl_word(seed, p * WORDS + w) : w ? h ^ (w * 0x9e3779b97f4a7c15ULL) : p << 32 | v;
}

/* The next page of writer W: a rank (uniform, or Zipf by Gray et al. as in YCSB), moved
 * by a fixed bijection of [0, n) (multiplication by a unit mod n), onto W's pages. */
static uint64_t next_page(struct writer *w)
{
	double u = (double)(wl_mix64(w->rng += 0x9e3779b97f4a7c15ULL) >> 11) * 0x1p-53; /* [0, 1) */
	uint64_t r;

	if (w->s->theta <= 0)
		r = (uint64_t)(u * (double)w->n);
	else if (u * w->zetan < 1.0 || w->n < 2)
		r = 0;
	else if (u * w->zetan < 1.0 + w->half_pow)
		r = 1;
	else
		r = (uint64_t)((double)w->n * pow(w->eta * u - w->eta + 1.0, w->alpha));
	r = r < w->n ? r : w->n - 1;
	return ((r * w->mult + w->id) % w->n) * (uint64_t)w->s->threads + w->id;
}

static void writer_init(struct writer *w, struct synth *s, int id)
{
	double th = s->theta; /* 0: uniform */
	*w = (struct writer){ .s = s, .id = (uint64_t)id, .rng = s->seed * 31 + (uint64_t)id };
	w->n = (s->wss - (uint64_t)id + (uint64_t)s->threads - 1) / (uint64_t)s->threads;
	w->mult = 2654435761ULL % w->n; /* a prime > n: a unit mod n */
	if (th <= 0)
		return;
	for (uint64_t i = 1; i <= w->n; i++)
		w->zetan += pow((double)i, -th);
	w->half_pow = pow(0.5, th);
	w->alpha = 1.0 / (1.0 - th);
	w->eta = (1.0 - pow(2.0 / (double)w->n, 1.0 - th)) / (1.0 - (1.0 + w->half_pow) / w->zetan);
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	double rate = w->s->rate * 1e6 / PAGE / w->s->threads, burst = fmax(1.0, rate / 100), tok = 0;
	uint64_t last = now_ns(CLOCK_MONOTONIC), now, p;

	while (!__atomic_load_n(&w->s->stop, __ATOMIC_ACQUIRE)) {
		now = now_ns(CLOCK_MONOTONIC);
		if (now > last)
			tok = fmin(burst, tok + (double)(now - last) * 1e-9 * rate);
		last = now;
		if (tok < 1) {
			usleep((useconds_t)fmin(1e4, fmax(200, (1 - tok) / rate * 1e6)));
			continue;
		}
		tok -= 1;
		p = next_page(w);
		page_fill(w->s->data + p * WORDS, w->s->seed, p, ++w->s->version[p]);
		__atomic_add_fetch(&w->s->total_ops, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *stats_main(void *arg)
{
	struct synth *s = arg;
	uint64_t prev = __atomic_load_n(&s->total_ops, __ATOMIC_RELAXED), next = now_ns(CLOCK_MONOTONIC), now, tot;
	char line[96];

	for (;;) {
		now = now_ns(CLOCK_MONOTONIC);
		next += 100000000ULL;
		if (next < now || next > now + 200000000ULL) /* after a freeze or a clock jump */
			next = now + 100000000ULL;
		usleep((useconds_t)((next - now) / 1000));
		tot = __atomic_load_n(&s->total_ops, __ATOMIC_RELAXED);
		int n = snprintf(line, sizeof(line), "%" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
				 now_ns(CLOCK_REALTIME) / 1000000, tot - prev, tot);
		prev = write(s->sfd, line, (size_t)n) == n ? tot : prev; /* else: counted in the next */
	}
	return NULL;
}

/* Complete lines of BUF[0..*len) answered on FD; the rest is kept. 0, or -1 to drop. */
static int ping_lines(int fd, char *buf, size_t *len)
{
	char *nl, out[300];

	while ((nl = memchr(buf, '\n', *len))) {
		size_t l = (size_t)(nl - buf) + 1;
		int n = strncmp(buf, "PING ", 5) ? snprintf(out, sizeof(out), "ERR\n")
			: snprintf(out, sizeof(out), "PONG %.*s", (int)(l - 5), buf + 5);
		if (write(fd, out, (size_t)n) != n)
			return -1;
		memmove(buf, nl + 1, *len - l);
		*len -= l;
	}
	return *len < 256 ? 0 : -1;
}

/* One client at a time (a second one waits in the backlog): the pinger's connection. */
static void *ping_main(void *arg)
{
	struct synth *s = arg;
	char buf[256];
	size_t len;
	ssize_t r;

	for (;;) {
		int c = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);

		for (len = 0; c >= 0 && ((r = read(c, buf + len, sizeof(buf) - len)) > 0 || (r < 0 && errno == EINTR));)
			if (r > 0 && (len += (size_t)r, ping_lines(c, buf, &len)))
				break;
		if (c >= 0)
			close(c);
	}
	return NULL;
}

static int listen_on(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, err = -errno;

	if (fd >= 0 && !setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) &&
	    !bind(fd, (struct sockaddr *)&a, sizeof(a)) && !listen(fd, 16))
		return fd;
	err = fd < 0 ? err : -errno;
	return fd >= 0 ? close(fd), err : err;
}

/* Checks every page and the op count; the verdict into RES. */
static void verify(struct synth *s, char *res, size_t sz)
{
	uint64_t sum = 0, want[WORDS], *got;

	for (uint64_t p = 0; p < s->pages; p++) {
		page_fill(want, s->seed, p, s->version[p]);
		sum += s->version[p];
		got = s->data + p * WORDS;
		for (uint64_t w = 0; memcmp(want, got, PAGE) && w < WORDS; w++)
			if (got[w] != want[w])
				return (void)snprintf(res, sz, "FAIL page %" PRIu64 " word %" PRIu64 " version %u:"
						      " expected %016" PRIx64 " got %016" PRIx64 "\n",
						      p, w, s->version[p], want[w], got[w]);
	}
	if (sum != s->total_ops)
		snprintf(res, sz, "FAIL sum(version) %" PRIu64 " != total_ops %" PRIu64 "\n", sum, s->total_ops);
	else
		snprintf(res, sz, "OK pages=%" PRIu64 " ops=%" PRIu64 "\n", s->pages, s->total_ops);
}

static int parse(struct synth *s, int argc, char **argv)
{
	static const struct option lo[] = { { "size", 1, 0, 'S' }, { "wss", 1, 0, 'W' },
		{ "write-rate", 1, 0, 'r' }, { "skew", 1, 0, 'k' }, { "dir", 1, 0, 'd' }, { "port", 1, 0, 'p' },
		{ "stats", 1, 0, 's' }, { "seed", 1, 0, 'e' }, { "threads", 1, 0, 't' }, { "max-wait", 1, 0, 'm' }, {} };
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'S': s->size_mib = strtoull(optarg, NULL, 0); break; case 'W': s->wss_mib = strtoull(optarg, NULL, 0); break;
		case 'r': s->rate = strtod(optarg, NULL); break;
		case 'k': s->theta = strncmp(optarg, "zipf", 4) ? (strcmp(optarg, "uniform") ? -1 : 0)
				: optarg[4] == ':' ? strtod(optarg + 5, NULL) : 0.99; break;
		case 'd': s->dir = optarg; break; case 's': s->stats = optarg; break;
		case 'p': s->port = atoi(optarg); break;
		case 'e': s->seed = strtoull(optarg, NULL, 0); break;
		case 't': s->threads = atoi(optarg); break; case 'm': s->max_wait = atoi(optarg); break;
		default: return -EINVAL;
		}
	}
	s->wss_mib = s->wss_mib ? s->wss_mib : s->size_mib;
	if (!s->size_mib || !s->dir || s->rate < 0 || s->theta < 0 || s->theta == 1.0 ||
	    s->threads < 1 || s->threads > MAX_THREADS || s->wss_mib > s->size_mib || optind != argc)
		return -EINVAL;
	s->pages = s->size_mib << 8;
	s->wss = s->wss_mib << 8;
	return 0;
}

static int start(struct synth *s, pthread_t *wt, struct writer *w)
{
	pthread_t t;

	if (s->stats && (s->sfd = open(s->stats, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0)
		return fprintf(stderr, "synth: cannot open %s: %m\n", s->stats), -EIO;
	if (s->port && (s->lfd = listen_on(s->port)) < 0)
		return fprintf(stderr, "synth: cannot listen on port %d: %s\n", s->port, strerror(-s->lfd)), s->lfd;
	for (int i = 0; s->rate > 0 && i < s->threads; i++) {
		writer_init(&w[i], s, i);
		if (pthread_create(&wt[i], NULL, writer_main, &w[i]))
			return -EAGAIN;
	}
	if ((s->stats && pthread_create(&t, NULL, stats_main, s)) || (s->port && pthread_create(&t, NULL, ping_main, s)))
		return -EAGAIN;
	return 0;
}

int main(int argc, char **argv)
{
	static struct synth s = { .threads = 1, .max_wait = 1800, .lfd = -1, .sfd = -1 };
	static pthread_t wt[MAX_THREADS];
	static struct writer w[MAX_THREADS];
	char path[PATH_MAX], res[256];
	uint64_t t0 = now_ns(CLOCK_MONOTONIC), waited = 0;

	signal(SIGTERM, _exit); /* a handler: as init of its pid namespace it would ignore SIGTERM */
	if (parse(&s, argc, argv))
		return fprintf(stderr, "usage: synth --size MIB --wss MIB --write-rate MB/s --skew uniform|zipf[:THETA]"
			       " --dir DIR [--port P] [--stats FILE] [--seed S] [--threads N] [--max-wait SECS]\n"), 2;
	s.data = mmap(NULL, s.pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	s.version = mmap(NULL, s.pages * 4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s.data == MAP_FAILED || s.version == MAP_FAILED)
		return fprintf(stderr, "synth: mmap of %" PRIu64 " MiB: %m\n", s.size_mib), 1;
	for (uint64_t p = 0; p < s.pages; p++)
		page_fill(s.data + p * WORDS, s.seed, p, 0);
	if (start(&s, wt, w))
		return 1;
	int n = snprintf(res, sizeof(res), "ready %" PRIu64 " %p %" PRIu64 " %p %" PRIu64 "\n", s.pages * PAGE,
			 (void *)s.data, (now_ns(CLOCK_MONOTONIC) - t0) / 1000000, (void *)s.version, s.pages);
	if (wl_write_file(s.dir, "ready", res, (size_t)n))
		return fprintf(stderr, "synth: cannot write %s/ready\n", s.dir), 1;
	snprintf(path, sizeof(path), "%s/go", s.dir);
	for (;; usleep(10000)) {
		if (access(path, F_OK) && !s.stop && ++waited > (uint64_t)s.max_wait * 100)
			return wl_write_file(s.dir, "result", "FAIL timeout\n", 13), 2;
		if (access(path, F_OK))
			continue;
		if (!__atomic_exchange_n(&s.stop, 1, __ATOMIC_ACQ_REL))
			for (int i = 0; s.rate > 0 && i < s.threads; i++)
				pthread_join(wt[i], NULL);
		verify(&s, res, sizeof(res));
		unlink(path);
		wl_write_file(s.dir, "result", res, strlen(res));
	}
}
