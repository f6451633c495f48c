/* SPDX-License-Identifier: MIT */
/* The migration policy's model: per-mode freeze/total predictions and the choice.
 * Equations and sources: docs/policy.md. */
#include "bench/policy/policy.h"

#include <errno.h>
#include <stddef.h>
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

#define MS 1e-3
#define MS_PER_MIB (1e-3 / (1 << 20))

void bench_policy_defaults(struct bench_policy_in *in)
{
	memset(in, 0, sizeof(*in));
	in->state_bytes = 170u << 10;
	/* Fitted to 96 `faultline migrate` runs here (CRIU 4.2.1, TLS, 2 vCPUs, synth
	 * 32 and 128 MiB, 100 Mbit/s and 1 Gbit/s, 0 and 16 MB/s, 3 reps): the
	 * commands, the medians and the fit are in docs/policy.md. */
	in->plat = (struct bench_policy_platform){
		.dump_fixed_s = 131 * MS,
		.dump_s_per_byte = 0.72 * MS_PER_MIB,
		.lazy_dump_fixed_s = 94 * MS,
		.xfer_fixed_s = 47 * MS,
		.link_efficiency = 0.96,
		.restore_fixed_s = 70 * MS,
		.restore_s_per_byte = 0.49 * MS_PER_MIB,
		.merge_s_per_byte = 1.71 * MS_PER_MIB,
		.lazy_merge_s_per_byte = 1.69 * MS_PER_MIB,
		.final_fixed_s = 8 * MS,
		.lazy_restore_fixed_s = 116 * MS,
		.postcopy_fixed_s = 25 * MS,  /* was 205 with migrate's old 200 ms poll */
		.install_s_per_byte = 1.96 * MS_PER_MIB,
		.precopy_fixed_s = 137 * MS,
		.round_fixed_s = 2 * MS,
		.inflight_bytes = 0,          /* migrate lets the link drain before it freezes */
		.page_size = 4096,
	};
}

/* Not NaN, not infinite, >= 0. */
static int bad(double v)
{
	return !(v >= 0 && v <= 1e300);
}

/* Every platform cost but page_size (checked apart) is a double >= 0. */
static int bad_plat(const struct bench_policy_platform *pl)
{
	const double *v = (const double *)pl;

	for (size_t i = 0; i < offsetof(struct bench_policy_platform, page_size) / sizeof(*v); i++)
		if (bad(v[i]))
			return 1;
	return 0;
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
	else if (bad_plat(pl))
		what = "platform costs must be >= 0";
	else if (!(pl->link_efficiency > 0 && pl->link_efficiency <= 1))
		what = "link efficiency must be in (0, 1]";
	else if (in->rules.max_rounds && !(in->rules.min_shrink >= 1))
		what = "pre-copy min_shrink must be >= 1";
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

/* The link as faultline's transfers see it: the tc rate times the efficiency (TLS,
 * TCP/IP headers, the tbf's bursts). */
static double eff_bw(const struct bench_policy_in *in)
{
	return in->bandwidth * in->plat.link_efficiency;
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

	if (!pc->max_rounds || !(pc->min_shrink >= 1) || !(eff_bw(in) > 0))
		return -EINVAL;
	stop = (double)pc->stop_dirty_pages * in->plat.page_size;
	for (;;) {
		t = v / eff_bw(in) + in->plat.round_fixed_s;
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

/* The images (S) over the link while frozen: what every lazy mode's freeze pays. */
static double images(const struct bench_policy_in *in)
{
	return in->plat.xfer_fixed_s + (double)in->state_bytes / eff_bw(in);
}

/* Freeze of pre-copy without the residue: what every stop_dirty choice pays. */
static double precopy_fixed_freeze(const struct bench_policy_in *in)
{
	const struct bench_policy_platform *pl = &in->plat;

	return pl->lazy_dump_fixed_s + pl->final_fixed_s + images(in) + pl->restore_fixed_s +
	       (double)in->mem_bytes * (pl->merge_s_per_byte + pl->restore_s_per_byte) +
	       2 * in->latency_s;
}

/* Stop rounds once the residue costs at most 5% of the fixed freeze (and fits the
 * budget's slack); min_shrink 2: a round must halve the dirty set to be worth it. */
static void choose_precopy(const struct bench_policy_in *in, struct bench_policy_precopy *pc)
{
	double fixed = precopy_fixed_freeze(in), per_byte, stop;
	struct bench_policy_pred tmp;
	double rs;

	if (in->rules.max_rounds) {
		*pc = in->rules;
		return;
	}
	per_byte = 1 / eff_bw(in) + in->plat.dump_s_per_byte;
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

	return hot_remote / pg * (in->latency_s + pg / eff_bw(in));
}

static void predict(struct bench_policy *p)
{
	const struct bench_policy_in *in = &p->in;
	const struct bench_policy_platform *pl = &in->plat;
	double m = (double)in->mem_bytes, s = (double)in->state_bytes, b = eff_bw(in);
	double rtt2 = 2 * in->latency_s, rounds_s, res, lazy_freeze, drain;
	struct bench_policy_pred *sc = &p->pred[BENCH_MODE_STOP_COPY];
	struct bench_policy_pred *pre = &p->pred[BENCH_MODE_PRECOPY];
	struct bench_policy_pred *hy = &p->pred[BENCH_MODE_HYBRID];
	struct bench_policy_pred *post = &p->pred[BENCH_MODE_POSTCOPY];

	sc->freeze_s = pl->dump_fixed_s + m * pl->dump_s_per_byte + pl->xfer_fixed_s +
		       (m + s) / b + pl->restore_fixed_s + m * pl->restore_s_per_byte + rtt2;
	sc->total_s = sc->freeze_s;
	sc->bytes_sent = in->mem_bytes;

	bench_policy_rounds(in, &p->precopy, pre, &rounds_s);
	res = (double)pre->residue_bytes;
	/* The rounds end with up to inflight_bytes still buffered on the way: the final
	 * pass (frozen) waits for them; the total is the same. */
	drain = minf(pl->inflight_bytes, (double)pre->bytes_sent - res) / b;
	rounds_s += pl->precopy_fixed_s - drain;
	pre->freeze_s = precopy_fixed_freeze(in) + drain + res * (pl->dump_s_per_byte + 1 / b);
	pre->total_s = rounds_s + pre->freeze_s;

	/* Hines & Gopalan: post-copy moves each page once, total ~ M/B after resume;
	 * hybrid adds pre-copy's rounds and post-copies only their residue, while the
	 * clean pages are installed from the destination's store. */
	lazy_freeze = pl->lazy_dump_fixed_s + images(in) + pl->lazy_restore_fixed_s + rtt2;
	*hy = *pre;
	hy->freeze_s = lazy_freeze + pl->final_fixed_s + drain + m * pl->lazy_merge_s_per_byte;
	/* Measured: fetching the residue and installing the local pages do not overlap
	 * (2 vCPUs), and lazy-pages' start cost is already in the freeze. */
	hy->total_s = rounds_s + hy->freeze_s + res / b + (m - res) * pl->install_s_per_byte;
	hy->stall_s = stall(in, res);
	hy->bytes_at_risk = pre->residue_bytes;

	post->freeze_s = lazy_freeze;
	post->total_s = lazy_freeze + pl->postcopy_fixed_s + m / b;
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
