/* SPDX-License-Identifier: MIT */
/* The migration policy (`faultline policy`, `faultline migrate --mode auto`): a pure
 * model, no I/O.  From the dirty rate and hot set (`faultline probe hotness`), the link
 * bandwidth and fault latency, and a freeze budget, it predicts the freeze and total
 * time of each mode and picks one.  docs/policy.md gives the equations and sources. */
#ifndef FL_BENCH_POLICY_H
#define FL_BENCH_POLICY_H

#include <stddef.h>
#include <stdint.h>

/* Ordered from the safest (no remote faults, nothing lost if the link fails) to the
 * least safe: the decision prefers the lower value among near-equal modes. */
enum bench_mode {
	BENCH_MODE_STOP_COPY = 0,
	BENCH_MODE_PRECOPY,
	BENCH_MODE_HYBRID,
	BENCH_MODE_POSTCOPY,
	BENCH_MODE_NR,
};

/* Costs of this machine's CRIU and faultline, as `faultline migrate` sees them;
 * bench_policy_defaults() fills them with values fitted here (docs/policy.md,
 * "Platform constants").  Each fixed cost includes the harness's glue around it. */
struct bench_policy_platform {
	double dump_fixed_s;       /* stop-and-copy's criu dump without memory */
	double dump_s_per_byte;    /* reading memory out of the frozen process */
	double lazy_dump_fixed_s;  /* criu dump --lazy-pages until the images are written */
	double xfer_fixed_s;       /* the images over the link: tar, pipe, TLS handshake */
	double link_efficiency;    /* bytes/s through `faultline pipe` / the link rate (TLS) */
	double restore_fixed_s;    /* criu restore without memory */
	double restore_s_per_byte; /* criu restore reading memory from pages-*.img */
	double merge_s_per_byte;   /* precopy merge --mode full (pre-copy) */
	double lazy_merge_s_per_byte; /* precopy merge --mode lazy (hybrid) */
	double final_fixed_s;      /* the last pre-copy pass on the frozen tasks */
	double lazy_restore_fixed_s; /* page server, lazy-pages start, restore --lazy-pages */
	double postcopy_fixed_s;   /* lazy-pages: last page to done */
	double install_s_per_byte; /* hybrid: pages installed from the destination's store */
	double precopy_fixed_s;    /* precopy send: attach (uffd, WP), connect, hand-over */
	double round_fixed_s;      /* one pre-copy round: PAGEMAP_SCAN + protocol */
	double inflight_bytes;     /* pre-copy bytes still buffered (pipe, TLS, TCP) when the
				    * rounds end: the final pass waits for them */
	double page_size;          /* bytes */
};

/* Pre-copy sender's stop rules: at the first of max_rounds rounds, a round leaving
 * <= stop_dirty_pages dirty, or a dirty set shrinking by less than min_shrink. */
struct bench_policy_precopy {
	unsigned max_rounds;
	uint64_t stop_dirty_pages;
	double min_shrink;
};

struct bench_policy_in {
	uint64_t mem_bytes;    /* M: present anonymous memory (> 0) */
	uint64_t state_bytes;  /* S: the other images (default 4 MiB) */
	uint64_t hot_bytes;    /* W: write hot set; 0 = unknown (taken as M if dirty) */
	double dirty_rate;     /* D: distinct bytes written per second (>= 0) */
	double bandwidth;      /* B: link bytes per second (> 0) */
	double latency_s;      /* L: RTT / remote fault latency (>= 0) */
	double freeze_budget_s; /* F: longest acceptable freeze; 0 = no budget */
	struct bench_policy_platform plat;
	/* Pre-copy stop rules to predict with.  max_rounds 0 (the default): the policy
	 * chooses them; set: a what-if for a sender run with these rules (calibration). */
	struct bench_policy_precopy rules;
};

struct bench_policy_pred {
	double freeze_s;        /* process stopped: freeze to running on the destination */
	double total_s;         /* start to every page on the destination */
	double stall_s;         /* remote faults on the hot set x latency (post-copy, hybrid) */
	uint64_t bytes_at_risk; /* only on the source after resume: lost if the link fails */
	uint64_t bytes_sent;    /* memory bytes over the link */
	unsigned rounds;        /* pre-copy rounds (pre-copy, hybrid) */
	uint64_t residue_bytes; /* dirty after the last round */
};

/* The context: inputs, every mode's prediction, and the choice. */
struct bench_policy {
	struct bench_policy_in in;
	struct bench_policy_pred pred[BENCH_MODE_NR];
	struct bench_policy_precopy precopy;
	enum bench_mode mode;
	int budget_met;         /* the chosen mode's freeze fits freeze_budget_s */
	char reason[320];
};

/* Fills IN with S = 4 MiB, no budget, and the measured platform constants; the caller
 * then sets M, D, W, B, L, F.  Never fails. */
void bench_policy_defaults(struct bench_policy_in *in);

/* Checks IN, predicts each mode and chooses one into P (overwritten whole).
 * Returns 0, or -EINVAL for a bad input (M or B zero, a negative or non-finite value,
 * a non-positive platform constant that must be positive), with P->reason saying
 * which.  Pure: no I/O, no allocation, no global state. */
int bench_policy_decide(struct bench_policy *p, const struct bench_policy_in *in);

/* Runs the pre-copy rounds of the model with the stop rules PC and fills the rounds,
 * bytes_sent and residue_bytes of OUT, and *ROUNDS_S (time spent in rounds).
 * IN must have passed bench_policy_decide's checks.  Returns 0 or -EINVAL. */
int bench_policy_rounds(const struct bench_policy_in *in, const struct bench_policy_precopy *pc,
			struct bench_policy_pred *out, double *rounds_s);

/* "stop-and-copy", "pre-copy", "hybrid", "post-copy"; "?" when out of range. */
const char *bench_mode_name(enum bench_mode m);

/* The inverse of bench_mode_name.  Returns 0 or -EINVAL. */
int bench_mode_parse(const char *s, enum bench_mode *m);

/* The policy as one JSON object (no newline) into BUF:
 *   {"mode":..,"reason":..,"precopy":{"max_rounds":..,"stop_dirty_pages":..,
 *    "min_shrink":..},"predicted":{"<mode>":{"freeze_s":..,"total_s":..,"stall_s":..,
 *    "bytes_at_risk":..},...},"budget_met":true|false}
 * Returns the length, or -ENOSPC if LEN is too small (BUF then holds a prefix). */
int bench_policy_json(const struct bench_policy *p, char *buf, size_t len);

/* Parses a size: a number (fraction allowed) with an optional K, M, G or T suffix in
 * powers of 1024, optionally followed by "B" or "iB" ("64M", "1.5GiB", "4096").
 * Returns 0 or -EINVAL (empty, junk, negative, overflow). */
int bench_parse_size(const char *s, uint64_t *out);

/* Parses a rate into bytes per second: a number with an optional k, m, g or t prefix
 * (decimal; "ki", "mi"... binary) and a unit: "bit" or "b/s" (bits per second, as
 * tc and netlab write "100mbit"), "bps" or "B/s" (bytes per second, tc's "bps"), or
 * none (bytes per second; only without a prefix, "1M" is refused as ambiguous).  "100mbit", "1gbit", "12MB/s", "12MiB/s", "4000000".
 * Returns 0 or -EINVAL. */
int bench_parse_rate(const char *s, double *out);

#endif
