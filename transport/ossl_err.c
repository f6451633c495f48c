/* SPDX-License-Identifier: MIT */
#include "transport/ossl_err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

/* Text of one error code.  ERR_reason_error_string() gives NULL for system
 * errors (OpenSSL keeps no buffer for strerror), so those are formatted here. */
static void reason_text(unsigned long e, char *out, size_t len)
{
	const char *r;

	if (ERR_SYSTEM_ERROR(e)) {
		r = strerror_r(ERR_GET_REASON(e), out, len); /* GNU: may return a static string */
		if (r != out)
			snprintf(out, len, "%s", r);
		return;
	}
	r = ERR_reason_error_string(e);
	if (r)
		snprintf(out, len, "%s", r);
	else
		ERR_error_string_n(e, out, len);
}

/* "PEM lib", "system lib": a layer saying that the layer below failed. */
static int is_wrapper(unsigned long e)
{
	return !ERR_SYSTEM_ERROR(e) && ERR_COMMON_ERROR(e) &&
	       (ERR_GET_REASON(e) & ~(ERR_RFLAGS_MASK << ERR_RFLAGS_OFFSET)) < 256;
}

static int errno_of(unsigned long e, int dflt)
{
	if (ERR_SYSTEM_ERROR(e))
		return ERR_GET_REASON(e) ? -ERR_GET_REASON(e) : dflt;
	if (ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE)
		return -ENOMEM;
	return dflt;
}

int xport_ossl_errq(char *buf, size_t len, int dflt)
{
	unsigned long e, wrapper = 0;
	int ret = dflt, first = 1;
	size_t used;
	char r[256];

	if (len)
		buf[0] = '\0';
	while ((e = ERR_get_error()) != 0) {
		if (first)
			ret = errno_of(e, dflt);
		first = 0;
		if (is_wrapper(e)) {
			wrapper = e;
			continue;
		}
		reason_text(e, r, sizeof(r));
		/* OpenSSL often stacks the same reason at several layers. */
		if (!len || strcasestr(buf, r))
			continue;
		used = strlen(buf);
		snprintf(buf + used, len - used, "%s%s", used ? ": " : "", r);
	}
	if (len && !buf[0] && wrapper)
		reason_text(wrapper, buf, len);
	return ret;
}
