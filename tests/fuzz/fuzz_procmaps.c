/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the /proc parsers of `probe hotness` (maps lines, the
 * NSpid and Tgid fields of status).  A parsed mapping is never empty. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#ifndef FL_NO_BPF
#include "bpf/procfs.h"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
#ifndef FL_NO_BPF
	struct probe_vma v;

	if (!probe_maps_parse_line((const char *)data, size, &v)) {
		if (v.start >= v.end || v.name[sizeof(v.name) - 1])
			abort();
		(void)probe_vma_is_anon_rw(&v);
	}
	long a = fl_status_field((const char *)data, size, "NSpid:");
	long b = fl_status_field((const char *)data, size, "Tgid:");

	if ((a < 0 && a != -EINVAL) || (b < 0 && b != -EINVAL))
		abort();
#else
	(void)data, (void)size;
#endif
	return 0;
}
