/* SPDX-License-Identifier: MIT */
/* The policy as JSON: `faultline policy --json` and the "policy" object of
 * `faultline migrate --mode auto` results. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "bench/policy/policy.h"

struct out {
	char *buf;
	size_t len, n;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(o->n < o->len ? o->buf + o->n : NULL, o->n < o->len ? o->len - o->n : 0,
		      fmt, ap);
	va_end(ap);
	if (k > 0)
		o->n += (size_t)k;
}

/* The reason is our own text, but escape it anyway: quotes, backslashes, controls. */
static void put_string(struct out *o, const char *s)
{
	put(o, "\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			put(o, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			put(o, "\\u%04x", (unsigned char)*s);
		else
			put(o, "%c", *s);
	}
	put(o, "\"");
}

int bench_policy_json(const struct bench_policy *p, char *buf, size_t len)
{
	struct out o = { .buf = buf, .len = len };

	put(&o, "{\"mode\":\"%s\",\"reason\":", bench_mode_name(p->mode));
	put_string(&o, p->reason);
	put(&o, ",\"precopy\":{\"max_rounds\":%u,\"stop_dirty_pages\":%llu,\"min_shrink\":%g}",
	    p->precopy.max_rounds, (unsigned long long)p->precopy.stop_dirty_pages,
	    p->precopy.min_shrink);
	put(&o, ",\"predicted\":{");
	for (int m = 0; m < BENCH_MODE_NR; m++) {
		const struct bench_policy_pred *r = &p->pred[m];

		put(&o, "%s\"%s\":{\"freeze_s\":%.6f,\"total_s\":%.6f,\"stall_s\":%.6f,"
		    "\"bytes_at_risk\":%llu,\"rounds\":%u}", m ? "," : "", bench_mode_name(m),
		    r->freeze_s, r->total_s, r->stall_s, (unsigned long long)r->bytes_at_risk,
		    r->rounds);
	}
	put(&o, "},\"budget_met\":%s}", p->budget_met ? "true" : "false");
	if (o.n >= len)
		return -ENOSPC;
	return (int)o.n;
}
