/* SPDX-License-Identifier: MIT */
/* `faultline precopy send`: pre-copy rounds from a running process tree, on
 * the dirty tracking of wp.h, written as an FLPC v1 stream.
 *
 * The FLPC v1 stream (shared with `precopy recv`), little-endian: "FLPC",
 * u32 version 1, then records of a 24-byte header (struct probe_flpc_rec):
 *   PAGES      nr_pages * 4096 bytes of data follow, for [vaddr, vaddr +
 *              nr_pages * 4096) of task pid.  A later copy of a page replaces
 *              an earlier one.
 *   INVALIDATE no data: earlier copies of these pages are stale; the
 *              destination must fetch them from the source after the freeze.
 *              A later PAGES record for a page makes it valid again (records
 *              apply in stream order: the last one about a page wins).
 *   ROUND      no data: the end of pre-copy round vaddr (0: the full copy);
 *              nr_pages = pages sent in it (PAGES records); pid 0.
 *   END        no data: the stream is complete.  vaddr = number of ROUND
 *              records, nr_pages = pages in all PAGES records of the stream
 *              (the final pass's included).  pid 0.
 * pid is the task's pid in its own (the dumped) pid namespace, as in CRIU's
 * pstree.img; addresses are the task's own.  The final pass (after the
 * freeze) has no ROUND record: it ends with END. */
#ifndef FL_BPF_PRECOPY_SEND_H
#define FL_BPF_PRECOPY_SEND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bpf/wp.h"

#define PROBE_FLPC_MAGIC "FLPC"
enum { PROBE_FLPC_VERSION = 1, PROBE_FLPC_HDR_SIZE = 8, PROBE_FLPC_PAGE = 4096 };

enum probe_flpc_type {
	PROBE_FLPC_PAGES = 1,
	PROBE_FLPC_INVALIDATE = 2,
	PROBE_FLPC_ROUND = 3,
	PROBE_FLPC_END = 4,
};

/* One record header; fields little-endian on the wire. */
struct probe_flpc_rec {
	uint32_t type;
	uint32_t pid;
	uint64_t vaddr;
	uint64_t nr_pages;
};
_Static_assert(sizeof(struct probe_flpc_rec) == 24, "FLPC record header is 24 bytes");

/* What the final pass does with pages whose pre-copied data may be stale. */
enum probe_pc_final {
	PROBE_PC_FINAL_DATA,       /* send them again (pre-copy) */
	PROBE_PC_FINAL_INVALIDATE, /* INVALIDATE records (hybrid: post-copy fetches them) */
};

/* Why the rounds stopped. */
enum probe_pc_stop {
	PROBE_PC_GO_ON = 0,
	PROBE_PC_MAX_ROUNDS,
	PROBE_PC_STOP_DIRTY,
	PROBE_PC_NO_CONVERGENCE,
	PROBE_PC_SIGNALLED,        /* SIGUSR1 (or control-fd EOF) came before */
};

struct probe_pc_opts {
	pid_t pid;                 /* root of the tree, host pid */
	long max_rounds;           /* rounds, round 0 included */
	uint64_t stop_dirty;       /* stop once a round finds <= this many */
	double min_shrink;         /* stop when dirty(k-1) / dirty(k) < this */
	double interval_ms;        /* least time between two rounds' scans */
	enum probe_pc_final final;
	int out_fd;                /* the stream */
	int status_fd;             /* JSON lines, -1: none */
	int control_fd;            /* EOF there = SIGUSR1, -1: none */
	size_t buf_size;           /* output buffer, bytes */
	uint64_t wp_max_vma;       /* see probe_wp_attach */
	int stop_timeout_ms;       /* for the ptrace injection */
	int verbose;
};

/* One tracked process. */
struct probe_pc_proc {
	struct probe_wp wp;
	pid_t pid, vpid;
	int tracking;
	struct probe_ranges dirty;     /* this pass: runs the scan found written */
	struct probe_ranges untracked; /* this pass: ranges to copy whole */
	struct probe_ranges old_now;   /* registered before this pass */
	int err;                       /* from the callbacks (ENOMEM) */
};

/* What one round (or the final pass) did. */
struct probe_pc_round {
	uint64_t round;
	uint64_t pages;            /* pages sent (PAGES records) */
	uint64_t dirty;            /* pages the scans found written (round 0: all sent) */
	uint64_t invalidated;      /* pages in INVALIDATE records */
	uint64_t bytes;            /* stream bytes */
	double seconds;            /* the round's duration */
	double dirty_rate;         /* dirty / time since the previous scan, pages/s */
};

struct probe_pc_ctx {
	struct probe_pc_opts o;
	struct probe_pc_proc *procs;
	size_t nprocs;
	uint8_t *buf;              /* output buffer: records + data */
	size_t len, cap;
	struct page_region *vec;   /* presence scans */
	uint64_t rounds;           /* ROUND records written */
	uint64_t total_pages;      /* pages in PAGES records */
	uint64_t bytes;            /* stream bytes flushed */
	uint64_t last_scan_ns;
	uint64_t prev_dirty;       /* the previous round's dirty pages */
};

/* Attaches to process O->pid and every descendant (each needs a private
 * anonymous writable mapping), fails if the tree changes meanwhile, and
 * writes the stream header.  Prints why on failure, leaves nothing in any
 * target, and returns -errno.  Returns 0. */
int probe_pc_start(struct probe_pc_ctx *c);

/* Runs pre-copy round C->rounds (0: every present page of the tracked
 * mappings; k: the pages written since round k-1, and whole mappings that
 * appeared or were replaced), ends it with a ROUND record and flushes.
 * Fills R.  Returns 0 or -errno after printing why: -ESRCH (a process
 * exited), -ECHILD (the tree changed), -EPIPE (the stream's reader left). */
int probe_pc_round(struct probe_pc_ctx *c, struct probe_pc_round *r);

/* Whether to stop after round R (pure): PROBE_PC_GO_ON or the reason. */
enum probe_pc_stop probe_pc_should_stop(const struct probe_pc_opts *o, const struct probe_pc_round *r,
					uint64_t prev_dirty);

/* The final pass on the frozen tasks: pages written since their last copy
 * and mappings not tracked continuously are sent again (--final data) or
 * invalidated (--final invalidate); then END, flushed.  Fills R.  Returns 0
 * or -errno as probe_pc_round. */
int probe_pc_final(struct probe_pc_ctx *c, struct probe_pc_round *r);

/* Detaches from every process (no registration, no uffd left in any) and
 * frees C's memory.  Safe after a failed start.  Returns 0 or the first
 * -errno (everything is detached anyway). */
int probe_pc_finish(struct probe_pc_ctx *c);

/* True if a tracked process has exited (polls the pidfds), setting *PID. */
int probe_pc_any_gone(const struct probe_pc_ctx *c, pid_t *pid);

/* Monotonic clock, ns. */
uint64_t probe_pc_now_ns(void);

#endif
