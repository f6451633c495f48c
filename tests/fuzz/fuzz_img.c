/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the CRIU image parsers and the pagemap range lookup.
 * Every parser sees every input (each checks its own magic first); a parsed
 * pagemap is checked against its documented invariants and probed with
 * lookups derived from its own entries. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "images/img.h"

#define CHECK(cond)                       \
	do {                              \
		if (!(cond))              \
			__builtin_trap(); \
	} while (0)

static void check_err(int ret, const struct img_err *err)
{
	CHECK(ret <= 0);
	if (ret)
		CHECK(memchr(err->msg, '\0', sizeof(err->msg)) && err->msg[0]);
}

static void probe(const struct img_pagemap *pm, uint64_t vaddr, uint64_t nr)
{
	uint64_t off = 0, run = 0;
	int ret = img_pagemap_lookup(pm, vaddr, nr, &off, &run);

	CHECK(ret == 0 || ret == -ENOENT || ret == -EACCES || ret == -ENODATA ||
	      ret == -ERANGE || ret == -EINVAL);
	if (ret == 0)
		CHECK(run >= 1 && run <= nr && off + run * IMG_PAGE_SIZE <= pm->present_bytes);
}

static void check_pagemap(const struct img_pagemap *pm)
{
	uint64_t lazy = 0, present = 0;

	for (size_t i = 0; i < pm->nr_ents; i++) {
		const struct img_pm_entry *e = &pm->ents[i];

		CHECK(e->nr_pages && e->vaddr % IMG_PAGE_SIZE == 0);
		if (i)
			CHECK(e->vaddr >= pm->ents[i - 1].vaddr +
						  pm->ents[i - 1].nr_pages * IMG_PAGE_SIZE);
		if (e->flags & IMG_PE_LAZY)
			lazy += e->nr_pages;
		if (e->flags & IMG_PE_PRESENT) {
			CHECK(e->file_off == present);
			present += e->nr_pages * IMG_PAGE_SIZE;
		}
		probe(pm, e->vaddr, 1);
		probe(pm, e->vaddr, e->nr_pages);
		probe(pm, e->vaddr, e->nr_pages + 1);
		probe(pm, e->vaddr + (e->nr_pages - 1) * IMG_PAGE_SIZE, 2);
	}
	CHECK(lazy == pm->nr_lazy_pages && present == pm->present_bytes);
	probe(pm, 0, 1);
	probe(pm, UINT64_MAX & ~(IMG_PAGE_SIZE - 1), UINT64_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct img_err err;
	struct img_inventory inv;
	struct img_pstree ps;
	struct img_mm mm;
	struct img_pagemap pm;
	int ret;

	ret = img_parse_inventory(data, size, "inventory.img", &inv, &err);
	check_err(ret, &err);
	ret = img_parse_pstree(data, size, "pstree.img", &ps, &err);
	check_err(ret, &err);
	if (!ret)
		img_pstree_free(&ps);
	ret = img_parse_mm(data, size, "mm-1.img", &mm, &err);
	check_err(ret, &err);
	if (!ret)
		img_mm_free(&mm);
	ret = img_parse_pagemap(data, size, "pagemap-1.img", 1, &pm, &err);
	check_err(ret, &err);
	if (!ret) {
		check_pagemap(&pm);
		img_pagemap_free(&pm);
	}
	return 0;
}
