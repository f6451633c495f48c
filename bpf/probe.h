/* SPDX-License-Identifier: MIT */
/* `faultline probe`: BPF probes, each a libbpf-bootstrap triple
 * (bpf/X.bpf.c, bpf/X.h, loader), dispatched from probe_main.c. */
#ifndef FL_BPF_PROBE_H
#define FL_BPF_PROBE_H

#include <stdarg.h>

/* `faultline probe fault-latency ...` (fault_latency.c) and `faultline probe
 * hotness ...` (hotness_main.c): ARGV[0] is the probe's name.  Return the exit
 * status: 0 success, 1 failure (BPF unavailable included), 2 usage error. */
int probe_fault_latency_main(int argc, char **argv);
int probe_hotness_main(int argc, char **argv);

/* Routes libbpf's messages to stderr through libbpf_set_print: warnings and
 * errors when VERBOSE >= 1, debug output too when VERBOSE >= 2, else none.
 * Call before opening a skeleton; process-wide (libbpf has one print hook). */
void probe_libbpf_log(int verbose);

/* Checks what loading a BPF program here needs and prints, prefixed by PROG,
 * why it cannot work: no kernel BTF (/sys/kernel/btf/vmlinux).  Returns 0 or
 * -errno. */
int probe_check_env(const char *prog);

/* Prints PROG's "cannot load BPF program: <why> (<hint>)" for the libbpf error
 * ERR (a -errno from __open/__load/__attach), with a hint for EPERM/EACCES
 * (need root / CAP_BPF) and missing kernel features. */
void probe_load_error(const char *prog, const char *what, int err);

#endif
