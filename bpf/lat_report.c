/* SPDX-License-Identifier: MIT */
/* fault-latency: histograms and output. */
#include <string.h>

#include "bpf/lat_report.h"

static const char *const stage_names[PROBE_NR_STAGES] = {
	"total", "fault_request", "fetch", "copy_wake", "wake_resume", "fault_wake",
};

static unsigned bucket(uint64_t ns)
{
	if (ns < PROBE_HIST_SUB)
		return (unsigned)ns;
	unsigned lg = 63 - (unsigned)__builtin_clzll(ns);
	unsigned sub = (unsigned)((ns >> (lg - 4)) & (PROBE_HIST_SUB - 1));
	return (lg - 3) * PROBE_HIST_SUB + sub;
}

/* The middle of bucket B. */
static uint64_t bucket_value(unsigned b)
{
	if (b < PROBE_HIST_SUB)
		return b;
	unsigned lg = b / PROBE_HIST_SUB + 3, sub = b % PROBE_HIST_SUB;
	return ((uint64_t)(PROBE_HIST_SUB + sub) << (lg - 4)) + (1ULL << (lg - 4)) / 2;
}

void probe_hist_add(struct probe_hist *h, uint64_t ns)
{
	h->buckets[bucket(ns)]++;
	h->count++;
	if (ns > h->max)
		h->max = ns;
}

uint64_t probe_hist_pct(const struct probe_hist *h, double pct)
{
	uint64_t want = (uint64_t)((double)h->count * pct / 100.0 + 0.5), seen = 0;

	if (!h->count)
		return 0;
	if (want < 1)
		want = 1;
	for (unsigned b = 0; b < PROBE_HIST_BUCKETS; b++) {
		seen += h->buckets[b];
		if (seen >= want)
			return bucket_value(b) < h->max ? bucket_value(b) : h->max;
	}
	return h->max;
}

static void add_span(struct probe_lat_stats *s, enum probe_stage st, uint64_t from, uint64_t to)
{
	if (from && to >= from)
		probe_hist_add(&s->st[st], to - from);
}

void probe_lat_add(struct probe_lat_stats *s, const struct probe_lat_event *e)
{
	/* A fault that joined a request already in flight (or a background
	 * fetch) has no request of its own: it waits for data from its fault. */
	uint64_t req = e->t_req >= e->t_fault ? e->t_req : 0;

	add_span(s, PROBE_ST_TOTAL, e->t_fault, e->t_run);
	add_span(s, PROBE_ST_FAULT_WAKE, e->t_fault, e->t_wake);
	add_span(s, PROBE_ST_WAKE_RUN, e->t_wake, e->t_run);
	if (!e->t_copy)
		return;
	if (req)
		add_span(s, PROBE_ST_FAULT_REQ, e->t_fault, req);
	add_span(s, PROBE_ST_FETCH, req ? req : e->t_fault, e->t_copy);
	add_span(s, PROBE_ST_COPY_WAKE, e->t_copy, e->t_wake);
}

static double us(uint64_t ns)
{
	return (double)ns / 1e3;
}

void probe_lat_json(FILE *f, const char *type, double t, const struct probe_lat_stats *s,
		    const struct probe_lat_counters *c)
{
	const struct probe_hist *h = &s->st[PROBE_ST_TOTAL];

	fprintf(f, "{\"type\":\"%s\",\"t_s\":%.3f,\"faults\":%llu,\"p50_us\":%.1f,\"p90_us\":%.1f,"
		"\"p99_us\":%.1f,\"max_us\":%.1f,\"stages\":{", type, t,
		(unsigned long long)h->count, us(probe_hist_pct(h, 50)), us(probe_hist_pct(h, 90)),
		us(probe_hist_pct(h, 99)), us(h->max));
	for (int i = PROBE_ST_FAULT_REQ; i < PROBE_NR_STAGES; i++) {
		const struct probe_hist *sh = &s->st[i];

		fprintf(f, "%s\"%s\":{\"n\":%llu,\"p50_us\":%.1f,\"p99_us\":%.1f}",
			i == PROBE_ST_FAULT_REQ ? "" : ",", stage_names[i],
			(unsigned long long)sh->count, us(probe_hist_pct(sh, 50)),
			us(probe_hist_pct(sh, 99)));
	}
	fprintf(f, "},\"dropped\":%llu,\"other_wakeups\":%llu,\"unswitched\":%llu,"
		"\"unslept\":%llu}\n", (unsigned long long)c->dropped,
		(unsigned long long)c->no_ioctl, (unsigned long long)c->unswitched,
		(unsigned long long)c->unslept);
	fflush(f);
}

