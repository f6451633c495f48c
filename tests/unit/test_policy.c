/* SPDX-License-Identifier: MIT */
/* The policy (bench/policy): choices, monotonicity, budget, bad inputs, CLI parsers. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#include "bench/policy/policy.h"
#include "tests/unit/suites.h"

#define MiB (1ull << 20)

static struct bench_policy_in input(uint64_t mem, double dirty, uint64_t hot, double bw)
{
	struct bench_policy_in in;

	bench_policy_defaults(&in);
	in.mem_bytes = mem;
	in.dirty_rate = dirty;
	in.hot_bytes = hot;
	in.bandwidth = bw;
	in.latency_s = 90e-6;
	return in;
}

/* Pre-copy without per-MiB freeze work or a drain: not this platform (policy.md). */
static struct bench_policy_in lean(struct bench_policy_in in)
{
	in.plat.merge_s_per_byte = in.plat.restore_s_per_byte = 0;
	in.plat.final_fixed_s = in.plat.inflight_bytes = 0;
	return in;
}

static int is_pre(enum bench_mode m)
{
	return m == BENCH_MODE_PRECOPY || m == BENCH_MODE_STOP_COPY;
}

/* Count the grid points (memory x bandwidth) where a copy-only mode is chosen. */
static int precopy_wins(double dirty)
{
	static const uint64_t mems[] = { 16 * MiB, 64 * MiB, 256 * MiB, 1024 * MiB };
	static const double bws[] = { 12.5e6, 125e6, 1.25e9 };
	struct bench_policy p;
	int wins = 0;

	for (size_t i = 0; i < 4; i++)
		for (size_t j = 0; j < 3; j++) {
			struct bench_policy_in in = lean(input(mems[i], dirty, mems[i] / 4, bws[j]));

			ck_assert_int_eq(bench_policy_decide(&p, &in), 0);
			wins += is_pre(p.mode);
		}
	return wins;
}

START_TEST(more_dirty_fewer_precopy_wins)
{
	static const double rates[] = { 0, 1e5, 1e6, 4e6, 16e6, 64e6, 256e6, 1e9, 4e9 };
	int prev = 1 << 30, w;

	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		w = precopy_wins(rates[i]);
		ck_assert_msg(w <= prev, "dirty %g B/s: %d pre-copy wins, more than %d at a lower rate",
			      rates[i], w, prev);
		prev = w;
	}
	/* A small hot set over a fast link stays cheap to copy: fewer wins, not none. */
	ck_assert_int_lt(precopy_wins(4e9), precopy_wins(0));
}
END_TEST

START_TEST(idle_task_needs_no_remote_faults)
{
	static const uint64_t mems[] = { 16 * MiB, 64 * MiB, 1024 * MiB };
	static const double bws[] = { 12.5e6, 125e6, 1.25e9 };
	struct bench_policy p;

	for (size_t i = 0; i < 3; i++)
		for (size_t j = 0; j < 3; j++) {
			struct bench_policy_in in = lean(input(mems[i], 0, 0, bws[j]));

			ck_assert_int_eq(bench_policy_decide(&p, &in), 0);
			ck_assert_uint_eq(p.pred[BENCH_MODE_PRECOPY].rounds, 1);
			ck_assert_uint_eq(p.pred[p.mode].bytes_at_risk, 0);
			ck_assert(p.pred[p.mode].stall_s == 0);
			ck_assert_int_ne(p.mode, BENCH_MODE_POSTCOPY);
		}
	/* Calibrated (128 MiB, 1 Gbit/s, idle): post-copy freezes least (233 ms, pre-copy 513). */
	struct bench_policy_in in = input(128 * MiB, 0, 0, 125e6);

	ck_assert_int_eq(bench_policy_decide(&p, &in), 0);
	ck_assert_msg(p.mode == BENCH_MODE_POSTCOPY, "got %s: %s", bench_mode_name(p.mode), p.reason);
	ck_assert(p.pred[BENCH_MODE_PRECOPY].freeze_s > 1.5 * p.pred[BENCH_MODE_POSTCOPY].freeze_s);
}
END_TEST

START_TEST(dirty_above_bandwidth_goes_post_copy)
{
	static const uint64_t mems[] = { 64 * MiB, 256 * MiB, 1024 * MiB };
	static const double bws[] = { 12.5e6, 125e6 };
	struct bench_policy p;

	for (size_t i = 0; i < 3; i++)
		for (size_t j = 0; j < 2; j++) {
			struct bench_policy_in in = input(mems[i], 2 * bws[j], mems[i] / 2, bws[j]);

			ck_assert_int_eq(bench_policy_decide(&p, &in), 0);
			ck_assert_msg(p.mode == BENCH_MODE_POSTCOPY || p.mode == BENCH_MODE_HYBRID,
				      "%s", p.reason);
			/* Not converging: the rounds stop at once on min_shrink. */
			ck_assert_uint_le(p.pred[BENCH_MODE_PRECOPY].rounds, 2);
		}
}
END_TEST

