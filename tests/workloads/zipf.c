/*
 * zipf: a skewed-write workload for migration benchmarks and tests.
 *   zipf --size MiB [--s S] [--seed N] [--dir DIR] [--rate OPS] [--hot K] [--max-wait SECS]
 * 1. Fills SIZE MiB of anonymous memory (N = SIZE * 256 pages) and keeps a 32-bit write
 *    count per page in a second mapping (the shadow). Page p: word 0 its write count c,
 *    word 1 page_check(seed, p, c), words 2..511 memfill's pattern (memfill_word(seed,
 *    p * 512 + w)). Writes DIR/ready ("ready <bytes> <hex data base> <fill ms> <hex shadow
 *    base> <shadow bytes>") and DIR/hot (the K hottest pages' addresses, default 64).
 * 2. Until DIR/go appears: rank r drawn from Zipf(S) over the N pages (S default 0.99,
 *    != 1; Gray et al.'s generator, as in YCSB; splitmix64, fixed seed), page p = perm(r)
 *    (a fixed pseudo-random bijection: hot pages are scattered over the mapping), then
 *    word0(p)++, word1(p) = page_check(..), shadow[p]++, total++. --rate OPS: about
 *    OPS/20 ops per 50 ms, in steps of 16 (default: flat out). Every 50 ms it appends
 *    "<t_ms> <ops> <total>" to DIR/tput.txt (opened and closed each time): t_ms is
 *    CLOCK_REALTIME in ms (as `date +%s%3N`; immune to a restore's time namespace), ops
 *    those since the previous line. After a restore the first line comes within 16 ops.
 * 3. On DIR/go it checks every byte (pattern, word 0 == shadow, word 1, sum of shadow ==
 *    total, and from 100000 ops on, that rank 0's page has the highest count); DIR/result
 *    "OK <bytes> ops <total>" (exit 0) or "FAIL ..." (exit 1); "FAIL timeout" (exit 2)
 *    after --max-wait seconds (default 1800). All state is in memory and migrates.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "tests/workloads/wl.h"

#define PAGE 4096UL
#define WORDS (PAGE / 8)
#define REPORT_MS 50
#define CHECK_EVERY 16 /* ops between clock reads */

#define mix64 wl_mix64

/* memfill's pattern, and the check word of page P after C writes. */
#define memfill_word wl_word
#define page_check(seed, p, c) \
	mix64(mix64((p) ^ ((seed) << 40)) + (c) * 0x9e3779b97f4a7c15ULL + 0x5851f42d4c957f2dULL)

/* splitmix64, as a double in [0, 1) */
static inline double rng_unit(uint64_t *s)
{
	*s += 0x9e3779b97f4a7c15ULL;
	return (double)(mix64(*s) >> 11) * (1.0 / 9007199254740992.0);
}

/* All mutable state is in memory (here and in the two mappings): it migrates. */
static struct {
	uint64_t *data;
	uint32_t *shadow;
	uint64_t pages, rng, total, mask; /* mask, half: the permutation */
	unsigned half;
	double alpha, zetan, eta, half_pow; /* the Zipf generator */
} W;

static void zipf_init(double theta)
{
	unsigned k = 1;

	for (uint64_t i = 1; i <= W.pages; i++)
		W.zetan += pow((double)i, -theta);
	W.half_pow = pow(0.5, theta);
	W.alpha = 1.0 / (1.0 - theta);
	W.eta = (1.0 - pow(2.0 / (double)W.pages, 1.0 - theta)) / (1.0 - (1.0 + W.half_pow) / W.zetan);
	while ((1ULL << k) < W.pages)
		k++;
	W.mask = (1ULL << k) - 1;
	W.half = k / 2 + 1;
}

/* A rank in [0, N): 0 is the most frequent. */
static inline uint64_t zipf_next(void)
{
	double u = rng_unit(&W.rng), uz = u * W.zetan;

	if (uz < 1.0 || W.pages < 2)
		return 0;
	if (uz < 1.0 + W.half_pow)
		return 1;
	uint64_t r = (uint64_t)((double)W.pages * pow(W.eta * u - W.eta + 1.0, W.alpha));
	return r < W.pages ? r : W.pages - 1;
}

