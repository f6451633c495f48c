/*
 * mtwork: a multi-threaded workload that changes its address space while its
 * memory is still arriving lazily (post-copy restore).
 *
 *   mtwork --size MiB [--threads N] [--children N] [--seed S] [--dir DIR]
 *          [--max-wait SECS]
 *
 * 1. Maps N regions of SIZE/N MiB (page aligned), each its own anonymous
 *    private mapping with an inaccessible guard page before it, and starts N
 *    threads (default 8, at least 3). Thread r fills region r: the 64-bit word
 *    w of region r is mtwork_word(seed, r, w), a splitmix64 hash, so a zero
 *    page, a stale page or a page of the wrong region or offset is caught.
 * 2. Writes DIR/ready ("ready <bytes> <threads> <regions base hex...>\n").
 *    Until DIR/go appears every thread keeps touching its region: it rewrites
 *    one page every 10 ms with the same pattern (the content stays
 *    deterministic, the pages stay written to, and after a lazy restore these
 *    writes fault).
 * 3. When DIR/go appears (polled every 10 ms), the main thread stops the
 *    touching and then, in this order:
 *      - forks C children (default 4, at most N - 2); child c verifies every
 *        byte of region c in its own address space and exits 0, or writes
 *        the first mismatch to DIR/child.<c> and exits 1;
 *      - moves region N-2 to a new address with mremap(MREMAP_MAYMOVE |
 *        MREMAP_FIXED) (over an inaccessible reservation made for it);
 *      - drops region N-1 with madvise(MADV_DONTNEED).
 *    Just before each of the three steps it counts, with mincore(), the pages
 *    of the regions that are not resident: after a lazy restore these are the
 *    lazy pages that have not arrived yet, so a count > 0 proves that the step
 *    happened while the transfer was still running.
 *    Then every thread verifies its whole region: region N-2 at its new
 *    address, region N-1 must read as zeros, the others their pattern. The
 *    main thread reaps the children and checks their exit status.
 * 4. DIR/result (tmp + rename) gets
 *      "OK <bytes verified> missing fork=<n> remap=<n> dontneed=<n> children=<C>"
 *    or "FAIL <what>" for the first problem found; exit 0 / 1.
 *    Without DIR/go after --max-wait seconds (default 1800): "FAIL timeout",
 *    exit 2.
 * The process keeps no file open (stdio is the harness's), so CRIU can always
 * restore its fds. Built static (-lpthread) by the Makefile.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#define WORDS_PER_PAGE (PAGE / 8)
#define POLL_NS 10000000L
#define MAX_THREADS 64

enum phase { PH_TOUCH, PH_STOP, PH_VERIFY };

struct region {
	unsigned idx;
	uint64_t *base; /* where the region is now */
	size_t pages;
	uint64_t seed;
	int zero;		/* expect zeros (after MADV_DONTNEED) */
	pthread_t tid;
	char verdict[200];	/* empty: OK */
};

static volatile int phase = PH_TOUCH;
static volatile int stopped; /* threads that saw PH_STOP */
static volatile int filled;  /* threads done filling */

static inline uint64_t mtwork_word(uint64_t seed, unsigned region, uint64_t w)
{
	uint64_t z = w + (uint64_t)(region + 1) * 0x9e3779b97f4a7c15ULL +
		     seed * 0xd1b54a32d192ed03ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void nap_ns(long ns)
{
	struct timespec ts = { ns / 1000000000L, ns % 1000000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void write_page(struct region *r, size_t page)
{
	uint64_t *p = r->base + page * WORDS_PER_PAGE;
	uint64_t w0 = page * WORDS_PER_PAGE;

	for (size_t i = 0; i < WORDS_PER_PAGE; i++)
		p[i] = mtwork_word(r->seed, r->idx, w0 + i);
}

/* Checks every word; on a mismatch fills OUT (may be NULL) and returns 1.
 * Async-signal-safe (used in forked children): no locks, no allocation. */
static int check_region(const struct region *r, char *out, size_t len)
{
	const uint64_t *p = r->base;

	for (size_t w = 0; w < r->pages * WORDS_PER_PAGE; w++) {
		uint64_t want = r->zero ? 0 : mtwork_word(r->seed, r->idx, w);

		if (p[w] != want) {
			if (out)
				snprintf(out, len,
					 "region %u%s page %zu offset 0x%zx expected 0x%016" PRIx64
					 " got 0x%016" PRIx64, r->idx, r->zero ? " (dropped)" : "",
					 w / WORDS_PER_PAGE, (w % WORDS_PER_PAGE) * 8, want, p[w]);
			return 1;
		}
	}
	return 0;
}

static void *worker(void *arg)
{
	struct region *r = arg;
	size_t next = 0;

	for (size_t pg = 0; pg < r->pages; pg++)
		write_page(r, pg);
	__atomic_add_fetch(&filled, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&phase, __ATOMIC_ACQUIRE) == PH_TOUCH) {
		write_page(r, next);
		next = (next + 1) % r->pages;
		nap_ns(POLL_NS);
	}
	__atomic_add_fetch(&stopped, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&phase, __ATOMIC_ACQUIRE) != PH_VERIFY)
		nap_ns(1000000);
	check_region(r, r->verdict, sizeof(r->verdict));
	return NULL;
}

static int write_file(const char *dir, const char *name, const char *text)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	size_t len = strlen(text);
	int fd;

	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	snprintf(dst, sizeof(dst), "%s/%s", dir, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		return -EIO;
	}
	if (close(fd))
		return -errno;
	return rename(tmp, dst) ? -errno : 0;
}

