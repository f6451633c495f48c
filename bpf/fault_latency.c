/* SPDX-License-Identifier: MIT */
/* `faultline probe fault-latency`: the loader of fault_latency.bpf.c.  Finds
 * the processes to watch, loads and attaches the programs, drains the ring
 * buffer every 100 ms and reports each interval and the total. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <linux/types.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "bpf/fault_latency.h"
#include "bpf/fault_latency.skel.h"
#include "bpf/lat_report.h"
#include "bpf/probe.h"
#include "bpf/targets.h"

#define PROG "fault-latency"

static const char usage[] =
"NAME\n"
"    faultline probe fault-latency - per-fault latency of userfaultfd faults\n"
"\n"
"SYNOPSIS\n"
"    faultline probe fault-latency --lazy-pages-pidfile FILE [--json] [--duration S]\n"
"    faultline probe fault-latency --pid PID [--pid PID...] [--json] [--duration S]\n"
"\n"
"DESCRIPTION\n"
"    Measures, for every userfaultfd fault in the watched processes, the time\n"
"    from the fault to the faulting thread running again, and its stages:\n"
"      fault_request  fault -> the resolver read it from the uffd\n"
"      fetch          -> the pages are there and UFFDIO_COPY begins\n"
"      copy_wake      -> UFFDIO_COPY (or ZEROPAGE) has mapped them and woken the thread\n"
"      wake_resume    -> the thread runs\n"
"    The first three need the resolver's marker (faultline lazy-pages has it);\n"
"    with any other resolver fault_wake covers them together.\n"
"\n"
"    With --lazy-pages-pidfile it watches every process that the running\n"
"    `faultline lazy-pages` restores or has restored (its lazy-pages.pids), and\n"
"    their children, and stops when the daemon exits.  With --pid it watches\n"
"    those processes, their threads and children, and stops when they exit.\n"
"    Tracepoints only (page_fault_user, sched_switch, sched_waking) plus uprobes\n"
"    on the daemon's markers: about 0.4 us per uffd fault (docs/results/probe.md).\n"
"\n"
"OPTIONS\n"
"    --lazy-pages-pidfile FILE  the --pidfile of faultline lazy-pages\n"
"    -p, --pid PID          a process to watch (repeatable)\n"
"    --json                 JSON lines on stdout: one per interval, then a total\n"
"    --duration S           stop after S seconds (default: until the targets exit)\n"
"    --interval S           seconds per report (default 1)\n"
"    -v                     libbpf warnings; -vv its debug log\n"
"    -h, --help             this text\n"
"\n"
"    Without --json, a terminal gets a live histogram, anything else a line per\n"
"    interval.  SIGINT stops it; the total is printed in every case.\n"
"\n"
"EXIT STATUS\n"
"    0 done; 1 error (cannot load BPF: needs root and a kernel with BTF); 2 usage.\n";

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

enum { MAX_WATCH = 64, MAX_MARKER_LINKS = 8, POLL_MS = 100 };

struct lat_args {
	const char *pidfile;
	pid_t pids[MAX_WATCH];
	int nr_pids, json, verbose;
	double duration, interval;
};

struct lat_ctx {
	struct lat_args a;
	struct fault_latency_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link *markers[MAX_MARKER_LINKS];
	int nr_markers, have_copy_marker;
	pid_t daemon;                /* --lazy-pages-pidfile: its pid */
	char lp_pids[PATH_MAX];      /* its lazy-pages.pids */
	struct probe_pids targets;   /* what the tgids map holds */
	struct pollfd watch[MAX_WATCH]; /* pidfds: the daemon, or the --pid processes */
	int nr_watch;
	struct probe_lat_stats iv, total;
	struct timespec start;
};

static double seconds(const char *flag, const char *arg, double *out)
{
	char *end;
	double v = strtod(arg, &end);

	if (end == arg || *end || v <= 0 || v > 1e7) {
		fprintf(stderr, PROG ": %s: '%s' is not a positive number of seconds\n", flag, arg);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_opt(struct lat_args *a, int opt, const char *arg)
{
	enum { OPT_PIDFILE = 0x100, OPT_JSON, OPT_DURATION, OPT_INTERVAL };
	char *end;
	long v;

	switch (opt) {
	case OPT_PIDFILE: a->pidfile = arg; return 0;
	case OPT_JSON: a->json = 1; return 0;
	case OPT_DURATION: return (int)seconds("--duration", arg, &a->duration);
	case OPT_INTERVAL: return (int)seconds("--interval", arg, &a->interval);
	case 'v': a->verbose++; return 0;
	case 'p':
		v = strtol(arg, &end, 10);
		if (end == arg || *end || v <= 0 || v > INT_MAX || a->nr_pids == MAX_WATCH) {
			fprintf(stderr, PROG ": --pid: '%s' is not a pid (at most %d)\n", arg, MAX_WATCH);
			return -EINVAL;
		}
		a->pids[a->nr_pids++] = (pid_t)v;
		return 0;
	case 'h': fputs(usage, stdout); exit(0);
	default: fprintf(stderr, "Try 'faultline probe fault-latency --help'.\n"); return -EINVAL;
	}
}

static int parse(int argc, char **argv, struct lat_args *a)
{
	static const struct option longopts[] = {
		{ "lazy-pages-pidfile", required_argument, NULL, 0x100 },
		{ "json", no_argument, NULL, 0x101 },
		{ "duration", required_argument, NULL, 0x102 },
		{ "interval", required_argument, NULL, 0x103 },
		{ "pid", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "p:vh", longopts, NULL)) != -1)
		if (parse_opt(a, opt, optarg))
			return 2;
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!a->pidfile == !a->nr_pids) {
		fprintf(stderr, PROG ": give either --lazy-pages-pidfile or --pid\n");
		return 2;
	}
	return 0;
}

