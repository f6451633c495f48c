/* SPDX-License-Identifier: MIT */
/* `faultline probe hotness` output (see hot_report.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpf/hot_report.h"

static double mib(uint64_t pages)
{
	return (double)pages / 256.0;
}

void probe_hot_print_start(const struct hot_ctx *c)
{
	if (!c->o.json) {
		printf("%6s %8s %10s %10s %9s %10s %8s %8s %8s %10s %8s\n", "round", "time_s", "dirty_pg",
		       "dirty_MiB/s", "new_pg", "wss_pg", ">=2rnd", ">=4rnd", ">=8rnd", "bpf_faults",
		       "scan_ms");
		fflush(stdout);
		return;
	}
	printf("{\"type\":\"start\",\"interval_ms\":%.3f,\"bpf\":%s,\"processes\":[", c->o.interval_ms,
	       c->have_bpf ? "true" : "false");
	for (size_t i = 0, k = 0; i < c->nprocs; i++) {
		const struct hot_proc *p = &c->procs[i];

		if (!p->tracking)
			continue;
		printf("%s{\"pid\":%d,\"vpid\":%d,\"registered_pages\":%" PRIu64 ",\"mappings\":%zu}",
		       k++ ? "," : "", (int)p->pid, (int)p->vpid, p->wp.registered_pages, p->wp.now.n);
	}
	printf("]}\n");
	fflush(stdout);
}

void probe_hot_print_round(const struct hot_ctx *c, const struct hot_round *r)
{
	double rate = r->dt > 0 ? (double)r->dirty / r->dt : 0;
	const uint64_t *h = c->pages.hot;

	if (!c->o.json) {
		printf("%6" PRIu32 " %8.3f %10" PRIu64 " %10.2f %9" PRIu64 " %10" PRIu64 " %8" PRIu64
		       " %8" PRIu64 " %8" PRIu64 " %10" PRIu64 " %8.3f\n",
		       r->n, r->t, r->dirty, mib((uint64_t)rate), r->fresh, h[0], h[1], h[2], h[3],
		       r->faults, r->scan_ms);
	} else {
		printf("{\"type\":\"round\",\"round\":%" PRIu32 ",\"t\":%.6f,\"dt\":%.6f,"
		       "\"dirty_pages\":%" PRIu64 ",\"dirty_pages_per_s\":%.1f,\"new_pages\":%" PRIu64
		       ",\"wss_pages\":%" PRIu64 ",\"hot\":{",
		       r->n, r->t, r->dt, r->dirty, rate, r->fresh, h[0]);
		for (int i = 0; i < PROBE_NHOT; i++)
			printf("%s\"%" PRIu32 "\":%" PRIu64, i ? "," : "", probe_hot_thresholds[i], h[i]);
		printf("},\"bpf_faults\":%" PRIu64 ",\"scan_ms\":%.3f,\"processes\":%u}\n", r->faults,
		       r->scan_ms, r->procs);
	}
	fflush(stdout);
}

struct summary {
	double secs, rate_mean;
	uint64_t faults, dropped, runs, ns;
	int have_cost;
};

static void gather(const struct hot_ctx *c, struct summary *s)
{
	memset(s, 0, sizeof(*s));
	s->secs = (double)(c->last_ns - c->t0_ns) / 1e9;
	s->rate_mean = s->secs > 0 ? (double)c->dirty_total / s->secs : 0;
	if (c->have_bpf) {
		struct probe_hot_counters k;

		probe_hot_bpf_counters(&c->bpf, &k);
		s->faults = k.faults;
		s->dropped = k.dropped;
		s->have_cost = !probe_hot_bpf_cost(&c->bpf, &s->runs, &s->ns) && s->runs;
	}
}

static void summary_json(const struct hot_ctx *c, const struct summary *s)
{
	printf("{\"type\":\"summary\",\"rounds\":%" PRIu32 ",\"seconds\":%.6f,\"wss_pages\":%" PRIu64
	       ",\"dirty_pages\":%" PRIu64 ",\"dirty_pages_per_s_mean\":%.1f,"
	       "\"dirty_pages_per_s_max\":%.1f,\"hot\":{",
	       c->round, s->secs, c->pages.hot[0], c->dirty_total, s->rate_mean, c->rate_max);
	for (int i = 0; i < PROBE_NHOT; i++)
		printf("%s\"%" PRIu32 "\":%" PRIu64, i ? "," : "", probe_hot_thresholds[i], c->pages.hot[i]);
	printf("},\"scan_ms_mean\":%.3f,\"scan_ms_max\":%.3f", c->round ? c->scan_ms_total / c->round : 0,
	       c->scan_ms_max);
	if (c->have_bpf)
		printf(",\"bpf_faults\":%" PRIu64 ",\"bpf_dropped\":%" PRIu64 ",\"bpf_only_pages\":%" PRIu64
		       ",\"bpf_runs\":%" PRIu64 ",\"bpf_ns_per_run\":%.1f",
		       s->faults, s->dropped, c->bpf_pages_outside, s->runs,
		       s->have_cost ? (double)s->ns / (double)s->runs : 0);
	printf(",\"processes\":[");
	for (size_t i = 0, k = 0; i < c->nprocs; i++) {
		const struct hot_proc *p = &c->procs[i];

		if (p->vpid && (p->dirty_total || p->wp.registered_pages))
			printf("%s{\"pid\":%d,\"vpid\":%d,\"dirty_pages\":%" PRIu64 ",\"new_mappings\":%u,"
			       "\"reregistered\":%u,\"exited\":%s}",
			       k++ ? "," : "", (int)p->pid, (int)p->vpid, p->dirty_total, p->new_vmas,
			       p->reregistered, p->exited ? "true" : "false");
	}
	printf("]}\n");
}

static void summary_text(const struct hot_ctx *c, const struct summary *s)
{
	const uint64_t *h = c->pages.hot;

	printf("\nhotness: %" PRIu32 " rounds in %.2f s, %zu process%s\n", c->round, s->secs, c->nprocs,
	       c->nprocs == 1 ? "" : "es");
	printf("  write working set: %" PRIu64 " pages (%.1f MiB)\n", h[0], mib(h[0]));
	printf("  hot set:");
	for (int i = 0; i < PROBE_NHOT; i++)
		printf("%s >=%" PRIu32 " rounds %" PRIu64 " pages", i ? "," : "", probe_hot_thresholds[i], h[i]);
	printf("\n  dirty rate: mean %.0f pages/s (%.2f MiB/s), max %.0f pages/s (%.2f MiB/s)\n",
	       s->rate_mean, s->rate_mean / 256, c->rate_max, c->rate_max / 256);
	printf("  scan cost: %.3f ms per round (max %.3f ms)\n",
	       c->round ? c->scan_ms_total / c->round : 0, c->scan_ms_max);
	if (!c->have_bpf) {
		printf("  bpf: off\n");
		return;
	}
	printf("  bpf: %" PRIu64 " write faults counted", s->faults);
	if (s->dropped)
		printf(" (%" PRIu64 " not per page: map full, raise --bpf-max-pages)", s->dropped);
	if (s->have_cost)
		printf(", program %.0f ns per run over %" PRIu64 " runs (all processes' faults)",
		       (double)s->ns / (double)s->runs, s->runs);
	printf("\n");
	if (c->bpf_pages_outside)
		printf("  bpf: %" PRIu64 " pages faulted on but never found written by a scan "
		       "(outside the tracked mappings, or written after the last round)\n",
		       c->bpf_pages_outside);
}

void probe_hot_print_summary(const struct hot_ctx *c)
{
	struct summary s;

	gather(c, &s);
	if (c->o.json)
		summary_json(c, &s);
	else
		summary_text(c, &s);
	fflush(stdout);
}

/* Writes PATH through PATH.tmp: the hotness map (MAP) or the page list. */
static int write_file(const char *path, const struct hot_ctx *c, int map)
{
	size_t len = strlen(path) + 8, n = 0;
	char *tmp = malloc(len);
	struct probe_hot_range *r = NULL;
	pid_t *vpid = malloc((c->nprocs ? c->nprocs : 1) * sizeof(*vpid));
	FILE *f = NULL;
	int ret = -ENOMEM;

	if (!tmp || !vpid)
		goto out;
	for (size_t i = 0; i < c->nprocs; i++)
		vpid[i] = c->procs[i].vpid;
	if (map && (ret = probe_pageset_ranges(&c->pages, &r, &n)))
		goto out;
	snprintf(tmp, len, "%s.tmp", path);
	f = fopen(tmp, "we");
	ret = f ? 0 : -errno;
	if (!ret)
		ret = map ? probe_hotmap_print(f, r, n, vpid) : probe_pages_print(f, &c->pages, vpid);
	if (f && fclose(f) && !ret)
		ret = -EIO;
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (ret && f)
		unlink(tmp);
	if (!ret && c->o.verbose && map)
		fprintf(stderr, "hotness: wrote %s: %zu ranges\n", path, n);
	else if (!ret && c->o.verbose)
		fprintf(stderr, "hotness: wrote %s\n", path);
out:
	if (ret)
		fprintf(stderr, "hotness: cannot write %s: %s\n", path, strerror(-ret));
	free(r);
	free(vpid);
	free(tmp);
	return ret;
}

int probe_hot_write_files(const struct hot_ctx *c)
{
	int ret = 0;

	if (c->o.map_file)
		ret = write_file(c->o.map_file, c, 1);
	if (c->o.pages_file) {
		int r = write_file(c->o.pages_file, c, 0);

		ret = ret ? ret : r;
	}
	return ret;
}
