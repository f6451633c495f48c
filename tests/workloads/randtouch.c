/*
 * randtouch: fault latency right after a post-copy restore.
 *   randtouch --size MiB [--touches N] [--seed S] [--dir DIR] [--max-wait SECS]
 *             [--touched-only]
 * 1. Fills SIZE MiB of anonymous private memory like memfill: the 64-bit word at
 *    byte offset o is splitmix64(o / 8 + seed * 0xd1b54a32d192ed03).
 * 2. Writes DIR/ready ("ready <bytes> <hex base>\n", tmp + rename).
 * 3. Sleeps in 1 ms nanosleeps, checking for DIR/go after each. The harness
 *    creates DIR/go after the dump and before the restore, so the restored
 *    process finds it at its first check, at most ~1 ms after it resumes.
 * 4. At once touches N distinct random pages of the mapping (seeded xorshift;
 *    the bookkeeping lives in mappings made after the restore, which never
 *    fault to the lazy-pages daemon). Each first touch is one volatile 8-byte
 *    read between two clock_gettime(CLOCK_MONOTONIC). mincore() just before
 *    says whether the page was already resident (e.g. prefetched): no fault.
 * 5. Checks every touched page, and writes DIR/lat.txt:
 *      "# randtouch resume_realtime_ns <T> touches <N> bad_pages <B>", then per
 *      touch: "<latency ns> <start ns after T> <resident before: 0|1> <page>"
 *    T is CLOCK_REALTIME when DIR/go was seen (comparable with `date +%s%N`).
 * 6. Unless --touched-only: verifies every byte of the mapping, then reads every
 *    page of its other private anonymous mappings (heap, stack, libc data; from
 *    /proc/self/maps), so every lazy page has been faulted in and a daemon
 *    without background fetch can finish.
 * 7. DIR/result: "OK <bytes verified> touched <N>" (exit 0) or "FAIL <what>"
 *    (exit 1); without DIR/go after --max-wait s (default 1800) "FAIL timeout",
 *    exit 2. No file stays open, so CRIU can always restore its fds.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
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

struct opts {
	size_t mib, touches;
	uint64_t seed;
	const char *dir;
	unsigned long max_wait;
	int touched_only;
};

#define word wl_word

static uint64_t ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

#define write_file wl_write_file

static int parse(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){ .touches = 1000, .seed = 1, .dir = ".", .max_wait = 1800 };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--touched-only")) {
			o->touched_only = 1;
			continue;
		}
		if (!v)
			return -EINVAL;
		if (!strcmp(a, "--size"))
			o->mib = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--touches"))
			o->touches = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--seed"))
			o->seed = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--dir"))
			o->dir = v;
		else if (!strcmp(a, "--max-wait"))
			o->max_wait = strtoul(v, NULL, 0);
		else
			return -EINVAL;
		i++;
	}
	if (!o->mib || !o->touches || o->touches > (o->mib << 20) / PAGE)
		return -EINVAL;
	return 0;
}

/* Step 3: 1 ms naps until DIR/go exists; 0, or -ETIMEDOUT. */
static int wait_go(const struct opts *o)
{
	char path[PATH_MAX];
	uint64_t naps = 0;

	snprintf(path, sizeof(path), "%s/go", o->dir);
	while (access(path, F_OK)) {
		struct timespec ts = { 0, 1000000L };

		if (++naps > o->max_wait * 1000ULL)
			return -ETIMEDOUT;
		nanosleep(&ts, NULL); /* EINTR (e.g. a restore): just look again */
	}
	return 0;
}

