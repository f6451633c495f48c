/* SPDX-License-Identifier: MIT */
/* Per-page write counts of `faultline probe hotness`, and the hotness map it
 * writes (`--map`, read by `lazy-pages --hotness`, format in uffd/hotness.h).
 * Pure and single-threaded; memory grows with the pages written, not with
 * the address space. */
#ifndef FL_BPF_PAGESET_H
#define FL_BPF_PAGESET_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

enum { PROBE_NHOT = 5, PROBE_MAX_PROCS = 0xfffe };

/* The hot-set thresholds: pages written in at least 1, 2, 4, 8, 16 rounds. */
extern const uint32_t probe_hot_thresholds[PROBE_NHOT];

struct probe_page {
	uint64_t key;    /* 0: empty slot; else (proc + 1) << 48 | page number */
	uint32_t rounds; /* rounds in which PAGEMAP_SCAN found it written */
	uint32_t faults; /* BPF write-protect faults counted on it */
	uint32_t last;   /* the last round that counted it */
};

struct probe_pageset {
	struct probe_page *v;
	size_t cap, n;             /* cap is a power of two */
	uint64_t hot[PROBE_NHOT];  /* pages with rounds >= probe_hot_thresholds[i] */
};

/* Records that page ADDR (page aligned) of process PROC was written in round
 * ROUND (1, 2, ...; counted once per round).  *IS_NEW (may be NULL) tells if
 * it had never been written.  Returns 0, -EINVAL (PROC too large) or -ENOMEM. */
int probe_pageset_written(struct probe_pageset *s, unsigned proc, uint64_t addr, uint32_t round,
			  int *is_new);

/* Adds N write faults to page ADDR of PROC.  Returns 0, -EINVAL or -ENOMEM. */
int probe_pageset_faults(struct probe_pageset *s, unsigned proc, uint64_t addr, uint64_t n);

/* The entry of page ADDR of PROC, or NULL. */
const struct probe_page *probe_pageset_get(const struct probe_pageset *s, unsigned proc, uint64_t addr);

static inline unsigned probe_page_proc(uint64_t key)
{
	return (unsigned)(key >> 48) - 1;
}

static inline uint64_t probe_page_addr(uint64_t key)
{
	return (key & ((1ULL << 48) - 1)) << 12;
}

void probe_pageset_free(struct probe_pageset *s);

/* A run of adjacent pages of one process written in the same number of
 * rounds; FAULTS is the sum of their BPF counts. */
struct probe_hot_range {
	unsigned proc;
	uint64_t start, end;
	uint32_t writes;
	uint64_t faults;
};

/* The written pages (rounds >= 1) as ranges, hottest first (then by process
 * and address).  Returns 0 and a malloc'd array in *OUT (*N entries; NULL
 * when none), or -ENOMEM. */
int probe_pageset_ranges(const struct probe_pageset *s, struct probe_hot_range **out, size_t *n);

/* Writes the hotness map to F: the two header lines, then one
 * "vpid start end writes" line per range, VPID[proc] the process's pid in
 * its own pid namespace.  Returns 0 or -EIO. */
int probe_hotmap_print(FILE *f, const struct probe_hot_range *r, size_t n, const pid_t *vpid);

/* Writes every page with a count to F, sorted by process and address:
 * "vpid address rounds faults" (hex address).  Returns 0, -ENOMEM or -EIO. */
int probe_pages_print(FILE *f, const struct probe_pageset *s, const pid_t *vpid);

#endif
