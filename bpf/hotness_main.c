/* SPDX-License-Identifier: MIT */
/* `faultline probe hotness`: flags, the loop, signals. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bpf/hot_report.h"
#include "bpf/hot_run.h"
#include "bpf/probe.h"
#include "common/log.h"

static const char usage[] =
"NAME\n"
"    faultline probe hotness - the write working set and dirty rate of running\n"
"    processes, and a hotness map for `faultline lazy-pages --hotness`\n"
"\n"
"SYNOPSIS\n"
"    faultline probe hotness --pid PID [--pid PID ...] [--tree]\n"
"                            [--interval MS] [--rounds N | --duration S]\n"
"                            [--map FILE] [--pages FILE] [--json] [-v]\n"
"                            [--no-bpf] [--bpf-max-pages N] [--wp-max-vma MIB]\n"
"\n"
"DESCRIPTION\n"
"    Tracks which pages of the given processes (on the source, before a\n"
"    migration) are written, in rounds.  The processes need not cooperate and\n"
"    are left exactly as found, so `criu dump` can follow straight away.\n"
"\n"
"    Dirty pages: for each process, a userfaultfd is created inside it by\n"
"    ptrace syscall injection (one thread is stopped for about a millisecond;\n"
"    the others run on), taken out with pidfd_getfd(2) and closed in the\n"
"    target again.  Its private anonymous writable mappings are registered for\n"
"    asynchronous write-protection (UFFD_FEATURE_WP_ASYNC): a write to a\n"
"    protected page is resolved by the kernel on the spot, and only clears the\n"
"    page's protection.  Each round, the PAGEMAP_SCAN ioctl reports the pages\n"
"    written since the previous round (by the process or by the kernel on its\n"
"    behalf, e.g. read(2) into a buffer) and protects them again.  Mappings that\n"
"    appear later are registered at the next round.\n"
"\n"
"    Write counts: unless --no-bpf, a BPF program on the page_fault_user\n"
"    tracepoint counts, per page, the user-mode write faults on present pages:\n"
"    under the protection that is one per round in which the process itself\n"
"    wrote the page (the kernel's writes fault in kernel mode and are not\n"
"    counted), an independent check of the scan (--pages shows both).  If BPF\n"
"    is unavailable the probe warns and carries on without it.\n"
"\n"
"    When it stops (--rounds, --duration, SIGINT or SIGTERM) it unregisters\n"
"    everything and closes the userfaultfd: no uffd is left in any target, and\n"
"    no registration in its memory.\n"
"\n"
"OPTIONS\n"
"    -p, --pid PID        a process to track (repeatable).  A thread id means its\n"
"                         process\n"
"    -t, --tree           also every descendant, including those forked while\n"
"                         tracking (from the next round on).  Tracking is not\n"
"                         inherited across fork: a child is attached on its own\n"
"    -i, --interval MS    time between rounds (default 100, at least 1)\n"
"    -n, --rounds N       stop after N rounds\n"
"    -d, --duration S     stop after S seconds (default: run until interrupted)\n"
"    -m, --map FILE       write the hotness map at the end: written page ranges,\n"
"                         hottest first, for `faultline lazy-pages --hotness`:\n"
"                             # faultline-hotness 1\n"
"                             # vpid start end writes\n"
"                             1 7f12a4000000 7f12a4010000 523\n"
"                         vpid is the pid in the process's own pid namespace (as\n"
"                         in CRIU's pstree.img); start and end (exclusive) are hex\n"
"                         addresses; writes is the number of rounds in which each\n"
"                         page of the range was written (adjacent pages merge only\n"
"                         with equal counts)\n"
"    --pages FILE         write every page seen: \"vpid address rounds faults\"\n"
"                         (faults: the BPF count, 0 with --no-bpf)\n"
"    -j, --json           JSON lines instead of the table: one \"start\", one per\n"
"                         round, one \"summary\"\n"
"    -v, --verbose        more detail on stderr (-vv: libbpf's log too)\n"
"    --no-bpf             PAGEMAP_SCAN only, no per-page fault counts\n"
"    --bpf-max-pages N    pages the BPF counter can hold (default 2097152)\n"
"    --wp-max-vma MIB     mappings larger than this (default 4096) are protected\n"
"                         only where populated: protecting a hole allocates page\n"
"                         tables for it; a THP first-touched there reports all of\n"
"                         its 512 pages as written\n"
"    -h, --help           this text\n"
"\n"
"OUTPUT\n"
"    Per round: dirty_pg, the pages written since the previous round;\n"
"    dirty_MiB/s, the same per second; new_pg, those written for the first\n"
"    time; wss_pg, the write working set so far; >=Nrnd, pages written in at\n"
"    least N rounds (the hot set); bpf_faults, write faults in the round;\n"
"    scan_ms, the monitor's time for the round.  At the end a summary with the hot set\n"
"    at 1, 2, 4, 8 and 16 rounds, the mean and highest dirty rate, and the cost.\n"
"\n"
"REQUIREMENTS AND LIMITS\n"
"    Root (CAP_SYS_PTRACE, and CAP_BPF + CAP_PERFMON for the BPF counter),\n"
"    Linux 6.7+ (PAGEMAP_SCAN, UFFD_FEATURE_WP_ASYNC), x86-64 targets.\n"
"  - A target under a seccomp filter that forbids userfaultfd(2), or already\n"
"    traced (a debugger, strace), cannot be tracked.\n"
"  - Only private anonymous memory is tracked (what CRIU restores lazily), not\n"
"    file-backed or shared mappings.\n"
"  - A mapping that appears while tracking is registered at the next round and\n"
"    counted from the round after; one that comes and goes between two rounds\n"
"    is not seen.  Pages that MADV_DONTNEED emptied are not reported (they hold\n"
"    no data).\n"
"  - A process that executes a new program is attached again; the pages counted\n"
"    before stay in the map.\n"
"  - The kernel splits a transparent huge page when it is first written under\n"
"    protection (khugepaged may merge it again later).\n"
"  - Each attach stops one thread of the target for well under 2 ms.  Do not\n"
"    SIGKILL the probe while it attaches: a target stopped mid-injection would\n"
"    resume with the injected registers.  SIGINT and SIGTERM are safe.\n"
"\n"
"EXIT STATUS\n"
"    0 success; 1 a named process could not be tracked, or an error; 2 usage.\n";

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = sig;
}

static int number(const char *flag, const char *arg, double lo, double hi, double *out)
{
	char *end;
	double v = strtod(arg, &end);

	if (end == arg || *end || !(v >= lo && v <= hi)) {
		fprintf(stderr, "hotness: %s: '%s' is not a number in [%g, %g]\n", flag, arg, lo, hi);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int add_pid(struct hot_opts *o, const char *arg)
{
	double v;
	pid_t *n;

	if (number("--pid", arg, 1, 4194304, &v) || v != (double)(long)v)
		return -EINVAL;
	n = realloc(o->pids, (o->npids + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	o->pids = n;
	o->pids[o->npids++] = (pid_t)v;
	return 0;
}

enum { OPT_NO_BPF = 0x100, OPT_PAGES, OPT_BPF_MAX, OPT_WP_MAX };

static int parse_one(struct hot_opts *o, int opt, const char *arg)
{
	double v;

	switch (opt) {
	case 'p': return add_pid(o, arg);
	case 't': o->tree = 1; return 0;
	case 'i': return number("--interval", arg, 1, 3600000, &o->interval_ms);
	case 'n':
		if (number("--rounds", arg, 1, 1e9, &v))
			return -EINVAL;
		o->rounds = (long)v;
		return 0;
	case 'd': return number("--duration", arg, 0.001, 1e7, &o->duration_s);
	case 'm': o->map_file = arg; return 0;
	case OPT_PAGES: o->pages_file = arg; return 0;
	case 'j': o->json = 1; return 0;
	case 'v': o->verbose++; return 0;
	case OPT_NO_BPF: o->bpf = 0; return 0;
	case OPT_BPF_MAX:
		if (number("--bpf-max-pages", arg, 1024, 1 << 28, &v))
			return -EINVAL;
		o->bpf_max_pages = (uint32_t)v;
		return 0;
	case OPT_WP_MAX:
		if (number("--wp-max-vma", arg, 1, 1 << 30, &v))
			return -EINVAL;
		o->wp_max_vma = (uint64_t)(v * 1048576);
		return 0;
	case 'h': fputs(usage, stdout); exit(0);
	default: fprintf(stderr, "Try 'faultline probe hotness --help'.\n"); return -EINVAL;
	}
}

static int parse(int argc, char **argv, struct hot_opts *o)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "tree", no_argument, NULL, 't' },
		{ "interval", required_argument, NULL, 'i' },
		{ "rounds", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 'd' },
		{ "map", required_argument, NULL, 'm' },
		{ "pages", required_argument, NULL, OPT_PAGES },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "no-bpf", no_argument, NULL, OPT_NO_BPF },
		{ "bpf-max-pages", required_argument, NULL, OPT_BPF_MAX },
		{ "wp-max-vma", required_argument, NULL, OPT_WP_MAX },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int opt;

	*o = (struct hot_opts){ .interval_ms = 100, .bpf = 1, .wp_max_vma = 4096ULL << 20,
				.bpf_max_pages = PROBE_HOT_DEFAULT_PAGES, .stop_timeout_ms = 2000 };
	optind = 1;
	while ((opt = getopt_long(argc, argv, "p:ti:n:d:m:jvh", longopts, NULL)) != -1)
		if (parse_one(o, opt, optarg))
			return 2;
	if (optind < argc) {
		fprintf(stderr, "hotness: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!o->npids) {
		fprintf(stderr, "hotness: --pid is required\nTry 'faultline probe hotness --help'.\n");
		return 2;
	}
	if (o->rounds && o->duration_s) {
		fprintf(stderr, "hotness: give --rounds or --duration, not both\n");
		return 2;
	}
	return 0;
}

static void sleep_until(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ULL), (long)(ns % 1000000000ULL) };

	while (!stop && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* Rounds until a limit, a signal, or every process gone.  Returns 0 or -errno. */
