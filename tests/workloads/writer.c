/*
 * writer: writes a known set of pages, for `probe hotness` (t_probe_hotness.sh).
 *   writer --dir DIR [--pages N] [--seconds S] [--threads T] [--children C] [--max-wait SECS]
 * mmaps N pages (default 1024, MADV_NOHUGEPAGE) and fills them but the holes (page
 * i % 17 == 16).  Forks C children (own copies); T threads per process share the hot
 * pages.  Each process writes DIR/ready.<pid> ("<base hex> <pages>", pid in its own
 * pid namespace) and polls for DIR/go.  Then, first matching class wins:
 *   hot    i % 8 == 0 or 100 <= i < 132: a word written every 1 ms for S s (default 1)
 *   once   i % 13 == 5: written once, by a user store
 *   kernel i % 29 == 7: written once by the kernel: read(/dev/zero) into it
 *   fresh  holes with i % 34 == 16: first written now (unpopulated until then)
 *   read   i % 11 == 3, and holes with i % 3 == 0: only read (must not count)
 *   cold   the rest: untouched
 * DIR/written.<pid> then lists "<class> <hex address>" per page written, and "done
 * <passes>".  On DIR/check it verifies every page and writes "OK" or "FAIL ..." to
 * DIR/result.<pid>, then exits (a parent after its children); after --max-wait
 * (default 600) s anyway.  It keeps no file open, so CRIU can dump it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/workloads/wl.h"

#define PAGE 4096UL
#define WORDS (PAGE / 8)

enum cls { COLD, HOT, ONCE, KERNEL, FRESH, READ, HOLE };
static const char *const cls_name[] = { "cold", "hot", "once", "kernel", "fresh", "read", "hole" };

struct ctx {
	const char *dir;
	uint64_t *mem;
	size_t pages;
	double seconds;
	unsigned threads;
	volatile int go, done;
	uint64_t passes;
};

struct worker {
	struct ctx *c;
	unsigned id;
	pthread_t tid;
};

static enum cls cls_of(size_t i)
{
	if (i % 8 == 0 || (i >= 100 && i < 132))
		return HOT;
	if (i % 17 == 16)
		return i % 34 == 16 ? FRESH : i % 3 == 0 ? READ : HOLE;
	if (i % 13 == 5)
		return ONCE;
	if (i % 29 == 7)
		return KERNEL;
	return i % 11 == 3 ? READ : COLD;
}

static int is_hole(size_t i) { return i % 17 == 16 && cls_of(i) != HOT; }

static uint64_t fill_word(size_t page, size_t w) { return (uint64_t)page << 32 | w | 0x5a00000000000000ULL; }

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR) /* restarts after ptrace stops too */
		;
}

static int put_file(const char *dir, const char *name, const char *text)
{
	return wl_write_file(dir, name, text, strlen(text));
}

static int exists(const char *dir, const char *name)
{
	char p[PATH_MAX];

	return snprintf(p, sizeof(p), "%s/%s", dir, name) > 0 && access(p, F_OK) == 0;
}

/* Hot pages (i / 4) % threads == id, one word each, every 1 ms. */
static void *hot_loop(void *arg)
{
	struct worker *w = arg;
	struct ctx *c = w->c;

	while (!c->go)
		nap_ms(1);
	while (!c->done) {
		for (size_t i = 0; i < c->pages; i++)
			if (cls_of(i) == HOT && (i / 4) % c->threads == w->id)
				((volatile uint64_t *)c->mem)[i * WORDS] =
					__atomic_load_n(&c->passes, __ATOMIC_RELAXED) + 1;
		if (w->id == 0)
			__atomic_add_fetch(&c->passes, 1, __ATOMIC_RELAXED);
		nap_ms(1);
	}
	return NULL;
}

/* The once, kernel and fresh writes, and the reads. */
static int write_rest(struct ctx *c)
{
	volatile uint64_t sink = 0;
	int zero = open("/dev/zero", O_RDONLY | O_CLOEXEC);

	if (zero < 0)
		return -errno;
	for (size_t i = 0; i < c->pages; i++) {
		uint64_t *p = c->mem + i * WORDS;

		enum cls k = cls_of(i);

		if (k == ONCE || k == FRESH)
			p[0] = k == ONCE ? 0x0bce : 0xf5e5;
		else if (k == KERNEL && read(zero, p + 16, 64) != 64)
			return -EIO;
		else if (k == READ)
			sink += ((volatile uint64_t *)p)[7];
	}
	close(zero);
	(void)sink;
	return 0;
}