/* The page of rank X, a fixed bijection of [0, N): one of [0, 2^k) (odd multiplies,
 * adds, xor-shifts modulo 2^k), cycle-walked until the value falls below N. */
static inline uint64_t perm(uint64_t x)
{
	do {
		x = (x * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL) & W.mask;
		x ^= x >> W.half;
		x = (x * 0xbf58476d1ce4e5b9ULL + 0x2545f4914f6cdd1dULL) & W.mask;
		x ^= x >> W.half;
		x = (x * 0x94d049bb133111ebULL) & W.mask;
	} while (x >= W.pages);
	return x;
}

/* DIR/NAME = TEXT, atomically (tmp + rename); or with APPEND, appended. */
static int put(const char *dir, const char *name, const char *text, int append)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	size_t len = strlen(text);
	int fd, ok;

	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	snprintf(dst, sizeof(dst), "%s/%s", dir, name);
	fd = open(append ? dst : tmp, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC),
		  0644);
	if (fd < 0)
		return -errno;
	ok = write(fd, text, len) == (ssize_t)len;
	if (close(fd) || !ok)
		return -EIO;
	return append || !rename(tmp, dst) ? 0 : -errno;
}

static uint64_t now_ms(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct opts {
	uint64_t mib, seed, hot, max_wait;
	double s, rate;
	const char *dir;
};

static int parse(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){ .s = 0.99, .seed = 1, .dir = ".", .hot = 64, .max_wait = 1800 };
	for (int i = 1; i < argc; i += 2) { /* argv[argc] is NULL */
		const char *a = argv[i], *v = argv[i + 1];
		char *end = (char *)"";

		if (!v || !*v)
			return -EINVAL;
		if (!strcmp(a, "--size"))
			o->mib = strtoull(v, &end, 0);
		else if (!strcmp(a, "--s"))
			o->s = strtod(v, &end);
		else if (!strcmp(a, "--seed"))
			o->seed = strtoull(v, &end, 0);
		else if (!strcmp(a, "--dir"))
			o->dir = v;
		else if (!strcmp(a, "--rate"))
			o->rate = strtod(v, &end);
		else if (!strcmp(a, "--hot"))
			o->hot = strtoull(v, &end, 0);
		else if (!strcmp(a, "--max-wait"))
			o->max_wait = strtoull(v, &end, 0);
		else
			return -EINVAL;
		if (*end)
			return -EINVAL;
	}
	/* The generator needs s != 1. */
	return !o->mib || o->mib > (1UL << 20) || !(o->s > 0) || fabs(o->s - 1.0) < 1e-6 ||
			       !(o->rate >= 0) ? -EINVAL : 0;
}

static inline void one_op(uint64_t seed)
{
	uint64_t p = perm(zipf_next());
	uint64_t *pg = W.data + p * WORDS;
	uint64_t c = pg[0] + 1;

	pg[0] = c;
	pg[1] = page_check(seed, p, c);
	W.shadow[p]++;
	W.total++;
}

/* The verdict into BUF; returns 0 (OK) or 1. */
static int verify(uint64_t seed, char *buf, size_t len)
{
	uint64_t sum = 0, top = perm(0), max = 0;

	for (uint64_t p = 0; p < W.pages; p++) {
		const uint64_t *pg = W.data + p * WORDS;
		uint64_t c = W.shadow[p], want = page_check(seed, p, c);

		if (pg[0] != c || pg[1] != want) {
			snprintf(buf, len, "FAIL page %" PRIu64 " count 0x%" PRIx64 " check 0x%016" PRIx64
				 ", expected %" PRIu64 " (shadow) 0x%016" PRIx64 "\n", p, pg[0], pg[1], c, want);
			return 1;
		}
		for (uint64_t w = 2; w < WORDS; w++) {
			if (pg[w] != (want = memfill_word(seed, p * WORDS + w))) {
				snprintf(buf, len, "FAIL page %" PRIu64 " offset 0x%" PRIx64 " expected 0x%016"
					 PRIx64 " got 0x%016" PRIx64 "\n", p, w * 8, want, pg[w]);
				return 1;
			}
		}
		sum += c;
		max = c > max ? c : max;
	}
	if (sum != W.total)
		snprintf(buf, len, "FAIL counts sum to %" PRIu64 ", %" PRIu64 " ops done\n", sum, W.total);
	else if (W.total >= 100000 && W.shadow[top] != max)
		snprintf(buf, len, "FAIL the page of rank 0 (%" PRIu64 ") has %u writes, another %" PRIu64
			 "\n", top, W.shadow[top], max);
	else
		snprintf(buf, len, "OK %" PRIu64 " ops %" PRIu64 "\n", W.pages * PAGE, W.total);
	return buf[0] != 'O';
}

