/* SPDX-License-Identifier: MIT */
/* libFuzzer target: hotness map files (`lazy-pages --hotness`). Every range
 * accepted must be page aligned, non-empty and have a positive pid. */
#include <stdint.h>
#include <stdlib.h>

#include "uffd/hotness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct uffd_hotmap m;

	if (uffd_hotmap_parse((const char *)data, size, &m))
		return 0;
	for (size_t i = 0; i < m.n; i++)
		if (m.v[i].vpid <= 0 || m.v[i].start >= m.v[i].end || (m.v[i].start | m.v[i].end) % 4096)
			abort();
	uffd_hotmap_free(&m);
	return 0;
}