static int watch_pid(struct lat_ctx *c, pid_t pid)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (fd < 0) {
		fprintf(stderr, PROG ": pid %d: %s\n", (int)pid, strerror(errno));
		return -errno;
	}
	c->watch[c->nr_watch++] = (struct pollfd){ .fd = fd, .events = POLLIN };
	return 0;
}

/* Puts the targets not in the BPF map yet into it (all of them the first time),
 * map entry before the bit, which is what lets the BPF side look. */
static void sync_targets(struct lat_ctx *c, size_t from)
{
	__u8 one = 1;

	for (size_t i = from; i < c->targets.n; i++) {
		__u32 tgid = (__u32)c->targets.v[i], b = tgid % PROBE_LAT_TGID_BITS;

		bpf_map__update_elem(c->skel->maps.tgids, &tgid, sizeof(tgid), &one, sizeof(one),
				     BPF_ANY);
		__atomic_fetch_or(&c->skel->bss->tgid_bits[b / 64], 1ULL << (b % 64),
				  __ATOMIC_RELAXED);
	}
}

/* The targets as they are now; with a daemon, its lazy-pages.pids again. */
static int refresh_targets(struct lat_ctx *c)
{
	size_t before = c->targets.n;
	int ret = 0;

	if (c->daemon)
		ret = probe_read_lp_pids(c->lp_pids, &c->targets);
	for (int i = 0; ret >= 0 && i < c->a.nr_pids; i++)
		ret = probe_pids_add_tree(&c->targets, c->a.pids[i]);
	if (ret < 0)
		return ret;
	sync_targets(c, before);
	return 0;
}

static int find_daemon(struct lat_ctx *c)
{
	int ret = probe_read_pidfile(c->a.pidfile, &c->daemon);

	if (ret) {
		fprintf(stderr, PROG ": %s: %s\n", c->a.pidfile,
			ret == -EINVAL ? "holds no pid" : strerror(-ret));
		return ret;
	}
	ret = probe_lp_pids_path(c->daemon, c->lp_pids);
	if (ret) {
		fprintf(stderr, PROG ": lazy-pages pid %d (from %s): %s\n", (int)c->daemon,
			c->a.pidfile, ret == -ESRCH ? "not running" : strerror(-ret));
		return ret;
	}
	return watch_pid(c, c->daemon);
}

/* Attaches the uprobe PROG_ on SYM in the executable of PID, for PID only.
 * Returns 0, or -errno if the binary lacks SYM or attaching failed. */
static int attach_marker(struct lat_ctx *c, struct bpf_program *prog, pid_t pid, const char *sym)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .func_name = sym);
	char exe[64];
	struct bpf_link *l;

	if (c->nr_markers == MAX_MARKER_LINKS)
		return -ENOSPC;
	snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)pid);
	l = bpf_program__attach_uprobe_opts(prog, pid, exe, 0, &opts);
	if (!l)
		return -errno;
	c->markers[c->nr_markers++] = l;
	return 0;
}

/* The resolver's markers: the daemon's, or those of --pid processes that
 * resolve their own faults (tests/workloads/ufault.c). */
static void attach_markers(struct lat_ctx *c)
{
	struct fault_latency_bpf *s = c->skel;

	if (c->daemon) {
		c->have_copy_marker = !attach_marker(c, s->progs.on_trace_copy, c->daemon,
						     "uffd_trace_copy");
		if (attach_marker(c, s->progs.on_trace_task, c->daemon, "uffd_trace_task") ||
		    !c->have_copy_marker)
			fprintf(stderr, PROG ": warning: no markers in lazy-pages pid %d (not "
				"faultline's, or an older one): only the fault_wake stage, and "
				"tasks restored from now on are seen late\n", (int)c->daemon);
		return;
	}
	for (int i = 0; i < c->a.nr_pids; i++)
		c->have_copy_marker |= !attach_marker(c, s->progs.on_trace_copy, c->a.pids[i],
						      "uffd_trace_copy");
}

