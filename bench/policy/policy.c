/* SPDX-License-Identifier: MIT */
/* The migration policy's model: per-mode freeze/total predictions and the choice.
 * Equations and sources: docs/policy.md. */
#include "bench/policy/policy.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define HARD_MAX_ROUNDS 30u
#define MIN_STOP_PAGES 16u
#define DEFAULT_MIN_SHRINK 2.0
#define NEAR 1.10 /* "within 10%" */

static const char *const names[BENCH_MODE_NR] = {
	[BENCH_MODE_STOP_COPY] = "stop-and-copy",
	[BENCH_MODE_PRECOPY] = "pre-copy",
	[BENCH_MODE_HYBRID] = "hybrid",
	[BENCH_MODE_POSTCOPY] = "post-copy",
};

const char *bench_mode_name(enum bench_mode m)
{
	return (unsigned)m < BENCH_MODE_NR ? names[m] : "?";
}

int bench_mode_parse(const char *s, enum bench_mode *m)
{
	for (unsigned i = 0; i < BENCH_MODE_NR; i++)
		if (s && !strcmp(s, names[i])) {
			*m = (enum bench_mode)i;
			return 0;
		}
	return -EINVAL;
}

void bench_policy_defaults(struct bench_policy_in *in)
{
	memset(in, 0, sizeof(*in));
	in->state_bytes = 4u << 20;
	/* Measured here with CRIU 4.2.1 (docs/policy.md): dump 62 ms at 16 MiB and
	 * 186 ms at 256 MiB, restore 42 and 159 ms; lazy restore 37-57 ms
	 * (docs/results/lazy.md); UFFDIO_COPY 3.7 GB/s (platform.md). */
	in->plat = (struct bench_policy_platform){
		.dump_fixed_s = 0.054,
		.dump_s_per_byte = 0.52e-3 / (1 << 20),
		.restore_fixed_s = 0.034,
		.restore_s_per_byte = 0.49e-3 / (1 << 20),
		.lazy_restore_fixed_s = 0.045,
		.install_s_per_byte = 1.0 / 3.7e9,
		.round_fixed_s = 0.002,
		.page_size = 4096,
	};
}

/* Not NaN, not infinite, >= 0. */
static int bad(double v)
{
	return !(v >= 0 && v <= 1e300);
}

static int check(const struct bench_policy_in *in, char *why, size_t len)
{
	const struct bench_policy_platform *pl = &in->plat;
	const char *what = NULL;

	if (!in->mem_bytes)
		what = "memory size must be > 0";
	else if (bad(in->bandwidth) || in->bandwidth <= 0)
		what = "bandwidth must be a positive number";
	else if (bad(in->dirty_rate))
		what = "dirty rate must be >= 0";
	else if (bad(in->latency_s))
		what = "latency must be >= 0";
	else if (bad(in->freeze_budget_s))
		what = "freeze budget must be >= 0";
	else if (bad(pl->dump_fixed_s) || bad(pl->dump_s_per_byte) || bad(pl->restore_fixed_s) ||
		 bad(pl->restore_s_per_byte) || bad(pl->lazy_restore_fixed_s) ||
		 bad(pl->install_s_per_byte) || bad(pl->round_fixed_s))
		what = "platform costs must be >= 0";
	else if (bad(pl->page_size) || pl->page_size < 512)
		what = "page size must be >= 512";
	if (what)
		snprintf(why, len, "bad input: %s", what);
	return what ? -EINVAL : 0;
}

static double minf(double a, double b)
{
	return a < b ? a : b;
}

static double maxf(double a, double b)
{
	return a > b ? a : b;
}

/* The hot set the rounds saturate at: W, at most M; M when unknown. */
static double hot(const struct bench_policy_in *in)
{
	if (!in->hot_bytes || in->hot_bytes > in->mem_bytes)
		return (double)in->mem_bytes;
	return (double)in->hot_bytes;
}

/* Bytes dirtied during T seconds: Clark et al.'s D*t, capped by the writable working
 * set (a round cannot find more dirty pages than the hot set holds). */
static double dirtied(const struct bench_policy_in *in, double t)
{
	return in->dirty_rate > 0 ? minf(in->dirty_rate * t, hot(in)) : 0;
}

