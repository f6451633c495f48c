/* SPDX-License-Identifier: MIT */
/* Fault latency histogram, progress lines and the summary. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "uffd/lazy.h"

/* Bucket: 8 linear steps inside each power of two, so ~12% resolution. */
static unsigned bucket(uint64_t ns)
{
	if (ns < 8)
		return (unsigned)ns;
	unsigned lg = 63 - (unsigned)__builtin_clzll(ns);
	unsigned sub = (unsigned)((ns >> (lg - 3)) & 7);
	unsigned b = (lg - 2) * 8 + sub;
	return b < 64 * 8 ? b : 64 * 8 - 1;
}

static uint64_t bucket_value(unsigned b)
{
	if (b < 8)
		return b;
	unsigned lg = b / 8 + 2, sub = b % 8;
	return ((uint64_t)(8 + sub) << (lg - 3)) + (1ULL << (lg - 3)) / 2;
}

void uffd_hist_add(struct uffd_hist *h, uint64_t ns)
{
	h->buckets[bucket(ns)]++;
	h->count++;
}

uint64_t uffd_hist_pct(const struct uffd_hist *h, double pct)
{
	uint64_t want = (uint64_t)(h->count * pct / 100.0 + 0.5), seen = 0;

	if (!h->count)
		return 0;
	if (want < 1)
		want = 1;
	for (unsigned b = 0; b < 64 * 8; b++) {
		seen += h->buckets[b];
		if (seen >= want)
			return bucket_value(b);
	}
	return 0;
}

double uffd_elapsed(const struct timespec *from, const struct timespec *to)
{
	return (double)(to->tv_sec - from->tv_sec) + (double)(to->tv_nsec - from->tv_nsec) / 1e9;
}

void uffd_progress(struct uffd_ctx *ctx, int final)
{
	struct timespec now;
	uint64_t in = ctx->stats.faulted + ctx->stats.prefetched;

	if (!ctx->opts.progress)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!final && uffd_elapsed(&ctx->last_progress, &now) < 0.5)
		return;
	ctx->last_progress = now;
	double t = uffd_elapsed(&ctx->stats.start, &now);
	fprintf(stderr, "%slazy-pages: %llu/%llu pages in (%.0f%%), %.1f MiB/s%s",
		isatty(2) ? "\r" : "", (unsigned long long)in, (unsigned long long)ctx->total_pages,
		ctx->total_pages ? 100.0 * (double)in / (double)ctx->total_pages : 100.0,
		t > 0 ? (double)ctx->stats.bytes / t / (1 << 20) : 0.0,
		isatty(2) && !final ? "   " : "\n");
}

void uffd_summary(struct uffd_ctx *ctx)
{
	const struct uffd_stats *s = &ctx->stats;
	double all = s->all_in.tv_sec ? uffd_elapsed(&s->start, &s->all_in) : -1;
	char line[512];

	snprintf(line, sizeof(line),
		 "summary: %llu pages faulted, %llu prefetched, %llu zero-filled; %.1f MiB; "
		 "all pages in %.3f s after restore began; fault latency p50 %.1f us, p99 %.1f us "
		 "(%llu faults); %llu pages local, %llu remote; %llu asked again for a fault",
		 (unsigned long long)s->faulted, (unsigned long long)s->prefetched,
		 (unsigned long long)s->zeroed, (double)s->bytes / (1 << 20), all,
		 (double)uffd_hist_pct(&s->lat, 50) / 1e3, (double)uffd_hist_pct(&s->lat, 99) / 1e3,
		 (unsigned long long)s->lat.count, (unsigned long long)s->local,
		 (unsigned long long)s->remote, (unsigned long long)s->dup);
	fl_info("lazy-pages", "%s", line);
	if (fl_log_fd() != 2)
		fprintf(stderr, "lazy-pages: %s\n", line);
}