START_TEST(freeze_budget_respected)
{
	/* 16 MiB over 1 Gbit/s: stop-and-copy has the best total but freezes longest. */
	struct bench_policy_in in = input(16 * MiB, 0, 0, 125e6);
	struct bench_policy p;
	double sc_freeze;

	ck_assert_int_eq(bench_policy_decide(&p, &in), 0);
	sc_freeze = p.pred[BENCH_MODE_STOP_COPY].freeze_s;
	ck_assert(p.pred[BENCH_MODE_PRECOPY].freeze_s < sc_freeze);
	in.freeze_budget_s = p.pred[BENCH_MODE_PRECOPY].freeze_s * 1.01;
	ck_assert(in.freeze_budget_s < sc_freeze);
	ck_assert_int_eq(bench_policy_decide(&p, &in), 0);
	ck_assert(p.budget_met);
	ck_assert_msg(p.pred[p.mode].freeze_s <= in.freeze_budget_s, "%s", p.reason);
	ck_assert_int_ne(p.mode, BENCH_MODE_STOP_COPY);

	/* A budget nothing meets: still a choice, and it says so. */
	in.freeze_budget_s = 1e-6;
	ck_assert_int_eq(bench_policy_decide(&p, &in), 0);
	ck_assert(!p.budget_met);
	ck_assert_ptr_nonnull(strstr(p.reason, "budget"));
}
END_TEST

START_TEST(rounds_follow_clark)
{
	/* D = B/4, hot set = M: each round a quarter of the previous one. */
	struct bench_policy_in in = input(64 * MiB, 25e6, 0, 100e6);
	struct bench_policy_precopy pc = { .max_rounds = 3, .stop_dirty_pages = 0, .min_shrink = 2 };
	struct bench_policy_pred r;
	double t;

	in.plat.round_fixed_s = 0;
	in.plat.link_efficiency = 1;
	ck_assert_int_eq(bench_policy_rounds(&in, &pc, &r, &t), 0);
	ck_assert_uint_eq(r.rounds, 3);
	ck_assert(fabs((double)r.residue_bytes - 64.0 * MiB / 64) < 2);
	ck_assert(fabs(t - 64.0 * MiB * (1 + 0.25 + 0.0625) / 100e6) < 1e-9);
	/* Hot set 1 MiB at a rate above the link: stuck at W, stops on min_shrink. */
	in = input(64 * MiB, 200e6, MiB, 100e6);
	pc.max_rounds = 10;
	ck_assert_int_eq(bench_policy_rounds(&in, &pc, &r, &t), 0);
	ck_assert_uint_eq(r.rounds, 2);
	ck_assert_uint_eq(r.residue_bytes, MiB);
	pc.min_shrink = 0.5;
	ck_assert_int_eq(bench_policy_rounds(&in, &pc, &r, &t), -EINVAL);
}
END_TEST

START_TEST(bad_inputs)
{
	struct bench_policy p;
	struct bench_policy_in in;

	in = input(0, 0, 0, 1e6);
	ck_assert_int_eq(bench_policy_decide(&p, &in), -EINVAL);
	ck_assert_ptr_nonnull(strstr(p.reason, "memory"));
	in = input(MiB, 0, 0, 0);
	ck_assert_int_eq(bench_policy_decide(&p, &in), -EINVAL);
	ck_assert_ptr_nonnull(strstr(p.reason, "bandwidth"));
	in = input(MiB, -1, 0, 1e6);
	ck_assert_int_eq(bench_policy_decide(&p, &in), -EINVAL);
	in = input(MiB, NAN, 0, 1e6);
	ck_assert_int_eq(bench_policy_decide(&p, &in), -EINVAL);
	in = input(MiB, 0, 0, INFINITY);
	ck_assert_int_eq(bench_policy_decide(&p, &in), -EINVAL);
	in = input(MiB, 0, 0, 1e6);
	in.latency_s = -1e-6;
	ck_assert_int_eq(bench_policy_decide(&p, &in), -EINVAL);
	in = input(MiB, 0, 0, 1e6);
	in.freeze_budget_s = NAN;
	ck_assert_int_eq(bench_policy_decide(&p, &in), -EINVAL);
	in = input(MiB, 0, 0, 1e6);
	in.plat.restore_fixed_s = -0.1;
	ck_assert_int_eq(bench_policy_decide(&p, &in), -EINVAL);
	in.plat.restore_fixed_s = 0;
	in.plat.link_efficiency = 1.5;
	ck_assert_int_eq(bench_policy_decide(&p, &in), -EINVAL);
	in = input(MiB, 0, 0, 1e6);
	in.plat.page_size = 0;
	ck_assert_int_eq(bench_policy_decide(&p, &in), -EINVAL);
}
END_TEST