static int handle_event(void *ctx, void *data, size_t size)
{
	struct lat_ctx *c = ctx;

	if (size < sizeof(struct probe_lat_event))
		return 0;
	probe_lat_add(&c->iv, data);
	probe_lat_add(&c->total, data);
	return 0;
}

static int load(struct lat_ctx *c)
{
	int ret;

	probe_libbpf_log(c->a.verbose);
	ret = probe_check_env(PROG);
	if (ret)
		return ret;
	c->skel = fault_latency_bpf__open();
	if (!c->skel) {
		ret = -errno;
		probe_load_error(PROG, "open", ret);
		return ret;
	}
	c->skel->rodata->track_forks = true;
	ret = fault_latency_bpf__load(c->skel);
	if (ret) {
		probe_load_error(PROG, "load", ret);
		return ret;
	}
	ret = refresh_targets(c);
	if (ret)
		return ret;
	ret = fault_latency_bpf__attach(c->skel);
	if (ret) {
		probe_load_error(PROG, "attach", ret);
		return ret;
	}
	attach_markers(c);
	c->rb = ring_buffer__new(bpf_map__fd(c->skel->maps.events), handle_event, c, NULL);
	if (!c->rb) {
		ret = -errno;
		probe_load_error(PROG, "map the ring buffer of", ret);
	}
	return ret;
}

static double since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* True when what we watch is gone: the daemon, or every --pid process. */
static int targets_gone(struct lat_ctx *c)
{
	int gone = 0;

	if (poll(c->watch, (nfds_t)c->nr_watch, POLL_MS) < 0)
		return 0;
	for (int i = 0; i < c->nr_watch; i++)
		gone += !!(c->watch[i].revents & (POLLIN | POLLHUP));
	return c->daemon ? gone > 0 : gone == c->nr_watch;
}

static void describe(const struct lat_ctx *c, char *buf, size_t size)
{
	if (c->daemon)
		snprintf(buf, size, "lazy-pages pid %d, %zu processes", (int)c->daemon,
			 c->targets.n);
	else
		snprintf(buf, size, "%zu processes", c->targets.n);
}

static void report(struct lat_ctx *c, const char *type, const struct probe_lat_stats *s)
{
	const struct probe_lat_counters *cnt = &c->skel->bss->counters;
	int final = !strcmp(type, "total");
	char what[96];

	describe(c, what, sizeof(what));
	if (c->a.json)
		probe_lat_json(stdout, type, since(&c->start), s, cnt);
	else if (isatty(1))
		probe_lat_screen(stdout, what, since(&c->start), &c->iv, &c->total, cnt);
	else
		probe_lat_line(stdout, final ? "total" : "interval", since(&c->start), s);
}

static void run(struct lat_ctx *c)
{
	double next = c->a.interval;
	int gone = 0;

	while (!stop && !gone) {
		gone = targets_gone(c);
		ring_buffer__consume(c->rb);
		if (refresh_targets(c))
			fprintf(stderr, PROG ": out of memory\n");
		double t = since(&c->start);
		if (c->a.duration && t >= c->a.duration)
			break;
		if (t < next)
			continue;
		report(c, "interval", &c->iv);
		memset(&c->iv, 0, sizeof(c->iv));
		next += c->a.interval;
	}
	/* Events of faults resolved just before the end are in the ring already. */
	ring_buffer__consume(c->rb);
	if (c->iv.st[PROBE_ST_TOTAL].count)
		report(c, "interval", &c->iv);
	report(c, "total", &c->total);
}

static void cleanup(struct lat_ctx *c)
{
	ring_buffer__free(c->rb);
	for (int i = 0; i < c->nr_markers; i++)
		bpf_link__destroy(c->markers[i]);
	fault_latency_bpf__destroy(c->skel);
	for (int i = 0; i < c->nr_watch; i++)
		close(c->watch[i].fd);
	probe_pids_free(&c->targets);
	free(c);
}

int probe_fault_latency_main(int argc, char **argv)
{
	struct lat_ctx *c = calloc(1, sizeof(*c));
	struct sigaction sa = { .sa_handler = on_signal };
	char what[96];
	int ret;

	if (!c) {
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	c->a.interval = 1;
	ret = parse(argc, argv, &c->a);
	if (ret)
		goto out;
	ret = 1;
	if (c->a.pidfile && find_daemon(c))
		goto out;
	for (int i = 0; i < c->a.nr_pids; i++)
		if (watch_pid(c, c->a.pids[i]))
			goto out;
	if (load(c))
		goto out;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	clock_gettime(CLOCK_MONOTONIC, &c->start);
	describe(c, what, sizeof(what));
	fprintf(stderr, PROG ": attached: %s; resolver marker: %s\n", what,
		c->have_copy_marker ? "yes" : "no");
	run(c);
	ret = 0;
out:
	cleanup(c);
	return ret;
}
