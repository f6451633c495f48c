/* mtwork: a multi-threaded workload that changes its address space while its
 * memory is still arriving lazily (post-copy restore).
 *   mtwork --size MiB [--threads N] [--children C] [--seed S] [--dir DIR] [--max-wait SECS]
 * N regions of SIZE/N MiB (own VMAs, guard pages between), N threads (default 8,
 * >= 3); thread r fills region r (word w = mtwork_word(seed, r, w), splitmix64),
 * DIR/ready is written, and until DIR/go each thread rewrites one page of its
 * region (same values) every 10 ms. On DIR/go the main thread stops that, then
 * forks C children (default 4, <= N-2; child c verifies region c in its own
 * address space, else writes DIR/child.<c> and exits 1), mremaps region N-2 to
 * a new address (MREMAP_MAYMOVE|MREMAP_FIXED) and drops region N-1
 * (MADV_DONTNEED). Before each step it counts the region pages not resident
 * (mincore): after a lazy restore, > 0 proves the step came mid-transfer. Then
 * each thread verifies its region (N-2 at its new place, N-1 must be zeros).
 * DIR/result: "OK <bytes> missing fork=<n> remap=<n> dontneed=<n> children=<C>"
 * (exit 0), "FAIL <first problem>" (1), or "FAIL timeout" (2) after --max-wait s
 * without DIR/go. No file stays open (CRIU restores the fds). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#define WPP (PAGE / 8) /* words per page */
#define POLL_NS 10000000L
#define MAX_THREADS 64
#define PATH_LEN 4096

enum phase { PH_TOUCH, PH_STOP, PH_VERIFY };

struct region {
	unsigned idx, zero; /* zero: expect zeros (after MADV_DONTNEED) */
	uint64_t *base, seed; /* base: where the region is now */
	size_t pages;
	pthread_t tid;
	char verdict[200]; /* empty: OK */
};

static struct opts {
	size_t mib;
	unsigned threads, children;
	uint64_t seed;
	const char *dir;
	unsigned long max_wait;
} o;

static volatile int phase = PH_TOUCH, stopped, filled; /* threads that saw PH_STOP / filled */
static struct region rg[MAX_THREADS];

