/* SPDX-License-Identifier: MIT */
/* `faultline policy`: flags, the model (bench/policy/policy.c), a table or JSON. */
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/policy/policy.h"
#include "cli/cli.h"

static const char usage[] =
"NAME\n"
"    faultline policy - choose the migration mode (stop-and-copy, pre-copy, hybrid,\n"
"    post-copy) and the pre-copy stop rules from measurements\n"
"\n"
"SYNOPSIS\n"
"    faultline policy --mem SIZE --dirty-rate RATE --bandwidth RATE\n"
"                     [--hot-set SIZE] [--latency US] [--freeze-budget MS]\n"
"                     [--state SIZE] [--const NAME=VALUE ...] [--json]\n"
"                     [--rounds N --stop-dirty PAGES --min-shrink F]\n"
"\n"
"DESCRIPTION\n"
"    Predicts, for each mode `faultline migrate` runs, the freeze time (the process\n"
"    is stopped) and the total time (until the destination has every page), and for\n"
"    post-copy and hybrid the stall (remote faults on the hot set times the\n"
"    latency) and the bytes at risk (on the source only, lost if the link fails).\n"
"    Then it chooses: among the modes within 10% of the best freeze and within 10%\n"
"    of the best total, the safest (stop-and-copy, pre-copy, hybrid, post-copy, in\n"
"    that order); if none is within both, the least freeze/best_freeze +\n"
"    total/best_total.  Modes whose freeze exceeds the budget are left out while\n"
"    at least one fits.  `faultline migrate --mode auto` runs the same decision.\n"
"    The model, its equations and its sources (Clark et al. NSDI'05, Hines and\n"
"    Gopalan VEE'09, libvirt's and KubeVirt's switch rules) are in docs/policy.md.\n"
"    Pure arithmetic: nothing is measured or touched.\n"
"\n"
"OPTIONS\n"
"    --mem SIZE            present anonymous memory of the process tree (required)\n"
"    --dirty-rate RATE     distinct bytes written per second, the dirty_MiB/s of\n"
"                          `faultline probe hotness` (required; 0 for an idle task)\n"
"    --bandwidth RATE      link rate (required): the lab's tc rate, or measured\n"
"    --hot-set SIZE        write hot set: the probe's wss (pages written over the\n"
"                          window); pre-copy rounds cannot shrink below it.\n"
"                          Default: unknown, taken as --mem when the rate is not 0\n"
"    --latency US          RTT / remote fault latency in microseconds, e.g. the p50\n"
"                          of `faultline probe fault-latency` (default 100)\n"
"    --freeze-budget MS    longest acceptable freeze in milliseconds (default 0:\n"
"                          no budget)\n"
"    --state SIZE          the non-memory images (default 170K)\n"
"    --const NAME=VALUE    override a platform constant (repeatable; defaults\n"
"                          fitted to `faultline migrate` here, docs/policy.md):\n"
"                          dump-fixed-ms, dump-ms-per-mib, lazy-dump-ms,\n"
"                          images-ms, link-efficiency (0..1, of --bandwidth),\n"
"                          restore-fixed-ms, restore-ms-per-mib, merge-ms-per-mib,\n"
"                          lazy-merge-ms-per-mib, final-ms, lazy-restore-ms,\n"
"                          postcopy-ms, install-ms-per-mib, precopy-ms, round-ms,\n"
"                          inflight-kib, page-size\n"
"    --rounds N, --stop-dirty PAGES, --min-shrink F\n"
"                          predict pre-copy and hybrid with these stop rules (as\n"
"                          given to `faultline precopy send`) instead of choosing\n"
"                          them: a what-if, used to check the model against runs\n"
"                          with fixed rules.  All three or none.\n"
"    -j, --json            one JSON object instead of the table\n"
"    -h, --help            this text\n"
"\n"
"    SIZE: a number with an optional K, M, G or T suffix in powers of 1024,\n"
"    optionally followed by B or iB (64M, 1.5GiB, 4096).  RATE: a number, an\n"
"    optional k, m, g, t prefix (powers of 1000; ki, mi, gi: of 1024) and a unit:\n"
"    bit or b/s for bits per second, bps or B/s for bytes per second (tc's\n"
"    spelling), none for bytes per second: 100mbit, 1gbit, 12MB/s, 12MiB/s.\n"
"\n"
"OUTPUT\n"
"    A table of the predictions per mode, then the choice, the pre-copy stop rules\n"
"    (max_rounds, stop_dirty_pages, min_shrink: `faultline precopy send` stops at\n"
"    the first that holds) and the reason.  With --json:\n"
"        {\"mode\":..,\"reason\":..,\"precopy\":{\"max_rounds\":..,\"stop_dirty_pages\":..,\n"
"         \"min_shrink\":..},\"predicted\":{\"<mode>\":{\"freeze_s\":..,\"total_s\":..,\n"
"         \"stall_s\":..,\"bytes_at_risk\":..,\"rounds\":..},...},\"budget_met\":..}\n"
"\n"
"EXIT STATUS\n"
"    0 when a mode was chosen (even if no mode meets the budget: budget_met says\n"
"    so), 2 on a usage error or an impossible input (zero memory or bandwidth).\n"
"\n"
"EXAMPLES\n"
"    faultline probe hotness --pid PID --duration 5       # dirty_MiB/s, wss\n"
"    faultline policy --mem 1G --dirty-rate 40MB/s --hot-set 64M \\\n"
"                     --bandwidth 1gbit --latency 90 --freeze-budget 300\n";

