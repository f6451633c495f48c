/* SPDX-License-Identifier: MIT */
/* Encoding and decoding of CRIU's page-server headers (see proto.h). */
#include "transport/proto.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static void put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

size_t xport_hdr_size(enum xport_proto_ver ver)
{
	switch (ver) {
	case XPORT_PROTO_41:
		return XPORT_HDR41_SIZE;
	case XPORT_PROTO_42:
		return XPORT_HDR42_SIZE;
	default:
		return 0;
	}
}

int xport_hdr_encode(enum xport_proto_ver ver, const struct xport_msg *msg, uint8_t *buf,
		     size_t len)
{
	size_t size = xport_hdr_size(ver);
	uint32_t cmd = (uint32_t)msg->cmd | ((uint32_t)msg->flags << 16);

	if (!size || len < size)
		return -EINVAL;
	put32(buf, cmd);
	if (ver == XPORT_PROTO_41) {
		if (msg->nr_pages > UINT32_MAX)
			return -ERANGE;
		put32(buf + 4, (uint32_t)msg->nr_pages);
		put64(buf + 8, msg->vaddr);
		put64(buf + 16, msg->dst_id);
	} else {
		put32(buf + 4, 0);
		put64(buf + 8, msg->nr_pages);
		put64(buf + 16, msg->vaddr);
		put64(buf + 24, msg->dst_id);
	}
	return (int)size;
}

int xport_hdr_decode(enum xport_proto_ver ver, const uint8_t *buf, size_t len,
		     struct xport_msg *msg)
{
	size_t size = xport_hdr_size(ver);
	uint32_t cmd;

	if (!size)
		return -EINVAL;
	if (len < size)
		return -EAGAIN;
	cmd = get32(buf);
	msg->cmd = cmd & 0xffff;
	msg->flags = cmd >> 16;
	if (ver == XPORT_PROTO_41) {
		msg->nr_pages = get32(buf + 4);
		msg->vaddr = get64(buf + 8);
		msg->dst_id = get64(buf + 16);
	} else {
		msg->nr_pages = get64(buf + 8);
		msg->vaddr = get64(buf + 16);
		msg->dst_id = get64(buf + 24);
	}
	return 0;
}

static int plausible_get(uint64_t nr, uint64_t vaddr)
{
	return nr != 0 && nr <= UINT32_MAX && (vaddr & (XPORT_PAGE_SIZE - 1)) == 0;
}

int xport_detect_version(const uint8_t *buf, size_t len, enum xport_proto_ver *ver)
{
	if (len < XPORT_HDR41_SIZE)
		return -EAGAIN;

	uint32_t cmd = get32(buf) & 0xffff, word1 = get32(buf + 4);
	uint64_t q8 = get64(buf + 8), q16 = get64(buf + 16);

	if (cmd == XPORT_CMD_CLOSE || cmd == XPORT_CMD_FORCE_CLOSE) {
		/* All-zero fields in both layouts; the reply is the same 4 bytes. */
		*ver = word1 ? XPORT_PROTO_41 : XPORT_PROTO_42;
		return 0;
	}
	if (cmd != XPORT_CMD_GET)
		return -EPROTO;
	/* 4.1: word1 = nr_pages (never 0 in a GET), q8 = page-aligned vaddr.
	 * 4.2: word1 = padding (zero in practice), q8 = nr_pages, q16 = vaddr. */
	int is41 = plausible_get(word1, q8) && q16 <= INT32_MAX;
	int is42 = plausible_get(q8, q16);
	if (is41 && (!is42 || word1 != 0)) {
		*ver = XPORT_PROTO_41;
		return 0;
	}
	if (is42) {
		*ver = XPORT_PROTO_42;
		return 0;
	}
	return -EPROTO;
}

const char *xport_cmd_name(unsigned cmd)
{
	switch (cmd) {
	case XPORT_CMD_ADD: return "ADD";
	case XPORT_CMD_HOLE: return "HOLE";
	case XPORT_CMD_OPEN: return "OPEN";
	case XPORT_CMD_OPEN2: return "OPEN2";
	case XPORT_CMD_PARENT: return "PARENT";
	case XPORT_CMD_ADD_F: return "ADD_F";
	case XPORT_CMD_GET: return "GET";
	case XPORT_CMD_CLOSE: return "CLOSE";
	case XPORT_CMD_FORCE_CLOSE: return "FORCE_CLOSE";
	default: return NULL;
	}
}
