/* SPDX-License-Identifier: MIT */
/* fault-latency: histograms of the events and their output (terminal screen,
 * text lines, JSON lines).  Pure functions over caller-owned structs. */
#ifndef FL_BPF_LAT_REPORT_H
#define FL_BPF_LAT_REPORT_H

#include <linux/types.h>
#include <stdint.h>
#include <stdio.h>

#include "bpf/fault_latency.h"

enum { PROBE_HIST_SUB = 16, PROBE_HIST_BUCKETS = 64 * PROBE_HIST_SUB };

/* Log-linear histogram of nanoseconds: 16 linear steps in each power of two
 * (~6% resolution); the maximum is exact. */
struct probe_hist {
	uint64_t count, max;
	uint64_t buckets[PROBE_HIST_BUCKETS];
};

/* The stages of one fault (struct probe_lat_event):
 *   total        fault -> the thread runs again
 *   fault_request  fault -> the resolver read it          (needs the marker)
 *   fetch        read (or fault, if it joined a request in flight) -> UFFDIO_*
 *   copy_wake    UFFDIO_* began -> the thread is woken     (needs the marker)
 *   wake_resume  woken -> runs
 *   fault_wake   fault -> woken (the first three together; always known) */
enum probe_stage {
	PROBE_ST_TOTAL, PROBE_ST_FAULT_REQ, PROBE_ST_FETCH, PROBE_ST_COPY_WAKE,
	PROBE_ST_WAKE_RUN, PROBE_ST_FAULT_WAKE, PROBE_NR_STAGES,
};

struct probe_lat_stats {
	struct probe_hist st[PROBE_NR_STAGES];
};

void probe_hist_add(struct probe_hist *h, uint64_t ns);
/* The PCT-th percentile (0 < PCT <= 100) in ns, at most the maximum; 0 when empty. */
uint64_t probe_hist_pct(const struct probe_hist *h, double pct);

/* Adds one event to every stage it has timestamps for. */
void probe_lat_add(struct probe_lat_stats *s, const struct probe_lat_event *e);

/* One JSON object on one line: {"type":TYPE,"t_s":T,"faults":N,"p50_us":...,
 * "p90_us","p99_us","max_us","stages":{"fault_request":{"n","p50_us",
 * "p99_us"},...},"dropped":D}.  TYPE is "interval" or "total". */
void probe_lat_json(FILE *f, const char *type, double t, const struct probe_lat_stats *s,
		    const struct probe_lat_counters *c);

/* One human line for the interval or the total. */
void probe_lat_line(FILE *f, const char *what, double t, const struct probe_lat_stats *s);

/* The live screen: clears the terminal, then the interval and total tables
 * and the total's histogram in powers of two of microseconds. */
void probe_lat_screen(FILE *f, const char *targets, double t, const struct probe_lat_stats *iv,
		      const struct probe_lat_stats *total, const struct probe_lat_counters *c);

#endif
