/*
 * memfill: a deterministic-memory workload for migration tests.
 *
 *   memfill --size MiB [--seed N] [--dir DIR] [--threads N] [--max-wait SECS]
 *           [--result-unique]
 *
 * 1. mmaps SIZE MiB of anonymous private memory and fills it: the 64-bit word
 *    at byte offset o (from the start of the mapping) is
 *        memfill_word(seed, o / 8) = splitmix64(o / 8 + seed * 0xd1b54a32d192ed03)
 *    so a zero page, a stale page or a page copied to the wrong address is caught.
 * 2. Writes DIR/ready ("ready <bytes> <hex base address> <fill ms>\n") atomically
 *    (tmp + rename).
 * 3. Polls every 10 ms for DIR/go. When it appears, every byte is verified and
 *    DIR/result gets "OK <bytes verified>" (exit 0) or
 *    "FAIL page <n> offset <x> expected <..> got <..>" for the lowest bad word
 *    (exit 1). With --result-unique the verdict goes to DIR/result.<16 hex digits>
 *    instead, the digits drawn from getrandom() when the verdict is written: a
 *    workload restored twice from one dump (both copies sharing DIR) leaves two
 *    distinct files. After --max-wait seconds (default 1800) without DIR/go it
 *    writes "FAIL timeout" and exits 2, so a lost workload does not live forever.
 *
 * With --threads N > 1, N worker threads each fill one slice, stay alive (so a
 * dump sees N threads) and verify their slice after DIR/go.
 * The process keeps no file open: the harness points stdio at /dev/null or files
 * in DIR, so CRIU can always restore its fds.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "tests/workloads/wl.h"

#define PAGE 4096UL
#define POLL_NS 10000000L

struct slice {
	uint64_t *base;	 /* start of the whole mapping */
	size_t first;	 /* first word index of this slice */
	size_t nwords;	 /* words in this slice */
	uint64_t seed;
	volatile int *go; /* set by main when DIR/go appeared */
	pthread_t tid;
	int bad;	   /* 1 if a mismatch was found */
	size_t bad_word;   /* lowest bad word index */
	uint64_t bad_got;
};

#define memfill_word wl_word

static void nap(void)
{
	struct timespec ts = { 0, POLL_NS };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void fill(struct slice *s)
{
	uint64_t *p = s->base;

	for (size_t i = s->first; i < s->first + s->nwords; i++)
		p[i] = memfill_word(s->seed, i);
}

static void verify(struct slice *s)
{
	const uint64_t *p = s->base;

	s->bad = 0;
	for (size_t i = s->first; i < s->first + s->nwords; i++) {
		uint64_t got = p[i];

		if (got != memfill_word(s->seed, i)) {
			s->bad = 1;
			s->bad_word = i;
			s->bad_got = got;
			return;
		}
	}
}

static void *worker(void *arg)
{
	struct slice *s = arg;

	fill(s);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	__atomic_add_fetch(&s->go[1], 1, __ATOMIC_RELEASE); /* fills done */
	while (!__atomic_load_n(s->go, __ATOMIC_ACQUIRE))
		nap();
	verify(s);
	return NULL;
}

static int write_file(const char *dir, const char *name, const char *text)
{
	return wl_write_file(dir, name, text, strlen(text));
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int usage(void)
{
	fprintf(stderr, "usage: memfill --size MiB [--seed N] [--dir DIR] "
			"[--threads N] [--max-wait SECS] [--result-unique]\n");
	return 2;
}

struct opts {
	size_t mib;
	uint64_t seed;
	const char *dir;
	unsigned threads;
	unsigned long max_wait;
	int result_unique;
};

static int parse(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){ .seed = 1, .dir = ".", .threads = 1, .max_wait = 1800 };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--result-unique")) {
			o->result_unique = 1;
			continue;
		}
		if (!v)
			return -EINVAL;
		if (!strcmp(a, "--size"))
			o->mib = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--seed"))
			o->seed = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--dir"))
			o->dir = v;
		else if (!strcmp(a, "--threads"))
			o->threads = (unsigned)strtoul(v, NULL, 0);
		else if (!strcmp(a, "--max-wait"))
			o->max_wait = strtoul(v, NULL, 0);
		else
			return -EINVAL;
		i++;
	}
	if (!o->mib || !o->threads || o->threads > 256)
		return -EINVAL;
	return 0;
}

