/* SPDX-License-Identifier: MIT */
/* Dirty tracking of one process from outside: async userfaultfd
 * write-protect (UFFD_FEATURE_WP_ASYNC|WP_UNPOPULATED) over its private
 * anonymous writable mappings, read and re-armed by PAGEMAP_SCAN rounds.
 *
 * The uffd is made in the target by ptrace injection (inject.h) and only
 * the monitor holds it: the registration lives in the target's mm as long as
 * that fd is open.  probe_wp_detach() unregisters and closes it, leaving the
 * target as found.  Not inherited across fork (no UFFD_FEATURE_EVENT_FORK). */
#ifndef FL_BPF_WP_H
#define FL_BPF_WP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bpf/compat.h"

struct probe_range {
	uint64_t start, end;
};

struct probe_ranges {
	struct probe_range *v;
	size_t n, cap;
};

struct probe_wp {
	pid_t pid;             /* in the monitor's pid namespace */
	int uffd;              /* the monitor's copy; -1 when detached */
	int pagemap;           /* /proc/PID/pagemap */
	int pidfd;             /* tells when it has exited */
	uint64_t wp_max_vma;   /* VMAs above this are protected page by page */
	struct probe_ranges now;  /* what is registered, from the last refresh */
	struct probe_ranges ever; /* everything ever registered, for detach */
	struct page_region *vec;  /* PAGEMAP_SCAN output */
	size_t vec_len;
	size_t vec_dirty;         /* entries the last scan may have written */
	int gone;              /* the process exited */
	uint64_t image[3];     /* startstack, arg_start, env_end: exec changes them */
	char name[24];         /* "pid N", for log lines */
	/* statistics */
	uint64_t registered_pages; /* sum of `now` */
	unsigned new_vmas;         /* registered after attach */
	unsigned reregistered;     /* found unregistered (munmap + mmap) and redone */
	/* Optional, set after attach (NULL for `probe hotness`): called with
	 * each range registered by a round whose earlier writes were not
	 * tracked (a mapping new since attach, grown, or found unregistered and
	 * registered again), once it is registered and protected.  A non-zero
	 * return ends the round with it. */
	int (*on_untracked)(void *arg, uint64_t start, uint64_t end);
	void *untracked_arg;
};

/* Called for each run of written pages a round finds: [START, END). */
typedef int (*probe_wp_fn)(void *arg, uint64_t start, uint64_t end);

/* Starts tracking process PID (a thread-group leader): injects the uffd,
 * registers every private anonymous writable mapping for async
 * write-protection and protects them (those larger than WP_MAX_VMA bytes only
 * where populated: see probe_wp_round), then runs a baseline scan whose
 * pages are not reported.  TIMEOUT_MS bounds the wait for the target to stop
 * for the injection.  Returns 0, or -errno with a message in ERR (ERRLEN
 * bytes): -ESRCH, -EPERM, -ENODATA (no anonymous writable memory),
 * -EOPNOTSUPP (the kernel lacks async uffd-wp) ...  On failure nothing is
 * left in the target and WP needs no detach. */
int probe_wp_attach(struct probe_wp *w, pid_t pid, uint64_t wp_max_vma, int timeout_ms,
		    char *err, size_t errlen);

/* One round: registers and protects mappings that appeared since the last
 * round (what they hold counts from the next round on), then scans every
 * registered range with PM_SCAN_WP_MATCHING|PM_SCAN_CHECK_WPASYNC for the pages
 * written since the last round (not the zero page), which the same ioctl
 * write-protects again, and calls FN for each run.  Returns the number of
 * pages found, or -errno: -ESRCH, the process is gone (W->gone set);
 * -ESTALE, it executed a new program, whose memory this uffd does not cover
 * (detach and attach again). */
long probe_wp_round(struct probe_wp *w, probe_wp_fn fn, void *arg);

/* Unregisters everything this tracker registered and closes its fds; the
 * target keeps no registration and no uffd.  Safe to call twice.  Returns 0
 * or the first -errno (the fds are closed anyway). */
int probe_wp_detach(struct probe_wp *w);

/* Range-set helpers (pure): appends [S, E) to R, merging with the last range
 * if they touch.  Returns 0 or -ENOMEM. */
int probe_ranges_add(struct probe_ranges *r, uint64_t s, uint64_t e);
/* Sorts R and merges overlapping or touching ranges. */
void probe_ranges_normalize(struct probe_ranges *r);
void probe_ranges_free(struct probe_ranges *r);

#endif