struct pconst {
	const char *name;
	size_t off;
	double unit;
};

#define PC(name, field, unit) { name, offsetof(struct bench_policy_platform, field), unit }
#define MSMIB (1e-3 / (1 << 20))

static const struct pconst consts[] = {
	PC("dump-fixed-ms", dump_fixed_s, 1e-3),
	PC("dump-ms-per-mib", dump_s_per_byte, MSMIB),
	PC("lazy-dump-ms", lazy_dump_fixed_s, 1e-3),
	PC("images-ms", xfer_fixed_s, 1e-3),
	PC("link-efficiency", link_efficiency, 1),
	PC("restore-fixed-ms", restore_fixed_s, 1e-3),
	PC("restore-ms-per-mib", restore_s_per_byte, MSMIB),
	PC("merge-ms-per-mib", merge_s_per_byte, MSMIB),
	PC("lazy-merge-ms-per-mib", lazy_merge_s_per_byte, MSMIB),
	PC("final-ms", final_fixed_s, 1e-3),
	PC("lazy-restore-ms", lazy_restore_fixed_s, 1e-3),
	PC("postcopy-ms", postcopy_fixed_s, 1e-3),
	PC("install-ms-per-mib", install_s_per_byte, MSMIB),
	PC("precopy-ms", precopy_fixed_s, 1e-3),
	PC("round-ms", round_fixed_s, 1e-3),
	PC("inflight-kib", inflight_bytes, 1024),
	PC("page-size", page_size, 1),
};

static int number_arg(const char *flag, const char *arg, double *out)
{
	char *end;

	*out = strtod(arg, &end);
	if (end == arg || *end || !(*out >= 0 && *out <= 1e12)) {
		fprintf(stderr, "policy: %s: '%s' is not a non-negative number\n", flag, arg);
		return -EINVAL;
	}
	return 0;
}

static int set_const(struct bench_policy_in *in, const char *arg)
{
	const char *eq = strchr(arg, '=');
	double v;

	for (size_t i = 0; eq && i < sizeof(consts) / sizeof(consts[0]); i++) {
		if (strlen(consts[i].name) != (size_t)(eq - arg) ||
		    strncmp(arg, consts[i].name, eq - arg))
			continue;
		if (number_arg("--const", eq + 1, &v))
			return -EINVAL;
		*(double *)((char *)&in->plat + consts[i].off) = v * consts[i].unit;
		return 0;
	}
	fprintf(stderr, "policy: --const: '%s' is not NAME=VALUE with a known NAME "
		"(see --help)\n", arg);
	return -EINVAL;
}

static int size_arg(const char *flag, const char *arg, uint64_t *out)
{
	if (!bench_parse_size(arg, out))
		return 0;
	fprintf(stderr, "policy: %s: '%s' is not a size (64M, 1.5G, 4096)\n", flag, arg);
	return -EINVAL;
}

static int rate_arg(const char *flag, const char *arg, double *out)
{
	if (!bench_parse_rate(arg, out))
		return 0;
	fprintf(stderr, "policy: %s: '%s' is not a rate (100mbit, 1gbit, 12MB/s)\n", flag, arg);
	return -EINVAL;
}

enum { OPT_MEM = 0x100, OPT_DIRTY, OPT_HOT, OPT_BW, OPT_LAT, OPT_BUDGET, OPT_STATE, OPT_CONST,
       OPT_ROUNDS, OPT_STOP, OPT_SHRINK };

/* --rounds, --stop-dirty, --min-shrink: the what-if stop rules. */
static int rule_arg(struct bench_policy_in *in, int opt, const char *arg, unsigned *seen)
{
	double v;

	if (number_arg(opt == OPT_ROUNDS ? "--rounds" : opt == OPT_STOP ? "--stop-dirty" :
		       "--min-shrink", arg, &v))
		return -EINVAL;
	if (opt == OPT_ROUNDS && (v < 1 || v > 1000 || v != (unsigned)v)) {
		fprintf(stderr, "policy: --rounds: '%s' is not a count from 1 to 1000\n", arg);
		return -EINVAL;
	}
	if (opt == OPT_SHRINK && v < 1) {
		fprintf(stderr, "policy: --min-shrink: '%s' is below 1\n", arg);
		return -EINVAL;
	}
	if (opt == OPT_ROUNDS)
		in->rules.max_rounds = (unsigned)v;
	else if (opt == OPT_STOP)
		in->rules.stop_dirty_pages = (uint64_t)v;
	else
		in->rules.min_shrink = v;
	*seen |= opt == OPT_ROUNDS ? 8 : opt == OPT_STOP ? 16 : 32;
	return 0;
}