static int report(struct ctx *c)
{
	size_t cap = c->pages * 32 + 64, len = 0;
	char *buf = malloc(cap), name[64];
	int ret;

	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < c->pages; i++) {
		enum cls k = cls_of(i);

		if (k == HOT || k == ONCE || k == KERNEL || k == FRESH)
			len += (size_t)snprintf(buf + len, cap - len, "%s %lx\n", cls_name[k],
						(unsigned long)(c->mem + i * WORDS));
	}
	snprintf(buf + len, cap - len, "done %lu\n", (unsigned long)c->passes);
	snprintf(name, sizeof(name), "written.%d", (int)getpid());
	ret = put_file(c->dir, name, buf);
	free(buf);
	return ret;
}

static uint64_t expect(size_t i, size_t w)
{
	enum cls k = cls_of(i);

	if (w == 0 && k == ONCE)
		return 0x0bce;
	if (w == 0 && k == FRESH)
		return 0xf5e5;
	if (is_hole(i) || (k == KERNEL && w >= 16 && w < 24))
		return 0;
	return fill_word(i, w);
}

static void check(struct ctx *c)
{
	char name[64], msg[96] = "OK\n";

	for (size_t i = 0; i < c->pages && msg[0] == 'O'; i++)
		for (size_t w = 0; w < WORDS; w++) {
			uint64_t got = c->mem[i * WORDS + w], want = expect(i, w);

			/* A hot page holds the pass that last wrote it. */
			if (w == 0 && cls_of(i) == HOT ? got < 1 || got > c->passes + 1 : got != want) {
				snprintf(msg, sizeof(msg), "FAIL page %zu word %zu: %#lx, not %#lx\n", i, w,
					 (unsigned long)got, (unsigned long)want);
				break;
			}
		}
	snprintf(name, sizeof(name), "result.%d", (int)getpid());
	put_file(c->dir, name, msg);
}

static int run(struct ctx *c, double max_wait)
{
	struct worker *w = calloc(c->threads, sizeof(*w));
	char name[64], text[64];
	double t0;

	if (!w)
		return -ENOMEM;
	for (unsigned t = 0; t < c->threads; t++) {
		w[t] = (struct worker){ c, t, 0 };
		if (pthread_create(&w[t].tid, NULL, hot_loop, &w[t]))
			return -EAGAIN;
	}
	snprintf(name, sizeof(name), "ready.%d", (int)getpid());
	snprintf(text, sizeof(text), "%lx %zu\n", (unsigned long)c->mem, c->pages);
	if (put_file(c->dir, name, text))
		return -EIO;
	for (t0 = now_s(); !exists(c->dir, "go"); nap_ms(1))
		if (now_s() - t0 > max_wait)
			return -ETIMEDOUT;
	c->go = 1;
	if (write_rest(c))
		return -EIO;
	for (t0 = now_s(); now_s() - t0 < c->seconds;)
		nap_ms(5);
	c->done = 1;
	for (unsigned t = 0; t < c->threads; t++)
		pthread_join(w[t].tid, NULL);
	free(w);
	if (report(c))
		return -EIO;
	for (t0 = now_s(); now_s() - t0 < max_wait; nap_ms(10))
		if (exists(c->dir, "check")) {
			check(c);
			return 0;
		}
	return -ETIMEDOUT;
}

int main(int argc, char **argv)
{
	struct ctx c = { .dir = ".", .pages = 1024, .seconds = 1, .threads = 1 };
	unsigned children = 0;
	double max_wait = 600;
	int ret;

	for (int i = 1; i + 1 < argc; i += 2) {
		const char *a = argv[i], *v = argv[i + 1];

		if (!strcmp(a, "--dir"))
			c.dir = v;
		else if (!strcmp(a, "--pages"))
			c.pages = strtoul(v, NULL, 0);
		else if (!strcmp(a, "--seconds"))
			c.seconds = strtod(v, NULL);
		else if (!strcmp(a, "--threads"))
			c.threads = (unsigned)strtoul(v, NULL, 0);
		else if (!strcmp(a, "--children"))
			children = (unsigned)strtoul(v, NULL, 0);
		else if (!strcmp(a, "--max-wait"))
			max_wait = strtod(v, NULL);
		else
			break;
	}
	if (argc % 2 == 0 || !c.pages || !c.threads || c.threads > 64 || children > 64) {
		fprintf(stderr, "usage: writer --dir DIR [--pages N] [--seconds S] [--threads T] "
				"[--children C] [--max-wait SECS]\n");
		return 2;
	}
	c.mem = mmap(NULL, c.pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c.mem == MAP_FAILED)
		return 1;
	madvise(c.mem, c.pages * PAGE, MADV_NOHUGEPAGE);
	for (size_t i = 0; i < c.pages; i++)
		for (size_t w = 0; w < WORDS && !is_hole(i); w++)
			c.mem[i * WORDS + w] = fill_word(i, w);
	for (unsigned k = 0; k < children; k++)
		if (fork() == 0) {
			children = 0;
			break;
		}
	ret = run(&c, max_wait) ? 1 : 0;
	/* As pid 1 of a namespace, exiting would kill the children mid-check. */
	while (children && wait(NULL) > 0)
		;
	return ret;
}
