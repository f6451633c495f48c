/* SPDX-License-Identifier: MIT */
/* `faultline probe PROBE ...`: dispatch, and what every probe's loader shares
 * (libbpf logging, load errors).  Built without BPF (-DFL_NO_BPF: no kernel
 * BTF, bpftool, clang or libbpf at build time), only the dispatch remains and
 * every probe says why it cannot run. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef FL_NO_BPF
#include <bpf/libbpf.h>
#endif

#include "bpf/probe.h"
#include "cli/cli.h"

static const char usage[] =
"usage: faultline probe PROBE [ARGS]\n"
"\n"
"BPF probes (need root: CAP_BPF and CAP_PERFMON, and a kernel with BTF):\n"
"    fault-latency  per-fault latency of userfaultfd faults in the processes a\n"
"                   `faultline lazy-pages` restored, with its breakdown (destination)\n"
"    hotness        which pages a process writes, and how often (source)\n"
"\n"
"`faultline probe PROBE --help` describes each one.\n";

#ifdef FL_NO_BPF
static int no_bpf(int argc, char **argv)
{
	(void)argc;
	fprintf(stderr, "faultline probe %s: this faultline was built without BPF support "
		"(no kernel BTF, bpftool, clang or libbpf-dev at build time); install them "
		"and rebuild\n", argv[0]);
	return 1;
}
#define FAULT_LATENCY_MAIN no_bpf
#define HOTNESS_MAIN no_bpf
#else
#define FAULT_LATENCY_MAIN probe_fault_latency_main
#ifdef FL_HAVE_PROBE_HOTNESS
#define HOTNESS_MAIN probe_hotness_main
#else
static int hotness_not_built(int argc, char **argv)
{
	(void)argc;
	fprintf(stderr, "faultline probe %s: not built\n", argv[0]);
	return 1;
}
#define HOTNESS_MAIN hotness_not_built
#endif
#endif

int probe_main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*main)(int argc, char **argv);
	} probes[] = {
		{ "fault-latency", FAULT_LATENCY_MAIN },
		{ "hotness", HOTNESS_MAIN },
	};

	if (argc < 2) {
		fputs(usage, stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(usage, stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		if (!strcmp(argv[1], probes[i].name))
			return probes[i].main(argc - 1, argv + 1);
	fprintf(stderr, "faultline probe: unknown probe '%s'\n\n%s", argv[1], usage);
	return 2;
}

#ifndef FL_NO_BPF
static int print_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level, (void)fmt, (void)ap;
	return 0;
}

static int print_warn(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_DEBUG ? 0 : vfprintf(stderr, fmt, ap);
}

static int print_all(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	return vfprintf(stderr, fmt, ap);
}

void probe_libbpf_log(int verbose)
{
	libbpf_set_print(verbose >= 2 ? print_all : verbose ? print_warn : print_quiet);
}

int probe_check_env(const char *prog)
{
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		int err = errno;
		fprintf(stderr, "%s: cannot load BPF program: the kernel has no BTF "
			"(/sys/kernel/btf/vmlinux: %s; needs CONFIG_DEBUG_INFO_BTF)\n", prog,
			strerror(err));
		return -err;
	}
	return 0;
}

void probe_load_error(const char *prog, const char *what, int err)
{
	const char *hint = "";

	if (err < 0)
		err = -err;
	if (err == EPERM || err == EACCES)
		hint = geteuid() ? " (need root / CAP_BPF and CAP_PERFMON)"
				 : " (need CAP_BPF and CAP_PERFMON; kernel lockdown may forbid it)";
	else if (err == ENOENT || err == EINVAL || err == ENOTSUP || err == ESRCH)
		hint = " (this kernel lacks a tracepoint or BPF feature it needs; -v shows libbpf's log)";
	fprintf(stderr, "%s: cannot %s BPF program: %s%s\n", prog, what, strerror(err), hint);
}
#endif
