/* SPDX-License-Identifier: MIT */
/* libFuzzer target: a byte stream as a page-server client would send it.
 * Detects the header layout as the server does, then decodes header after
 * header; every decoded header must encode back to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transport/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum xport_proto_ver ver;
	struct xport_msg m;
	uint8_t again[XPORT_HDR_MAX];

	if (xport_detect_version(data, size, &ver))
		ver = size && (data[0] & 1) ? XPORT_PROTO_41 : XPORT_PROTO_42;
	size_t hs = xport_hdr_size(ver);
	while (xport_hdr_decode(ver, data, size, &m) == 0) {
		int n = xport_hdr_encode(ver, &m, again, sizeof(again));
		if (n != (int)hs)
			abort();
		/* 4.2's padding is not kept: compare everything else. */
		if (memcmp(again, data, 4) || memcmp(again + 8, data + 8, hs - 8) ||
		    (ver == XPORT_PROTO_41 && memcmp(again + 4, data + 4, 4)))
			abort();
		(void)xport_cmd_name(m.cmd);
		data += hs;
		size -= hs;
	}
	return 0;
}