/* Pages of the regions that are not resident (not arrived yet). */
static size_t count_missing(struct region *rg, unsigned n)
{
	static unsigned char vec[1 << 16];
	size_t missing = 0;

	for (unsigned i = 0; i < n; i++) {
		for (size_t pg = 0; pg < rg[i].pages; pg += sizeof(vec)) {
			size_t k = rg[i].pages - pg < sizeof(vec) ? rg[i].pages - pg : sizeof(vec);

			if (mincore((char *)rg[i].base + pg * PAGE, k * PAGE, vec))
				return (size_t)-1;
			for (size_t j = 0; j < k; j++)
				missing += !(vec[j] & 1);
		}
	}
	return missing;
}

struct opts {
	size_t mib;
	unsigned threads, children;
	uint64_t seed;
	const char *dir;
	unsigned long max_wait;
};

static int usage(void)
{
	fprintf(stderr, "usage: mtwork --size MiB [--threads N] [--children N] [--seed S] "
			"[--dir DIR] [--max-wait SECS]\n");
	return 2;
}

static int parse(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){ .threads = 8, .children = 4, .seed = 1, .dir = ".", .max_wait = 1800 };
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *a = argv[i], *v = argv[i + 1];

		if (!strcmp(a, "--size"))
			o->mib = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--threads"))
			o->threads = (unsigned)strtoul(v, NULL, 0);
		else if (!strcmp(a, "--children"))
			o->children = (unsigned)strtoul(v, NULL, 0);
		else if (!strcmp(a, "--seed"))
			o->seed = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--dir"))
			o->dir = v;
		else if (!strcmp(a, "--max-wait"))
			o->max_wait = strtoul(v, NULL, 0);
		else
			return -EINVAL;
	}
	if (argc % 2 == 0 || !o->mib || o->threads < 3 || o->threads > MAX_THREADS ||
	    o->children > o->threads - 2 || (o->mib << 20) / o->threads < PAGE)
		return -EINVAL;
	return 0;
}

