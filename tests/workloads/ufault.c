/* ufault: a known number of userfaultfd faults, resolved by the process itself,
 * for `faultline probe fault-latency` (tests/e2e/t_probe_latency.sh) and its
 * overhead measurements (docs/results/probe.md).
 *   ufault --pages N [--threads T] [--cpu C] [--no-uffd] [--wait]
 * Registers N anonymous pages with userfaultfd (MISSING), then T threads
 * (default 1) write to the first byte of each page of their slice, one page
 * at a time; a resolver thread reads each fault and answers it with
 * UFFDIO_COPY of a page whose words are the page's index, after calling the
 * marker uffd_trace_copy() as faultline lazy-pages does.  So exactly N uffd
 * faults happen, N UFFDIO_COPYs wake them, and every page is checked after.
 * --no-uffd: the same N first-touch writes on plain anonymous memory
 * (ordinary faults).  --cpu C: every thread on CPU C.  --wait: print
 * "ready <pid>" and wait for SIGUSR1 before touching anything.
 * Prints, timed by the threads themselves around each touch:
 *   ufault: faults=N p50_us=X p90_us=X p99_us=X max_us=X
 * Exit 0, or 1 with the reason on stderr (setup failed, wrong page content). */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL

struct uf {
	uint8_t *area;
	size_t pages;
	int uffd, threads, cpu;
	uint64_t *lat; /* ns, per page */
};

struct toucher {
	struct uf *u;
	size_t first, n;
	pthread_t th;
};

/* The marker faultline lazy-pages has (uffd/fault.c): a 5-byte nop. */
__attribute__((naked, noinline, used)) void uffd_trace_copy(uint64_t dst __attribute__((unused)),
		uint64_t len __attribute__((unused)), uint64_t read_ns __attribute__((unused)))
{
	__asm__ volatile(".byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n\tret");
}

static void die(const char *what)
{
	fprintf(stderr, "ufault: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("sched_setaffinity");
}

static void *resolve(void *arg)
{
	struct uf *u = arg;
	static uint64_t page[PAGE / 8] __attribute__((aligned(4096)));
	struct uffd_msg msgs[16];
	size_t done = 0;

	pin(u->cpu);
	while (done < u->pages) {
		struct pollfd p = { .fd = u->uffd, .events = POLLIN };
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			die("poll");
		ssize_t n = read(u->uffd, msgs, sizeof(msgs));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			die("read uffd");
		uint64_t t_read = now_ns();
		for (size_t i = 0; i < (size_t)n / sizeof(msgs[0]); i++) {
			if (msgs[i].event != UFFD_EVENT_PAGEFAULT)
				continue;
			uint64_t addr = msgs[i].arg.pagefault.address & ~(PAGE - 1);
			uint64_t idx = (addr - (uint64_t)(uintptr_t)u->area) / PAGE;
			for (size_t w = 0; w < PAGE / 8; w++)
				page[w] = idx;
			struct uffdio_copy c = { .dst = addr, .src = (uint64_t)(uintptr_t)page,
						 .len = PAGE };
			uffd_trace_copy(addr, PAGE, t_read);
			if (ioctl(u->uffd, UFFDIO_COPY, &c) && errno != EEXIST)
				die("UFFDIO_COPY");
			done++;
		}
	}
	return NULL;
}

static void *touch(void *arg)
{
	struct toucher *t = arg;
	struct uf *u = t->u;

	pin(u->cpu);
	for (size_t i = t->first; i < t->first + t->n; i++) {
		volatile uint8_t *p = u->area + i * PAGE;
		uint64_t t0 = now_ns();
		p[0] = 1;
		u->lat[i] = now_ns() - t0;
	}
	return NULL;
}

static void setup_uffd(struct uf *u)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { .start = (uint64_t)(uintptr_t)u->area, .len = u->pages * PAGE },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	u->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (u->uffd < 0)
		u->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (u->uffd < 0)
		die("userfaultfd");
	if (ioctl(u->uffd, UFFDIO_API, &api))
		die("UFFDIO_API");
	if (ioctl(u->uffd, UFFDIO_REGISTER, &reg))
		die("UFFDIO_REGISTER");
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Each page must hold its index (uffd) or be the touched zero page (plain). */
static void check(const struct uf *u)
{
	for (size_t i = 0; i < u->pages; i++) {
		const uint64_t *w = (const uint64_t *)(u->area + i * PAGE);
		uint64_t want = u->uffd >= 0 ? i : 0;
		if (w[1] != want || w[PAGE / 8 - 1] != want) {
			fprintf(stderr, "ufault: page %zu holds %llu, not %llu\n", i,
				(unsigned long long)w[1], (unsigned long long)want);
			exit(1);
		}
	}
}

static void report(struct uf *u)
{
	size_t n = u->pages;

	qsort(u->lat, n, sizeof(*u->lat), cmp_u64);
	printf("ufault: faults=%zu p50_us=%.2f p90_us=%.2f p99_us=%.2f max_us=%.2f\n", n,
	       (double)u->lat[n / 2] / 1e3, (double)u->lat[n * 9 / 10] / 1e3,
	       (double)u->lat[n * 99 / 100] / 1e3, (double)u->lat[n - 1] / 1e3);
}

static void wait_go(void)
{
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	sigwait(&set, &sig);
}

static void parse(int argc, char **argv, struct uf *u, int *uffd, int *wait)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
		if (!strcmp(a, "--pages") && ++i)
			u->pages = strtoul(v, NULL, 10);
		else if (!strcmp(a, "--threads") && ++i)
			u->threads = atoi(v);
		else if (!strcmp(a, "--cpu") && ++i)
			u->cpu = atoi(v);
		else if (!strcmp(a, "--no-uffd"))
			*uffd = 0;
		else if (!strcmp(a, "--wait"))
			*wait = 1;
		else
			u->pages = 0;
	}
	if (!u->pages || u->threads < 1 || u->threads > 64) {
		fprintf(stderr, "usage: ufault --pages N [--threads T] [--cpu C] [--no-uffd] "
				"[--wait]\n");
		exit(2);
	}
}

int main(int argc, char **argv)
{
	struct uf u = { .threads = 1, .cpu = -1, .uffd = -1 };
	struct toucher t[64];
	pthread_t resolver;
	int use_uffd = 1, wait = 0;

	parse(argc, argv, &u, &use_uffd, &wait);
	u.area = mmap(NULL, u.pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		      -1, 0);
	u.lat = calloc(u.pages, sizeof(*u.lat));
	if (u.area == MAP_FAILED || !u.lat)
		die("mmap");
	if (use_uffd)
		setup_uffd(&u);
	if (use_uffd && pthread_create(&resolver, NULL, resolve, &u))
		die("pthread_create");
	if (wait)
		wait_go();
	for (int i = 0; i < u.threads; i++) {
		size_t per = u.pages / (size_t)u.threads;
		t[i] = (struct toucher){ .u = &u, .first = (size_t)i * per,
					 .n = i == u.threads - 1 ? u.pages - (size_t)i * per : per };
		if (pthread_create(&t[i].th, NULL, touch, &t[i]))
			die("pthread_create");
	}
	for (int i = 0; i < u.threads; i++)
		pthread_join(t[i].th, NULL);
	if (use_uffd)
		pthread_join(resolver, NULL);
	check(&u);
	report(&u);
	return 0;
}