static inline uint64_t mtwork_word(uint64_t seed, unsigned region, uint64_t w)
{
	uint64_t z = w + (uint64_t)(region + 1) * 0x9e3779b97f4a7c15ULL + seed * 0xd1b54a32d192ed03ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void nap_ns(long ns)
{
	struct timespec ts = { 0, ns };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void write_page(struct region *r, size_t page)
{
	for (size_t i = 0; i < WPP; i++)
		r->base[page * WPP + i] = mtwork_word(r->seed, r->idx, page * WPP + i);
}

/* Checks every word; on a mismatch describes it in OUT and returns 1.
 * Fit for a forked child: no locks, no allocation. */
static int check_region(const struct region *r, char *out, size_t len)
{
	for (size_t w = 0; w < r->pages * WPP; w++) {
		uint64_t want = r->zero ? 0 : mtwork_word(r->seed, r->idx, w);

		if (r->base[w] != want) {
			snprintf(out, len, "region %u%s page %zu offset 0x%zx expected 0x%016" PRIx64
				 " got 0x%016" PRIx64, r->idx, r->zero ? " (dropped)" : "", w / WPP,
				 (w % WPP) * 8, want, r->base[w]);
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

static int write_file(const char *name, const char *text)
{
	char tmp[PATH_LEN], dst[PATH_LEN];
	size_t len = strlen(text);
	int fd;

	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", o.dir, name);
	snprintf(dst, sizeof(dst), "%s/%s", o.dir, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int bad = write(fd, text, len) != (ssize_t)len;
	if (close(fd) || bad)
		return -EIO;
	return rename(tmp, dst) ? -errno : 0;
}

static __attribute__((format(printf, 1, 2))) int fail(const char *fmt, ...)
{
	char buf[400] = "FAIL ";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf + 5, sizeof(buf) - 6, fmt, ap);
	va_end(ap);
	strcat(buf, "\n");
	write_file("result", buf);
	return 1;
}

/* Region pages that are not resident (lazy pages not in yet), or -1. */
static long count_missing(void)
{
	static unsigned char vec[1 << 16];
	long missing = 0;

	for (unsigned i = 0; i < o.threads; i++)
		for (size_t pg = 0; pg < rg[i].pages; pg += sizeof(vec)) {
			size_t k = rg[i].pages - pg < sizeof(vec) ? rg[i].pages - pg : sizeof(vec);

			if (mincore((char *)rg[i].base + pg * PAGE, k * PAGE, vec))
				return -1;
			for (size_t j = 0; j < k; j++)
				missing += !(vec[j] & 1);
		}
	return missing;
}

static int parse(int argc, char **argv)
{
	o = (struct opts){ .threads = 8, .children = 4, .seed = 1, .dir = ".", .max_wait = 1800 };
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *a = argv[i], *v = argv[i + 1];

		if (!strcmp(a, "--size")) o.mib = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--threads")) o.threads = (unsigned)strtoul(v, NULL, 0);
		else if (!strcmp(a, "--children")) o.children = (unsigned)strtoul(v, NULL, 0);
		else if (!strcmp(a, "--seed")) o.seed = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--dir")) o.dir = v;
		else if (!strcmp(a, "--max-wait")) o.max_wait = strtoul(v, NULL, 0);
		else return -EINVAL;
	}
	if (argc % 2 == 0 || !o.mib || o.threads < 3 || o.threads > MAX_THREADS ||
	    o.children > o.threads - 2 || (o.mib << 20) / o.threads < PAGE)
		return -EINVAL;
	return 0;
}

/* Maps the regions, starts the threads, waits for the fill, writes DIR/ready. */
static int setup(void)
{
	size_t rpages = (o.mib << 20) / o.threads / PAGE, off;
	char buf[4096], *all;

	all = mmap(NULL, o.threads * (rpages + 1) * PAGE, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (all == MAP_FAILED)
		return -errno;
	for (unsigned i = 0; i < o.threads; i++) {
		char *b = all + (i * (rpages + 1) + 1) * PAGE;

		if (mprotect(b, rpages * PAGE, PROT_READ | PROT_WRITE))
			return -errno;
		rg[i] = (struct region){ .idx = i, .base = (uint64_t *)b, .pages = rpages, .seed = o.seed };
		if (pthread_create(&rg[i].tid, NULL, worker, &rg[i]))
			return -EAGAIN;
	}
	while (__atomic_load_n(&filled, __ATOMIC_ACQUIRE) != (int)o.threads)
		nap_ns(POLL_NS);
	off = (size_t)snprintf(buf, sizeof(buf), "ready %zu %u", o.threads * rpages * PAGE, o.threads);
	for (unsigned i = 0; i < o.threads; i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, " %p", (void *)rg[i].base);
	snprintf(buf + off, sizeof(buf) - off, "\n");
	return write_file("ready", buf);
}

/* Reaps child C; 0 if it verified its region. */
static int reap(unsigned c, pid_t pid)
{
	char name[PATH_LEN], why[200] = "";
	int st, fd;

	if (waitpid(pid, &st, 0) != pid)
		return fail("waitpid child %u: %s", c, strerror(errno));
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	snprintf(name, sizeof(name), "%s/child.%u", o.dir, c);
	fd = open(name, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t k = read(fd, why, sizeof(why) - 1);
		why[k > 0 ? k : 0] = 0;
		close(fd);
	}
	return fail("child %u: %s (status 0x%x)", c, why, st);
}

int main(int argc, char **argv)
{
	long miss[3];
	pid_t kids[MAX_THREADS];
	char path[PATH_LEN], buf[256];
	int ret;

	if (parse(argc, argv))
		return fprintf(stderr, "usage: mtwork --size MiB [--threads N] [--children C] "
				       "[--seed S] [--dir DIR] [--max-wait SECS]\n"), 2;
	unsigned moved = o.threads - 2, dropped = o.threads - 1;
	if ((ret = setup())) {
		fprintf(stderr, "mtwork: setup: %s\n", strerror(-ret));
		return 3;
	}
	snprintf(path, sizeof(path), "%s/go", o.dir);
	for (unsigned long polls = 0; access(path, F_OK); polls++) {
		if (polls > o.max_wait * (1000000000L / POLL_NS)) {
			write_file("result", "FAIL timeout\n");
			return 2;
		}
		nap_ns(POLL_NS);
	}
	__atomic_store_n(&phase, PH_STOP, __ATOMIC_RELEASE);
	while (__atomic_load_n(&stopped, __ATOMIC_ACQUIRE) != (int)o.threads)
		nap_ns(100000);

	miss[0] = count_missing(); /* fork: each child checks one region */
	for (unsigned c = 0; c < o.children; c++) {
		kids[c] = fork();
		if (kids[c] < 0)
			return fail("fork: %s", strerror(errno));
		if (kids[c] == 0) {
			char why[200], name[32];

			snprintf(name, sizeof(name), "child.%u", c);
			_exit(check_region(&rg[c], why, sizeof(why)) ? (write_file(name, why), 1) : 0);
		}
	}
	miss[1] = count_missing(); /* mremap: region MOVED goes to a fresh address */
	size_t len = rg[moved].pages * PAGE;
	void *dst = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (dst == MAP_FAILED)
		return fail("mmap for mremap: %s", strerror(errno));
	void *to = mremap(rg[moved].base, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	if (to != dst)
		return fail("mremap: %s", to == MAP_FAILED ? strerror(errno) : "wrong address");
	rg[moved].base = to;
	miss[2] = count_missing(); /* MADV_DONTNEED: region DROPPED reads zeros */
	if (madvise(rg[dropped].base, len, MADV_DONTNEED))
		return fail("madvise: %s", strerror(errno));
	rg[dropped].zero = 1;

	__atomic_store_n(&phase, PH_VERIFY, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < o.threads; i++)
		pthread_join(rg[i].tid, NULL);
	for (unsigned c = 0; c < o.children; c++)
		if (reap(c, kids[c]))
			return 1;
	for (unsigned i = 0; i < o.threads; i++)
		if (rg[i].verdict[0])
			return fail("%s", rg[i].verdict);
	if (miss[0] < 0 || miss[1] < 0 || miss[2] < 0)
		return fail("mincore failed");
	snprintf(buf, sizeof(buf), "OK %zu missing fork=%ld remap=%ld dontneed=%ld children=%u\n",
		 o.threads * rg[0].pages * PAGE, miss[0], miss[1], miss[2], o.children);
	return write_file("result", buf) ? 3 : 0;
}