int bench_policy_rounds(const struct bench_policy_in *in, const struct bench_policy_precopy *pc,
			struct bench_policy_pred *out, double *rounds_s)
{
	double v = (double)in->mem_bytes, next, t, stop, sent = 0, time = 0;
	unsigned n = 0;

	if (!pc->max_rounds || !(pc->min_shrink >= 1) || in->bandwidth <= 0)
		return -EINVAL;
	stop = (double)pc->stop_dirty_pages * in->plat.page_size;
	for (;;) {
		t = v / in->bandwidth + in->plat.round_fixed_s;
		time += t;
		sent += v;
		n++;
		next = dirtied(in, t);
		if (n >= pc->max_rounds || next <= stop || next * pc->min_shrink > v) {
			v = next;
			break;
		}
		v = next;
	}
	out->rounds = n;
	out->bytes_sent = (uint64_t)(sent + v);
	out->residue_bytes = (uint64_t)v;
	*rounds_s = time;
	return 0;
}

/* Freeze of pre-copy without the residue: what every stop_dirty choice pays. */
static double precopy_fixed_freeze(const struct bench_policy_in *in)
{
	const struct bench_policy_platform *pl = &in->plat;

	return pl->dump_fixed_s + (double)in->state_bytes / in->bandwidth + pl->restore_fixed_s +
	       (double)in->mem_bytes * pl->restore_s_per_byte + 2 * in->latency_s;
}

/* Stop rounds once the residue costs at most 5% of the fixed freeze (and fits the
 * budget's slack); min_shrink 2: a round must halve the dirty set to be worth it. */
static void choose_precopy(const struct bench_policy_in *in, struct bench_policy_precopy *pc)
{
	double fixed = precopy_fixed_freeze(in), per_byte, stop;
	struct bench_policy_pred tmp;
	double rs;

	per_byte = 1 / in->bandwidth + in->plat.dump_s_per_byte;
	stop = 0.05 * fixed / per_byte;
	if (in->freeze_budget_s > fixed)
		stop = minf(stop, (in->freeze_budget_s - fixed) / per_byte);
	pc->stop_dirty_pages = (uint64_t)maxf(MIN_STOP_PAGES, stop / in->plat.page_size);
	pc->min_shrink = DEFAULT_MIN_SHRINK;
	pc->max_rounds = HARD_MAX_ROUNDS;
	bench_policy_rounds(in, pc, &tmp, &rs);
	/* One spare round for a dirty rate a little above the probe's. */
	pc->max_rounds = tmp.rounds + 1 < HARD_MAX_ROUNDS ? tmp.rounds + 1 : HARD_MAX_ROUNDS;
}

/* Remote faults on the hot pages still remote after resume, each one RTT + a page. */
static double stall(const struct bench_policy_in *in, double remote_bytes)
{
	double pg = in->plat.page_size;
	double hot_remote = minf(in->dirty_rate > 0 || in->hot_bytes ? hot(in) : 0, remote_bytes);

	return hot_remote / pg * (in->latency_s + pg / in->bandwidth);
}

