/* SPDX-License-Identifier: MIT */
/* Sizes ("64M", "1.5GiB") and rates ("100mbit", "12MB/s") of `faultline policy`. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bench/policy/policy.h"

/* A plain non-negative decimal number (no sign, no "inf"/"nan"/hex), *END after it. */
static int number(const char *s, double *v, const char **end)
{
	char *e;

	if (!s || !(isdigit((unsigned char)*s) || (*s == '.' && isdigit((unsigned char)s[1]))))
		return -EINVAL;
	if (strchr(s, 'x') || strchr(s, 'X'))
		return -EINVAL;
	errno = 0;
	*v = strtod(s, &e);
	if (errno || e == s || !(*v >= 0 && *v <= 1e300))
		return -EINVAL;
	*end = e;
	return 0;
}

/* k, m, g, t (either case) -> 1, 2, 3, 4; anything else 0. */
static int prefix_power(char c)
{
	const char *p = strchr("kmgt", tolower((unsigned char)c));

	return c && p ? (int)(p - "kmgt") + 1 : 0;
}

static double scale(int power, double base)
{
	double m = 1;

	while (power-- > 0)
		m *= base;
	return m;
}

int bench_parse_size(const char *s, uint64_t *out)
{
	const char *e;
	double v;
	int pw;

	if (number(s, &v, &e))
		return -EINVAL;
	pw = prefix_power(*e);
	if (pw) {
		e++;
		if (!strcmp(e, "iB") || !strcmp(e, "ib") || !strcmp(e, "B") || !strcmp(e, "b"))
			e += strlen(e);
	} else if (!strcmp(e, "B") || !strcmp(e, "b")) {
		e++;
	}
	if (*e)
		return -EINVAL;
	v *= scale(pw, 1024);
	if (v >= 18446744073709551615.0)
		return -EINVAL;
	*out = (uint64_t)v;
	return 0;
}

/* The unit after the prefix: 8 for bits, 1 for bytes, 0 if unknown. */
static double unit_bytes(const char *u)
{
	static const struct {
		const char *name;
		double bytes;
	} units[] = {
		{ "", 1 }, { "bit", 0.125 }, { "bits", 0.125 }, { "b/s", 0.125 }, { "bit/s", 0.125 },
		{ "bps", 1 }, { "B/s", 1 }, { "Bps", 1 },
	};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (!strcmp(u, units[i].name))
			return units[i].bytes;
	return 0;
}

int bench_parse_rate(const char *s, double *out)
{
	const char *e;
	double v, base = 1000, per;
	int pw;

	if (number(s, &v, &e))
		return -EINVAL;
	pw = prefix_power(*e);
	if (pw) {
		e++;
		if (*e == 'i') {
			base = 1024;
			e++;
		}
	}
	per = unit_bytes(e);
	/* "1M" alone: bits or bytes?  A prefix needs its unit. */
	if (!per || (pw && !*e))
		return -EINVAL;
	*out = v * scale(pw, base) * per;
	return 0;
}