static int fail(const char *dir, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(const char *dir, const char *fmt, ...)
{
	char buf[400];
	va_list ap;

	strcpy(buf, "FAIL ");
	va_start(ap, fmt);
	vsnprintf(buf + 5, sizeof(buf) - 6, fmt, ap);
	va_end(ap);
	strcat(buf, "\n");
	write_file(dir, "result", buf);
	return 1;
}

int main(int argc, char **argv)
{
	static struct region rg[MAX_THREADS];
	struct opts o;
	char path[PATH_MAX], buf[4096];
	size_t rpages, miss_fork, miss_remap, miss_drop, off;
	pid_t kids[MAX_THREADS];
	unsigned long polls = 0;
	unsigned n, moved, dropped;
	char *all;

	if (parse(argc, argv, &o))
		return usage();
	n = o.threads;
	moved = n - 2;
	dropped = n - 1;
	rpages = (o.mib << 20) / n / PAGE;
	/* One inaccessible reservation; each region is made writable inside it
	 * after a guard page, so every region is a VMA of its own. */
	all = mmap(NULL, n * (rpages + 1) * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
		   MAP_NORESERVE, -1, 0);
	if (all == MAP_FAILED) {
		perror("mtwork: mmap");
		return 3;
	}
	for (unsigned i = 0; i < n; i++) {
		char *b = all + (i * (rpages + 1) + 1) * PAGE;

		if (mprotect(b, rpages * PAGE, PROT_READ | PROT_WRITE)) {
			perror("mtwork: mprotect");
			return 3;
		}
		rg[i] = (struct region){ .idx = i, .base = (uint64_t *)b, .pages = rpages,
					 .seed = o.seed };
	}
	for (unsigned i = 0; i < n; i++)
		if (pthread_create(&rg[i].tid, NULL, worker, &rg[i])) {
			fprintf(stderr, "mtwork: pthread_create failed\n");
			return 3;
		}
	while (__atomic_load_n(&filled, __ATOMIC_ACQUIRE) != (int)n)
		nap_ns(POLL_NS);
	off = (size_t)snprintf(buf, sizeof(buf), "ready %zu %u", n * rpages * PAGE, n);
	for (unsigned i = 0; i < n && off < sizeof(buf) - 32; i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, " %p", (void *)rg[i].base);
	snprintf(buf + off, sizeof(buf) - off, "\n");
	if (write_file(o.dir, "ready", buf)) {
		perror("mtwork: write ready");
		return 3;
	}

	snprintf(path, sizeof(path), "%s/go", o.dir);
	while (access(path, F_OK)) {
		if (++polls > o.max_wait * (1000000000L / POLL_NS)) {
			write_file(o.dir, "result", "FAIL timeout\n");
			return 2;
		}
		nap_ns(POLL_NS);
	}

	/* Stop the touching: the regions are about to move and be dropped. */
	__atomic_store_n(&phase, PH_STOP, __ATOMIC_RELEASE);
	while (__atomic_load_n(&stopped, __ATOMIC_ACQUIRE) != (int)n)
		nap_ns(100000);

	/* fork: each child checks one region in its own address space. */
	miss_fork = count_missing(rg, n);
	if (miss_fork == (size_t)-1)
		return fail(o.dir, "mincore: %s", strerror(errno));
	for (unsigned c = 0; c < o.children; c++) {
		kids[c] = fork();
		if (kids[c] < 0)
			return fail(o.dir, "fork: %s", strerror(errno));
		if (kids[c] == 0) {
			char why[200], name[32];

			if (!check_region(&rg[c], why, sizeof(why)))
				_exit(0);
			snprintf(name, sizeof(name), "child.%u", c);
			write_file(o.dir, name, why);
			_exit(1);
		}
	}

	/* mremap: region MOVED goes to a fresh address. */
	miss_remap = count_missing(rg, n);
	if (miss_remap == (size_t)-1)
		return fail(o.dir, "mincore: %s", strerror(errno));
	void *dst = mmap(NULL, rpages * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
			 MAP_NORESERVE, -1, 0);
	if (dst == MAP_FAILED)
		return fail(o.dir, "mmap for mremap: %s", strerror(errno));
	void *to = mremap(rg[moved].base, rpages * PAGE, rpages * PAGE,
			  MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	if (to != dst)
		return fail(o.dir, "mremap: %s", to == MAP_FAILED ? strerror(errno) : "wrong address");
	rg[moved].base = to;

	/* madvise(MADV_DONTNEED): region DROPPED reads as zeros from now on. */
	miss_drop = count_missing(rg, n);
	if (miss_drop == (size_t)-1)
		return fail(o.dir, "mincore: %s", strerror(errno));
	if (madvise(rg[dropped].base, rpages * PAGE, MADV_DONTNEED))
		return fail(o.dir, "madvise: %s", strerror(errno));
	rg[dropped].zero = 1;

	__atomic_store_n(&phase, PH_VERIFY, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < n; i++)
		pthread_join(rg[i].tid, NULL);
	for (unsigned c = 0; c < o.children; c++) {
		int st;

		if (waitpid(kids[c], &st, 0) != kids[c])
			return fail(o.dir, "waitpid child %u: %s", c, strerror(errno));
		if (WIFEXITED(st) && WEXITSTATUS(st) == 1) {
			char name[PATH_MAX], why[200] = "";
			int fd;

			snprintf(name, sizeof(name), "%s/child.%u", o.dir, c);
			fd = open(name, O_RDONLY | O_CLOEXEC);
			if (fd >= 0) {
				ssize_t k = read(fd, why, sizeof(why) - 1);
				why[k > 0 ? k : 0] = 0;
				close(fd);
			}
			return fail(o.dir, "child %u: %s", c, why);
		}
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			return fail(o.dir, "child %u (region %u) %s %d", c, c,
				    WIFEXITED(st) ? "exited with" : "killed by signal",
				    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	}
	for (unsigned i = 0; i < n; i++)
		if (rg[i].verdict[0])
			return fail(o.dir, "%s", rg[i].verdict);
	snprintf(buf, sizeof(buf), "OK %zu missing fork=%zu remap=%zu dontneed=%zu children=%u\n",
		 n * rpages * PAGE, miss_fork, miss_remap, miss_drop, o.children);
	if (write_file(o.dir, "result", buf))
		return 3;
	return 0;
}