static void predict(struct bench_policy *p)
{
	const struct bench_policy_in *in = &p->in;
	const struct bench_policy_platform *pl = &in->plat;
	double m = (double)in->mem_bytes, s = (double)in->state_bytes, b = in->bandwidth;
	double rtt2 = 2 * in->latency_s, rounds_s, res, lazy_freeze;
	struct bench_policy_pred *sc = &p->pred[BENCH_MODE_STOP_COPY];
	struct bench_policy_pred *pre = &p->pred[BENCH_MODE_PRECOPY];
	struct bench_policy_pred *hy = &p->pred[BENCH_MODE_HYBRID];
	struct bench_policy_pred *post = &p->pred[BENCH_MODE_POSTCOPY];

	sc->freeze_s = pl->dump_fixed_s + m * pl->dump_s_per_byte + (m + s) / b +
		       pl->restore_fixed_s + m * pl->restore_s_per_byte + rtt2;
	sc->total_s = sc->freeze_s;
	sc->bytes_sent = in->mem_bytes;

	bench_policy_rounds(in, &p->precopy, pre, &rounds_s);
	res = (double)pre->residue_bytes;
	pre->freeze_s = precopy_fixed_freeze(in) + res * (pl->dump_s_per_byte + 1 / b);
	pre->total_s = rounds_s + pre->freeze_s;

	/* Hines & Gopalan: post-copy moves each page once, total ~ M/B after resume;
	 * hybrid adds pre-copy's rounds and post-copies only their residue. */
	lazy_freeze = pl->dump_fixed_s + s / b + pl->lazy_restore_fixed_s + rtt2;
	*hy = *pre;
	hy->freeze_s = lazy_freeze;
	/* The source is released once the residue is in; the clean pages are installed
	 * from the destination's own store meanwhile and do not hold it. */
	hy->total_s = rounds_s + lazy_freeze + maxf(res / b, res * pl->install_s_per_byte);
	hy->stall_s = stall(in, res);
	hy->bytes_at_risk = pre->residue_bytes;

	post->freeze_s = lazy_freeze;
	post->total_s = lazy_freeze + maxf(m / b, m * pl->install_s_per_byte);
	post->stall_s = stall(in, m);
	post->bytes_at_risk = in->mem_bytes;
	post->bytes_sent = in->mem_bytes;
}

static int fits(const struct bench_policy *p, int m)
{
	return !p->in.freeze_budget_s || p->pred[m].freeze_s <= p->in.freeze_budget_s;
}

/* Best freeze and total among the allowed modes (MASK), and which mode has each. */
static void bests(const struct bench_policy *p, unsigned mask, int *bf, int *bt)
{
	*bf = *bt = -1;
	for (int m = 0; m < BENCH_MODE_NR; m++) {
		if (!(mask & 1u << m))
			continue;
		if (*bf < 0 || p->pred[m].freeze_s < p->pred[*bf].freeze_s)
			*bf = m;
		if (*bt < 0 || p->pred[m].total_s < p->pred[*bt].total_s)
			*bt = m;
	}
}

static void choose(struct bench_policy *p)
{
	unsigned mask = 0;
	int bf, bt, pick = -1;
	double score, best = 0;
	const char *why;

	for (int m = 0; m < BENCH_MODE_NR; m++)
		mask |= fits(p, m) ? 1u << m : 0;
	if (!mask)
		mask = (1u << BENCH_MODE_NR) - 1;
	bests(p, mask, &bf, &bt);
	/* Modes are ordered safest first: the first near-best on both wins. */
	for (int m = 0; m < BENCH_MODE_NR && pick < 0; m++)
		if ((mask & 1u << m) && p->pred[m].freeze_s <= NEAR * p->pred[bf].freeze_s &&
		    p->pred[m].total_s <= NEAR * p->pred[bt].total_s)
			pick = m;
	why = "the safest mode within 10% of the best freeze and of the best total";
	if (pick < 0) {
		why = "no mode within 10% of both bests: least freeze/best + total/best";
		for (int m = 0; m < BENCH_MODE_NR; m++) {
			if (!(mask & 1u << m))
				continue;
			score = p->pred[m].freeze_s / p->pred[bf].freeze_s +
				p->pred[m].total_s / p->pred[bt].total_s;
			if (pick < 0 || score < best - 1e-12) {
				pick = m;
				best = score;
			}
		}
	}
	p->mode = (enum bench_mode)pick;
	p->budget_met = fits(p, pick);
	snprintf(p->reason, sizeof(p->reason),
		 "%s: %s (best freeze %.0f ms %s, best total %.0f ms %s)%s", names[pick], why,
		 p->pred[bf].freeze_s * 1e3, names[bf], p->pred[bt].total_s * 1e3, names[bt],
		 p->budget_met ? "" : "; no mode meets the freeze budget");
}

int bench_policy_decide(struct bench_policy *p, const struct bench_policy_in *in)
{
	int ret;

	memset(p, 0, sizeof(*p));
	p->in = *in;
	ret = check(in, p->reason, sizeof(p->reason));
	if (ret)
		return ret;
	choose_precopy(&p->in, &p->precopy);
	predict(p);
	choose(p);
	return 0;
}