/* Fills the data, writes DIR/hot and DIR/ready. */
static int setup(const struct opts *o)
{
	uint64_t t0 = now_ms(CLOCK_MONOTONIC), bytes = (uint64_t)o->mib << 20;
	char *hot = calloc(1, (size_t)o->hot * 24 + 1), buf[256];
	size_t hl = 0;

	W.pages = bytes / PAGE;
	W.data = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		      -1, 0);
	W.shadow = mmap(NULL, W.pages * sizeof(uint32_t), PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (W.data == MAP_FAILED || W.shadow == MAP_FAILED || !hot)
		return -ENOMEM;
	W.rng = o->seed * 0x2545f4914f6cdd1dULL;
	zipf_init(o->s);
	for (uint64_t p = 0; p < W.pages; p++) {
		uint64_t *pg = W.data + p * WORDS;

		pg[1] = page_check(o->seed, p, 0); /* pg[0], the count, is 0 */
		for (uint64_t w = 2; w < WORDS; w++)
			pg[w] = memfill_word(o->seed, p * WORDS + w);
	}
	for (uint64_t r = 0; r < o->hot && r < W.pages; r++)
		hl += (size_t)sprintf(hot + hl, "0x%" PRIxPTR "\n",
				      (uintptr_t)(W.data + perm(r) * WORDS));
	snprintf(buf, sizeof(buf), "ready %" PRIu64 " 0x%" PRIxPTR " %" PRIu64 " 0x%" PRIxPTR " %" PRIu64 "\n",
		 bytes, (uintptr_t)W.data, now_ms(CLOCK_MONOTONIC) - t0, (uintptr_t)W.shadow,
		 W.pages * (uint64_t)sizeof(uint32_t));
	int ret = put(o->dir, "hot", hot, 0);
	free(hot);
	return ret ? ret : put(o->dir, "ready", buf, 0);
}

int main(int argc, char **argv)
{
	char go[PATH_MAX], buf[256];
	struct opts o;
	uint64_t last_ms, last_total = 0, budget, deadline;

	if (parse(argc, argv, &o)) {
		fprintf(stderr, "usage: zipf --size MiB [--s S] [--seed N] [--dir DIR] [--rate OPS] "
				"[--hot K] [--max-wait SECS]\n");
		return 2;
	}
	if (setup(&o)) {
		perror("zipf: setup");
		return 3;
	}
	snprintf(go, sizeof(go), "%s/go", o.dir);
	budget = o.rate > 0 ? (uint64_t)(o.rate * REPORT_MS / 1000.0) + 1 : UINT64_MAX;
	last_ms = now_ms(CLOCK_REALTIME);
	deadline = last_ms + o.max_wait * 1000;
	for (;;) {
		for (unsigned i = 0; i < CHECK_EVERY; i++)
			one_op(o.seed);
		uint64_t now = now_ms(CLOCK_REALTIME);
		if (W.total - last_total >= budget && now < last_ms + REPORT_MS) {
			nanosleep(&(struct timespec){ 0, (long)(last_ms + REPORT_MS - now) * 1000000L }, NULL);
			now = now_ms(CLOCK_REALTIME);
		}
		if (now < last_ms + REPORT_MS)
			continue;
		snprintf(buf, sizeof(buf), "%" PRIu64 " %" PRIu64 " %" PRIu64 "\n", now,
			 W.total - last_total, W.total);
		put(o.dir, "tput.txt", buf, 1); /* a lost line is no error */
		last_ms = now;
		last_total = W.total;
		if (!access(go, F_OK))
			break;
		if (now > deadline) {
			put(o.dir, "result", "FAIL timeout\n", 0);
			return 2;
		}
	}
	int bad = verify(o.seed, buf, sizeof(buf));
	return put(o.dir, "result", buf, 0) ? 3 : bad;
}