START_TEST(json_shape)
{
	struct bench_policy_in in = input(64 * MiB, 4e6, 16 * MiB, 12.5e6);
	struct bench_policy p;
	char buf[2048], tiny[16];
	int n;

	ck_assert_int_eq(bench_policy_decide(&p, &in), 0);
	n = bench_policy_json(&p, buf, sizeof(buf));
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq((int)strlen(buf), n);
	ck_assert(!strncmp(buf, "{\"mode\":\"", 9));
	ck_assert_ptr_nonnull(strstr(buf, "\"precopy\":{\"max_rounds\":"));
	ck_assert_ptr_nonnull(strstr(buf, "\"post-copy\":{\"freeze_s\":"));
	ck_assert_int_eq(buf[n - 1], '}');
	ck_assert_int_eq(bench_policy_json(&p, tiny, sizeof(tiny)), -ENOSPC);
	in.rules = (struct bench_policy_precopy){ 5, 256, 1.5 }; /* what-if: used as given */
	ck_assert_int_eq(bench_policy_decide(&p, &in), 0);
	ck_assert(p.precopy.max_rounds == 5 && p.precopy.stop_dirty_pages == 256);
}
END_TEST

static const struct { const char *s; uint64_t v; } sizes[] = {
	{ "4096", 4096 }, { "64M", 64 * MiB }, { "64MiB", 64 * MiB }, { "64MB", 64 * MiB },
	{ "1.5G", 1536 * MiB }, { "2k", 2048 }, { "1T", 1024 * 1024 * MiB }, { "0", 0 },
};

static const struct { const char *s; double v; } rates[] = {
	{ "100mbit", 12.5e6 }, { "1gbit", 125e6 }, { "12MB/s", 12e6 },
	{ "12MiB/s", 12.0 * MiB }, { "4000000", 4e6 }, { "12500kbps", 12.5e6 },
	{ "8b/s", 1 }, { "1kibit", 128 }, { "0.5GB/s", 5e8 },
};

static const char *const bad_sizes[] = { "", "M", "-1", "1x", "1MM", "0x10", "inf", "1 M",
					 "99999999999T" };
static const char *const bad_rates[] = { "", "mbit", "-5mbit", "1qbit", "1mbits/s", "nan",
					 "1e400", "1M" };

START_TEST(parsers)
{
	uint64_t u;
	double d;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		ck_assert_msg(!bench_parse_size(sizes[i].s, &u), "'%s' rejected", sizes[i].s);
		ck_assert_msg(u == sizes[i].v, "'%s' -> %llu", sizes[i].s, (unsigned long long)u);
	}
	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		ck_assert_msg(!bench_parse_rate(rates[i].s, &d), "'%s' rejected", rates[i].s);
		ck_assert_msg(fabs(d - rates[i].v) < 1e-6 * rates[i].v, "'%s' -> %g", rates[i].s, d);
	}
	for (size_t i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++)
		ck_assert_msg(bench_parse_size(bad_sizes[i], &u) == -EINVAL, "'%s' accepted",
			      bad_sizes[i]);
	for (size_t i = 0; i < sizeof(bad_rates) / sizeof(bad_rates[0]); i++)
		ck_assert_msg(bench_parse_rate(bad_rates[i], &d) == -EINVAL, "'%s' accepted",
			      bad_rates[i]);
	ck_assert_int_eq(bench_parse_size(NULL, &u), -EINVAL);
}
END_TEST

START_TEST(mode_names)
{
	enum bench_mode m;

	for (int i = 0; i < BENCH_MODE_NR; i++) {
		ck_assert_int_eq(bench_mode_parse(bench_mode_name(i), &m), 0);
		ck_assert_int_eq(m, i);
	}
	ck_assert_int_eq(bench_mode_parse("auto", &m), -EINVAL);
	ck_assert_str_eq(bench_mode_name(BENCH_MODE_NR), "?");
}
END_TEST

Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *model = tcase_create("model");
	TCase *cli = tcase_create("cli");

	tcase_add_test(model, more_dirty_fewer_precopy_wins);
	tcase_add_test(model, idle_task_needs_no_remote_faults);
	tcase_add_test(model, dirty_above_bandwidth_goes_post_copy);
	tcase_add_test(model, freeze_budget_respected);
	tcase_add_test(model, rounds_follow_clark);
	tcase_add_test(model, bad_inputs);
	tcase_add_test(cli, json_shape);
	tcase_add_test(cli, parsers);
	tcase_add_test(cli, mode_names);
	tcase_set_timeout(model, 10);
	tcase_set_timeout(cli, 10);
	suite_add_tcase(s, model);
	suite_add_tcase(s, cli);
	return s;
}