static int run(struct hot_ctx *c)
{
	uint64_t step = (uint64_t)(c->o.interval_ms * 1e6), next = c->t0_ns + step;
	uint64_t end = c->o.duration_s ? c->t0_ns + (uint64_t)(c->o.duration_s * 1e9) : 0;
	struct hot_round r;
	int ret = 0;

	while (!stop && (!c->o.rounds || c->round < (uint32_t)c->o.rounds)) {
		if (end && next > end)
			next = end;
		sleep_until(next);
		if (stop)
			break;
		ret = probe_hot_round(c, &r);
		if (ret && ret != -ESRCH)
			return ret;
		probe_hot_print_round(c, &r);
		if (ret == -ESRCH) {
			fprintf(stderr, "hotness: every tracked process has exited\n");
			return 0;
		}
		if (end && next >= end)
			break;
		next += step;
		/* Late (a slow round): skip ticks instead of bursting. */
		while (next < probe_hot_now_ns())
			next += step;
	}
	return 0;
}

int probe_hotness_main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct hot_ctx c = { 0 };
	int ret;

	ret = parse(argc, argv, &c.o);
	if (ret) {
		free(c.o.pids);
		return ret;
	}
	fl_log_open(NULL, c.o.verbose ? FL_LOG_DBG : FL_LOG_WARN);
	probe_libbpf_log(c.o.verbose >= 2 ? 2 : c.o.verbose);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	ret = probe_hot_start(&c);
	if (ret)
		goto cleanup;
	probe_hot_print_start(&c);
	ret = run(&c);
	if (ret)
		fprintf(stderr, "hotness: %s\n", strerror(-ret));
	if (probe_hot_finish(&c) && !ret)
		ret = -EIO;
	probe_hot_print_summary(&c);
	if (probe_hot_write_files(&c) && !ret)
		ret = -EIO;
cleanup:
	probe_hot_free(&c);
	free(c.o.pids);
	return ret ? 1 : 0;
}
