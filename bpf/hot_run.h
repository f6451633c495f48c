/* SPDX-License-Identifier: MIT */
/* `faultline probe hotness`: the tracking session (hot_run.c) over the
 * per-process trackers (wp.h), the BPF counter (hotness.h) and the page
 * counts (pageset.h).  One context, owned by the caller; single-threaded. */
#ifndef FL_BPF_HOT_RUN_H
#define FL_BPF_HOT_RUN_H

#include <stdint.h>
#include <sys/types.h>

#include <linux/types.h>

#include "bpf/hotness.h"
#include "bpf/pageset.h"
#include "bpf/wp.h"

struct hot_opts {
	pid_t *pids;           /* --pid, as given */
	size_t npids;
	int tree;              /* --tree: descendants too, also those born later */
	double interval_ms;    /* --interval */
	long rounds;           /* --rounds, 0: no limit */
	double duration_s;     /* --duration, 0: no limit */
	const char *map_file;  /* --map */
	const char *pages_file;/* --pages */
	int json;              /* --json */
	int verbose;           /* -v */
	int bpf;               /* not --no-bpf */
	uint64_t wp_max_vma;   /* --wp-max-vma, bytes */
	uint32_t bpf_max_pages;/* --bpf-max-pages */
	int stop_timeout_ms;   /* how long a target may take to stop for ptrace */
};

struct hot_proc {
	struct probe_wp wp;
	pid_t pid, vpid;
	int tracking;          /* attached and not yet detached */
	int exited;
	int from_tree;         /* found by --tree, not named by --pid */
	uint64_t dirty_total;  /* pages found written, all rounds */
	unsigned new_vmas, reregistered; /* from wp, kept after it is detached */
};

/* What one round saw. */
struct hot_round {
	uint32_t n;            /* 1, 2, ... */
	double t, dt;          /* seconds since start, since the previous round */
	uint64_t dirty, fresh; /* pages written this round; of those, first time */
	uint64_t faults;       /* BPF write faults in tracked processes this round */
	double scan_ms;        /* time spent in PAGEMAP_SCAN rounds (and refreshes) */
	unsigned procs;        /* processes tracked in this round */
};

struct hot_ctx {
	struct hot_opts o;
	struct hot_proc *procs;
	size_t nprocs, cap;
	struct probe_hot_bpf bpf;
	int have_bpf;
	struct probe_pageset pages;
	uint32_t round;        /* rounds done */
	uint64_t t0_ns, last_ns;
	uint64_t last_faults;
	/* summary */
	double scan_ms_total, scan_ms_max;
	double rate_max;       /* pages per second, the highest round */
	uint64_t dirty_total;
	uint64_t bpf_pages_outside; /* BPF-counted pages never seen written by a scan */
};

/* Opens BPF (unless --no-bpf; falls back with a warning), then attaches to
 * every --pid (and with --tree their descendants).  A named pid that cannot
 * be tracked is fatal: prints why (`hotness: pid N: ...`) and returns -errno
 * with nothing left in any target.  Returns 0. */
int probe_hot_start(struct hot_ctx *c);

/* Runs one round over every tracked process (and with --tree attaches new
 * descendants first), filling R.  Returns 0, or -ESRCH when every process
 * has exited, or -errno. */
int probe_hot_round(struct hot_ctx *c, struct hot_round *r);

/* Detaches from every process (no registration, no uffd left), then merges
 * the BPF counts into the page set and unloads BPF.  Returns 0 or the first
 * -errno (every target is detached anyway). */
int probe_hot_finish(struct hot_ctx *c);

/* Frees the context's memory. */
void probe_hot_free(struct hot_ctx *c);

/* Index of the process with pid PID, or -1. */
long probe_hot_find(const struct hot_ctx *c, pid_t pid);

/* Monotonic clock in ns. */
uint64_t probe_hot_now_ns(void);

#endif