static void *fresh(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

struct touch {
	uint64_t lat, start, page;
	int resident;
};

/* Step 4: N distinct random pages, each first touch timed. */
static void touch_pages(const struct opts *o, const uint64_t *base, struct touch *t,
			uint8_t *seen, uint64_t t_go)
{
	uint64_t pages = (o->mib << 20) / PAGE, x = o->seed * 0x9e3779b97f4a7c15ULL | 1;

	for (size_t i = 0; i < o->touches; i++) {
		uint64_t p, t0, t1;
		unsigned char vec;

		do { /* xorshift64 */
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			p = x % pages;
		} while (seen[p / 8] & (1u << (p % 8)));
		seen[p / 8] |= (uint8_t)(1u << (p % 8));
		const volatile uint64_t *w = base + p * WORDS;

		int resident = mincore((void *)(uintptr_t)w, PAGE, &vec) == 0 && (vec & 1);

		t0 = ns(CLOCK_MONOTONIC);
		(void)*w;
		t1 = ns(CLOCK_MONOTONIC);
		t[i] = (struct touch){ .lat = t1 - t0, .start = t0 - t_go, .page = p,
				       .resident = resident };
	}
}

static int check_page(const struct opts *o, const uint64_t *base, uint64_t p)
{
	for (uint64_t i = p * WORDS; i < (p + 1) * WORDS; i++)
		if (base[i] != word(o->seed, i))
			return -1;
	return 0;
}

/* Step 5: writes DIR/lat.txt; returns the number of bad touched pages. */
static size_t report_touches(const struct opts *o, const uint64_t *base, const struct touch *t,
			     uint64_t go_real)
{
	size_t cap = 96 + o->touches * 64, len = 0, bad = 0;
	char *buf = fresh(cap);

	for (size_t i = 0; i < o->touches; i++)
		bad += check_page(o, base, t[i].page) != 0;
	if (!buf)
		return bad + 1;
	len += (size_t)snprintf(buf, cap, "# randtouch resume_realtime_ns %" PRIu64
				" touches %zu bad_pages %zu\n", go_real, o->touches, bad);
	for (size_t i = 0; i < o->touches; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%" PRIu64 " %" PRIu64 " %d %" PRIu64 "\n",
					t[i].lat, t[i].start, t[i].resident, t[i].page);
	if (write_file(o->dir, "lat.txt", buf, len))
		bad++;
	munmap(buf, cap);
	return bad;
}

/* Step 6: one read per page of every other readable private anonymous mapping. */
static void touch_other_anon(const uint64_t *base)
{
	size_t cap = 1 << 20, len = 0;
	char *buf = fresh(cap), *line, *save = NULL;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	while (buf && fd >= 0 && len < cap - 1 && (n = read(fd, buf + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	if (fd >= 0)
		close(fd);
	if (!buf)
		return;
	buf[len] = 0;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long lo, hi, inode;
		char perms[8], path[64] = "";

		if (sscanf(line, "%lx-%lx %7s %*s %*s %lu %63s", &lo, &hi, perms, &inode, path) < 4 ||
		    perms[0] != 'r' || perms[3] != 'p' || inode || (path[0] && strcmp(path, "[heap]") &&
		    strcmp(path, "[stack]")) || lo == (uintptr_t)base)
			continue;
		for (unsigned long a = lo; a < hi; a += PAGE)
			(void)*(const volatile char *)a;
	}
	munmap(buf, cap);
}

static int result(const struct opts *o, const char *text)
{
	return write_file(o->dir, "result", text, strlen(text)) ? 3 : 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	uint64_t *base, t_go, go_real, words;
	char buf[160];
	size_t bytes, bad;
	int len;

	if (parse(argc, argv, &o)) {
		fprintf(stderr, "usage: randtouch --size MiB [--touches N] [--seed S] [--dir DIR] "
				"[--max-wait SECS] [--touched-only]\n");
		return 2;
	}
	bytes = o.mib << 20;
	words = bytes / 8;
	base = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED) {
		perror("randtouch: mmap");
		return 3;
	}
	for (uint64_t i = 0; i < words; i++)
		base[i] = word(o.seed, i);
	len = snprintf(buf, sizeof(buf), "ready %zu 0x%" PRIxPTR "\n", bytes, (uintptr_t)base);
	if (write_file(o.dir, "ready", buf, (size_t)len)) {
		perror("randtouch: write ready");
		return 3;
	}
	if (wait_go(&o))
		return result(&o, "FAIL timeout\n") ? 3 : 2;
	t_go = ns(CLOCK_MONOTONIC);
	go_real = ns(CLOCK_REALTIME);

	/* Everything from here on lives in mappings made after the restore. */
	struct touch *t = fresh(o.touches * sizeof(*t));
	uint8_t *seen = fresh(bytes / PAGE / 8 + 1);
	if (!t || !seen)
		return result(&o, "FAIL out of memory\n") ? 3 : 1;
	touch_pages(&o, base, t, seen, t_go);
	bad = report_touches(&o, base, t, go_real);
	if (bad) {
		snprintf(buf, sizeof(buf), "FAIL %zu of %zu touched pages wrong\n", bad, o.touches);
		return result(&o, buf) ? 3 : 1;
	}
	if (!o.touched_only) {
		for (uint64_t i = 0; i < words; i++) {
			if (base[i] != word(o.seed, i)) {
				snprintf(buf, sizeof(buf), "FAIL page %" PRIu64 " offset 0x%" PRIx64
					 " expected 0x%016" PRIx64 " got 0x%016" PRIx64 "\n",
					 i / WORDS, (i % WORDS) * 8, word(o.seed, i), base[i]);
				return result(&o, buf) ? 3 : 1;
			}
		}
		touch_other_anon(base);
	}
	snprintf(buf, sizeof(buf), "OK %zu touched %zu\n",
		 o.touched_only ? o.touches * PAGE : bytes, o.touches);
	return result(&o, buf);
}
