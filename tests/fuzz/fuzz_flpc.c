/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the pre-copy stream parser (images/flpc.c).  The input is
 * fed twice, whole and in pieces whose sizes come from the input itself; both
 * runs must agree (the parser is a pure function of the bytes), every PAGES
 * record must be page aligned and get exactly nr_pages * 4096 bytes of data,
 * and an error must come with a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "images/precopy.h"

struct fz_sink {
	uint64_t want, got, pages, inval, calls;
};

static int fz_pages(void *arg, uint32_t pid, uint64_t vaddr, uint64_t nr)
{
	struct fz_sink *s = arg;

	if (!pid || vaddr % 4096 || !nr || s->want != s->got)
		abort();
	s->want += nr * 4096;
	s->pages += nr;
	s->calls++;
	return 0;
}

static int fz_data(void *arg, const uint8_t *buf, size_t len)
{
	struct fz_sink *s = arg;

	if (!buf || !len || s->got + len > s->want)
		abort();
	s->got += len;
	return 0;
}

static int fz_inval(void *arg, uint32_t pid, uint64_t vaddr, uint64_t nr)
{
	struct fz_sink *s = arg;

	if (!pid || vaddr % 4096 || !nr)
		abort();
	s->inval += nr;
	s->calls++;
	return 0;
}

static int fz_run(const uint8_t *data, size_t size, size_t step, struct fz_sink *s)
{
	const struct img_flpc_sink sink = { s, fz_pages, fz_data, fz_inval };
	struct img_flpc p;
	int err = 0;

	memset(s, 0, sizeof(*s));
	img_flpc_init(&p);
	for (size_t off = 0; off < size && !err; off += step) {
		size_t n = size - off < step ? size - off : step;

		err = img_flpc_feed(&p, data + off, n, &sink);
	}
	if (!err)
		err = img_flpc_finish(&p);
	if (err && !p.err[0])
		abort();
	if (!err && s->got != s->want)
		abort();
	return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_sink whole, split;
	size_t step = size ? (size_t)data[size - 1] % 37 + 1 : 1;
	int a = fz_run(data, size, size ? size : 1, &whole);
	int b = fz_run(data, size, step, &split);

	if (a != b || (!a && (whole.pages != split.pages || whole.inval != split.inval)))
		abort();
	return 0;
}
