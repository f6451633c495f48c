/* SPDX-License-Identifier: MIT */
/* hotness probe: what the BPF side (hotness.bpf.c) and its loader
 * (hotness.c) share, and the loader's interface.  Include <linux/types.h>
 * (user space) or vmlinux.h (BPF) first. */
#ifndef FL_BPF_HOTNESS_H
#define FL_BPF_HOTNESS_H

/* Key of the per-page write-fault counts (value: __u64 count). */
struct probe_hot_key {
	__u32 tgid;
	__u32 pad;
	__u64 page; /* page-aligned user address */
};

/* Counters in the BPF object's .bss, read by the loader. */
struct probe_hot_counters {
	__u64 faults;  /* write faults on present pages counted in tracked tgids */
	__u64 dropped; /* of those, not counted per page: the map was full */
};

enum {
	PROBE_HOT_MAX_TGIDS = 4096,
	PROBE_HOT_DEFAULT_PAGES = 1 << 21, /* per-page entries: 8 GiB written */
};

#ifndef __bpf__
#include <stdint.h>
#include <sys/types.h>

struct hotness_bpf;

/* The loaded, attached probe. */
struct probe_hot_bpf {
	struct hotness_bpf *skel;
	int stats_fd; /* BPF_STATS_RUN_TIME while we run, or -1 */
};

/* Opens, loads and attaches the write-fault counter (tp_btf/page_fault_user)
 * with room for MAX_PAGES pages; no tgid is tracked yet.  Turns on BPF run
 * time statistics for probe_hot_bpf_cost().  Prints why on failure (prefix
 * PROG) and returns -errno. */
int probe_hot_bpf_open(struct probe_hot_bpf *b, uint32_t max_pages, const char *prog);

/* Starts counting in process TGID.  Returns 0 or -errno (-E2BIG: too many). */
int probe_hot_bpf_track(struct probe_hot_bpf *b, pid_t tgid);

/* Stops counting in TGID (its counts stay).  Returns 0 or -errno. */
int probe_hot_bpf_untrack(struct probe_hot_bpf *b, pid_t tgid);

/* The .bss counters, read now (no syscall). */
void probe_hot_bpf_counters(const struct probe_hot_bpf *b, struct probe_hot_counters *c);

/* Calls FN(ARG, tgid, page, count) for every page counted so far.  Returns 0,
 * FN's first non-zero return, or -errno. */
int probe_hot_bpf_for_each(struct probe_hot_bpf *b,
			   int (*fn)(void *arg, pid_t tgid, uint64_t page, uint64_t count), void *arg);

/* The program's runs and the ns they took (kernel BPF statistics), so far.
 * Returns 0 or -errno (-ENOTSUP: statistics unavailable). */
int probe_hot_bpf_cost(const struct probe_hot_bpf *b, uint64_t *runs, uint64_t *ns);

/* Detaches and frees everything.  Safe on a zeroed struct. */
void probe_hot_bpf_close(struct probe_hot_bpf *b);
#endif

#endif