void probe_lat_line(FILE *f, const char *what, double t, const struct probe_lat_stats *s)
{
	const struct probe_hist *h = &s->st[PROBE_ST_TOTAL];

	fprintf(f, "%8.1fs %-8s %8llu faults  p50 %8.1f  p90 %8.1f  p99 %8.1f  max %8.1f us",
		t, what, (unsigned long long)h->count, us(probe_hist_pct(h, 50)),
		us(probe_hist_pct(h, 90)), us(probe_hist_pct(h, 99)), us(h->max));
	for (int i = PROBE_ST_FAULT_REQ; i <= PROBE_ST_WAKE_RUN; i++)
		if (s->st[i].count)
			fprintf(f, "  %s %.1f", stage_names[i], us(probe_hist_pct(&s->st[i], 50)));
	fputc('\n', f);
	fflush(f);
}

static void table(FILE *f, const char *title, const struct probe_lat_stats *s)
{
	fprintf(f, "%-15s %10s %10s %10s %10s %10s\n", title, "count", "p50 us", "p90 us",
		"p99 us", "max us");
	for (int i = 0; i < PROBE_NR_STAGES; i++) {
		const struct probe_hist *h = &s->st[i];

		fprintf(f, "  %-13s %10llu %10.1f %10.1f %10.1f %10.1f\n", stage_names[i],
			(unsigned long long)h->count, us(probe_hist_pct(h, 50)),
			us(probe_hist_pct(h, 90)), us(probe_hist_pct(h, 99)), us(h->max));
	}
}

/* Rows of [2^k, 2^(k+1)) us, from the first to the last that holds a fault. */
static void log2_rows(FILE *f, const struct probe_hist *h)
{
	uint64_t rows[40] = { 0 }, top = 0;
	int lo = 40, hi = -1;

	for (unsigned b = 0; b < PROBE_HIST_BUCKETS; b++) {
		uint64_t v = bucket_value(b) / 1000;
		int k = v ? 63 - __builtin_clzll(v) + 1 : 0;

		if (!h->buckets[b])
			continue;
		k = k < 39 ? k : 39;
		rows[k] += h->buckets[b];
		lo = k < lo ? k : lo;
		hi = k > hi ? k : hi;
	}
	for (int k = lo; k <= hi; k++)
		top = rows[k] > top ? rows[k] : top;
	fprintf(f, "\n%19s  %-10s faults (total)\n", "us", "count");
	for (int k = lo; k <= hi; k++) {
		char bar[51];
		int n = top ? (int)(rows[k] * 50 / top) : 0;

		memset(bar, '#', (size_t)n);
		bar[n] = 0;
		fprintf(f, "%8llu - %-8llu  %-10llu |%s\n", k ? 1ULL << (k - 1) : 0ULL,
			(1ULL << k) - 1, (unsigned long long)rows[k], bar);
	}
}

void probe_lat_screen(FILE *f, const char *targets, double t, const struct probe_lat_stats *iv,
		      const struct probe_lat_stats *total, const struct probe_lat_counters *c)
{
	fputs("\033[H\033[J", f);
	fprintf(f, "faultline probe fault-latency: %s   %.0f s   (Ctrl-C to stop)\n\n", targets, t);
	table(f, "last second", iv);
	fputc('\n', f);
	table(f, "since start", total);
	log2_rows(f, &total->st[PROBE_ST_TOTAL]);
	if (c->dropped || c->no_ioctl)
		fprintf(f, "\n%llu events dropped (ring buffer full), %llu faults woken "
			"by something else than UFFDIO_*\n", (unsigned long long)c->dropped,
			(unsigned long long)c->no_ioctl);
	fflush(f);
}
