/* SPDX-License-Identifier: MIT */
/* The FLPC v1 stream parser: a pure, incremental state machine.  It checks
 * everything that can be checked without the images: magic, version, record
 * types, page-aligned addresses, sane lengths, ROUND and END totals, and
 * that nothing follows END.  Errors name the stream byte offset. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "images/frame.h"
#include "images/precopy.h"

/* User addresses of x86-64 with 5-level paging stay below 2^57. */
#define ADDR_LIMIT (1ULL << 57)

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static int fail(struct img_flpc *p, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct img_flpc *p, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->err, sizeof(p->err), fmt, ap);
	va_end(ap);
	return ret;
}

void img_flpc_init(struct img_flpc *p)
{
	*p = (struct img_flpc){ 0 };
}

static int check_header(struct img_flpc *p)
{
	uint32_t magic = le32(p->hdr), ver = le32(p->hdr + 4);

	if (magic != IMG_FLPC_MAGIC)
		return fail(p, -EBADMSG, "bad magic 0x%08x at offset 0 (want \"FLPC\")", magic);
	if (ver != IMG_FLPC_VERSION)
		return fail(p, -EPROTO, "unsupported version %u at offset 4 (want %u)", ver,
			    IMG_FLPC_VERSION);
	p->got_magic = 1;
	return 0;
}

static int check_range(struct img_flpc *p, uint32_t pid, uint64_t vaddr, uint64_t nr)
{
	const char *why = NULL;

	if (pid == 0 || pid > INT32_MAX)
		why = "bad pid";
	else if (vaddr % IMG_PAGE_SIZE)
		why = "unaligned address";
	else if (nr == 0 || nr > IMG_FLPC_MAX_RUN)
		why = "bad nr_pages";
	else if (vaddr >= ADDR_LIMIT || nr > (ADDR_LIMIT - vaddr) / IMG_PAGE_SIZE)
		why = "address range beyond user space";
	if (!why)
		return 0;
	return fail(p, -EBADMSG, "record at offset %llu: %s (pid %u vaddr 0x%llx nr_pages %llu)",
		    (unsigned long long)p->rec_off, why, pid, (unsigned long long)vaddr,
		    (unsigned long long)nr);
}

static int on_round(struct img_flpc *p, uint32_t pid, uint64_t round, uint64_t nr)
{
	if (pid != 0 || round != p->rounds || nr != p->round_pages)
		return fail(p, -EPROTO,
			    "ROUND at offset %llu: pid %u round %llu pages %llu, want pid 0 round "
			    "%llu pages %llu", (unsigned long long)p->rec_off, pid,
			    (unsigned long long)round, (unsigned long long)nr,
			    (unsigned long long)p->rounds, (unsigned long long)p->round_pages);
	p->rounds++;
	p->round_pages = 0;
	return 0;
}

static int on_end(struct img_flpc *p, uint64_t rounds, uint64_t nr)
{
	if (rounds != p->rounds || nr != p->pages_sent)
		return fail(p, -EPROTO,
			    "END at offset %llu says %llu rounds and %llu pages; the stream had "
			    "%llu and %llu", (unsigned long long)p->rec_off,
			    (unsigned long long)rounds, (unsigned long long)nr,
			    (unsigned long long)p->rounds, (unsigned long long)p->pages_sent);
	p->ended = 1;
	return 0;
}

static int on_record(struct img_flpc *p, const struct img_flpc_sink *s)
{
	uint32_t type = le32(p->hdr), pid = le32(p->hdr + 4);
	uint64_t vaddr = le64(p->hdr + 8), nr = le64(p->hdr + 16);
	int ret;

	switch (type) {
	case IMG_FLPC_PAGES:
		ret = check_range(p, pid, vaddr, nr);
		if (!ret && s && s->pages)
			ret = s->pages(s->arg, pid, vaddr, nr);
		p->data_left = nr * IMG_PAGE_SIZE;
		p->pages_sent += nr;
		p->round_pages += nr;
		return ret;
	case IMG_FLPC_INVALIDATE:
		ret = check_range(p, pid, vaddr, nr);
		if (!ret && s && s->invalidate)
			ret = s->invalidate(s->arg, pid, vaddr, nr);
		p->invalidated += nr;
		return ret;
	case IMG_FLPC_ROUND:
		return on_round(p, pid, vaddr, nr);
	case IMG_FLPC_END:
		return on_end(p, vaddr, nr);
	default:
		return fail(p, -EBADMSG, "unknown record type %u at offset %llu", type,
			    (unsigned long long)p->rec_off);
	}
}

/* Takes header bytes into p->hdr; returns how many of LEN it used. */
static size_t take_hdr(struct img_flpc *p, const uint8_t *buf, size_t len, size_t want)
{
	size_t n = want - p->hdr_have < len ? want - p->hdr_have : len;

	memcpy(p->hdr + p->hdr_have, buf, n);
	p->hdr_have += n;
	return n;
}

int img_flpc_feed(struct img_flpc *p, const uint8_t *buf, size_t len,
		  const struct img_flpc_sink *sink)
{
	while (len) {
		size_t n;
		int ret = 0;

		if (p->ended)
			return fail(p, -EPROTO, "%zu bytes after END at offset %llu", len,
				    (unsigned long long)p->off);
		if (p->data_left) {
			n = p->data_left < len ? (size_t)p->data_left : len;
			if (sink && sink->data)
				ret = sink->data(sink->arg, buf, n);
			p->data_left -= n;
		} else {
			size_t want = p->got_magic ? IMG_FLPC_REC : IMG_FLPC_HDR;

			if (!p->hdr_have)
				p->rec_off = p->off;
			n = take_hdr(p, buf, len, want);
			if (p->hdr_have == want) {
				p->hdr_have = 0;
				ret = p->got_magic ? on_record(p, sink) : check_header(p);
			}
		}
		p->off += n;
		buf += n;
		len -= n;
		if (ret)
			return ret;
	}
	return 0;
}

int img_flpc_finish(struct img_flpc *p)
{
	if (p->ended)
		return 0;
	if (!p->got_magic)
		return fail(p, -ENODATA, "truncated stream header at offset %llu (%zu of %d bytes)",
			    (unsigned long long)p->off, p->hdr_have, IMG_FLPC_HDR);
	if (p->data_left)
		return fail(p, -ENODATA,
			    "truncated PAGES data at offset %llu (record at offset %llu, %llu bytes "
			    "missing)", (unsigned long long)p->off, (unsigned long long)p->rec_off,
			    (unsigned long long)p->data_left);
	if (p->hdr_have)
		return fail(p, -ENODATA, "truncated record header at offset %llu (%zu of %d bytes)",
			    (unsigned long long)p->rec_off, p->hdr_have, IMG_FLPC_REC);
	return fail(p, -ENODATA, "stream ends at offset %llu without END",
		    (unsigned long long)p->off);
}