/* Split the mapping into page-aligned slices, one per thread. */
static void split(struct slice *sl, unsigned n, uint64_t *base, size_t bytes,
		  uint64_t seed, volatile int *go)
{
	size_t pages = bytes / PAGE, per = pages / n, first = 0;

	for (unsigned t = 0; t < n; t++) {
		size_t np = t + 1 == n ? pages - first : per;

		sl[t] = (struct slice){ .base = base, .first = first * (PAGE / 8),
					.nwords = np * (PAGE / 8), .seed = seed, .go = go };
		first += np;
	}
}

/* The verdict's file name: "result", or with --result-unique "result.<random>".
 * The random part is read now, after any restore, so two restored copies of
 * one dumped process pick different names. */
static int result_name(const struct opts *o, char *name, size_t len)
{
	uint64_t r;

	if (!o->result_unique) {
		snprintf(name, len, "result");
		return 0;
	}
	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -errno;
	snprintf(name, len, "result.%016" PRIx64, r);
	return 0;
}

static int report(const struct opts *o, struct slice *sl, size_t bytes)
{
	char buf[256], name[64];
	struct slice *bad = NULL;

	for (unsigned t = 0; t < o->threads; t++)
		if (sl[t].bad && (!bad || sl[t].bad_word < bad->bad_word))
			bad = &sl[t];
	if (bad) {
		size_t off = bad->bad_word * 8;

		snprintf(buf, sizeof(buf),
			 "FAIL page %zu offset 0x%zx expected 0x%016" PRIx64 " got 0x%016" PRIx64 "\n",
			 off / PAGE, off % PAGE, memfill_word(o->seed, bad->bad_word), bad->bad_got);
	} else {
		snprintf(buf, sizeof(buf), "OK %zu\n", bytes);
	}
	if (result_name(o, name, sizeof(name)) || write_file(o->dir, name, buf))
		return 3;
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	static volatile int go[2]; /* [0] go flag, [1] fills done */
	char path[PATH_MAX], buf[128];
	struct opts o;
	struct slice *sl;
	uint64_t *base, t0;
	size_t bytes;
	unsigned long polls = 0;

	if (parse(argc, argv, &o))
		return usage();
	bytes = o.mib << 20;
	base = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	sl = calloc(o.threads, sizeof(*sl));
	if (base == MAP_FAILED || !sl) {
		perror("memfill: mmap");
		return 3;
	}
	t0 = now_ms();
	split(sl, o.threads, base, bytes, o.seed, go);
	if (o.threads == 1) {
		fill(&sl[0]);
	} else {
		for (unsigned t = 0; t < o.threads; t++)
			if (pthread_create(&sl[t].tid, NULL, worker, &sl[t])) {
				fprintf(stderr, "memfill: pthread_create failed\n");
				return 3;
			}
		while (__atomic_load_n(&go[1], __ATOMIC_ACQUIRE) != (int)o.threads)
			nap();
	}
	snprintf(buf, sizeof(buf), "ready %zu 0x%" PRIxPTR " %" PRIu64 "\n",
		 bytes, (uintptr_t)base, now_ms() - t0);
	if (write_file(o.dir, "ready", buf)) {
		perror("memfill: write ready");
		return 3;
	}
	snprintf(path, sizeof(path), "%s/go", o.dir);
	while (access(path, F_OK)) {
		if (++polls > o.max_wait * (1000000000L / POLL_NS)) {
			char name[64];

			if (!result_name(&o, name, sizeof(name)))
				write_file(o.dir, name, "FAIL timeout\n");
			return 2;
		}
		nap();
	}
	if (o.threads == 1) {
		verify(&sl[0]);
	} else {
		__atomic_store_n(&go[0], 1, __ATOMIC_RELEASE);
		for (unsigned t = 0; t < o.threads; t++)
			pthread_join(sl[t].tid, NULL);
	}
	return report(&o, sl, bytes);
}