static int apply(struct bench_policy_in *in, int opt, const char *arg, unsigned *seen)
{
	double v;

	switch (opt) {
	case OPT_MEM: *seen |= 1; return size_arg("--mem", arg, &in->mem_bytes);
	case OPT_DIRTY: *seen |= 2; return rate_arg("--dirty-rate", arg, &in->dirty_rate);
	case OPT_BW: *seen |= 4; return rate_arg("--bandwidth", arg, &in->bandwidth);
	case OPT_HOT: return size_arg("--hot-set", arg, &in->hot_bytes);
	case OPT_STATE: return size_arg("--state", arg, &in->state_bytes);
	case OPT_CONST: return set_const(in, arg);
	case OPT_ROUNDS: case OPT_STOP: case OPT_SHRINK: return rule_arg(in, opt, arg, seen);
	case OPT_LAT:
		if (number_arg("--latency", arg, &v))
			return -EINVAL;
		in->latency_s = v * 1e-6;
		return 0;
	case OPT_BUDGET:
		if (number_arg("--freeze-budget", arg, &v))
			return -EINVAL;
		in->freeze_budget_s = v * 1e-3;
		return 0;
	default:
		fprintf(stderr, "Try 'faultline policy --help'.\n");
		return -EINVAL;
	}
}

static int parse(int argc, char **argv, struct bench_policy_in *in, int *json)
{
	static const struct option longopts[] = {
		{ "mem", required_argument, NULL, OPT_MEM },
		{ "dirty-rate", required_argument, NULL, OPT_DIRTY },
		{ "hot-set", required_argument, NULL, OPT_HOT },
		{ "bandwidth", required_argument, NULL, OPT_BW },
		{ "latency", required_argument, NULL, OPT_LAT },
		{ "freeze-budget", required_argument, NULL, OPT_BUDGET },
		{ "state", required_argument, NULL, OPT_STATE },
		{ "const", required_argument, NULL, OPT_CONST },
		{ "rounds", required_argument, NULL, OPT_ROUNDS },
		{ "stop-dirty", required_argument, NULL, OPT_STOP },
		{ "min-shrink", required_argument, NULL, OPT_SHRINK },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	unsigned seen = 0;
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "jh", longopts, NULL)) != -1) {
		if (opt == 'h') {
			fputs(usage, stdout);
			exit(0);
		}
		if (opt == 'j')
			*json = 1;
		else if (apply(in, opt, optarg, &seen))
			return -EINVAL;
	}
	if (optind < argc) {
		fprintf(stderr, "policy: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if ((seen & 56) && (seen & 56) != 56) {
		fprintf(stderr, "policy: --rounds, --stop-dirty and --min-shrink go together\n");
		return -EINVAL;
	}
	if ((seen & 7) != 7) {
		fprintf(stderr, "policy: --mem, --dirty-rate and --bandwidth are required\n"
			"Try 'faultline policy --help'.\n");
		return -EINVAL;
	}
	return 0;
}

static void print_table(const struct bench_policy *p)
{
	printf("%-14s %12s %12s %10s %14s %7s\n", "mode", "freeze_ms", "total_ms", "stall_ms",
	       "at_risk_MiB", "rounds");
	for (int m = 0; m < BENCH_MODE_NR; m++) {
		const struct bench_policy_pred *r = &p->pred[m];

		printf("%-14s %12.1f %12.1f %10.1f %14.1f %7u%s\n", bench_mode_name(m),
		       r->freeze_s * 1e3, r->total_s * 1e3, r->stall_s * 1e3,
		       r->bytes_at_risk / 1048576.0, r->rounds, (int)p->mode == m ? "  <- chosen" : "");
	}
	printf("\nchoice: %s\n", bench_mode_name(p->mode));
	printf("pre-copy stop rules: max_rounds %u, stop_dirty_pages %llu, min_shrink %g\n",
	       p->precopy.max_rounds, (unsigned long long)p->precopy.stop_dirty_pages,
	       p->precopy.min_shrink);
	printf("reason: %s\n", p->reason);
}

int bench_policy_main(int argc, char **argv)
{
	struct bench_policy_in in;
	struct bench_policy p;
	char buf[2048];
	int json = 0;

	bench_policy_defaults(&in);
	in.latency_s = 100e-6;
	if (parse(argc, argv, &in, &json))
		return 2;
	if (bench_policy_decide(&p, &in)) {
		fprintf(stderr, "policy: %s\n", p.reason);
		return 2;
	}
	if (!json) {
		print_table(&p);
		return 0;
	}
	if (bench_policy_json(&p, buf, sizeof(buf)) < 0) {
		fprintf(stderr, "policy: JSON output longer than %zu bytes\n", sizeof(buf));
		return 1;
	}
	puts(buf);
	return 0;
}
