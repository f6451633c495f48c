/* SPDX-License-Identifier: MIT */
/* pagemap-<pid>.img parser: the head, then entries validated into a sorted,
 * non-overlapping array with each PE_PRESENT entry's offset in pages-N.img. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "images/frame.h"
#include "images/img.h"
#include "proto/pagemap.pb-c.h"

#define KNOWN_FLAGS (IMG_PE_PARENT | IMG_PE_LAZY | IMG_PE_PRESENT)

/* Running state while entries are appended. */
struct pm_build {
	struct img_pagemap *pm;
	size_t cap;
	uint64_t next_vaddr; /* end of the previous entry */
	uint64_t file_off;   /* running offset in pages-N.img */
	size_t nr_lazy_nodata;
};

static int parse_head(struct img_frame *f, struct img_pagemap *pm, struct img_err *err)
{
	const uint8_t *msg;
	size_t n;
	FlPagemapHead *h;
	int ret;

	ret = img_frame_next(f, &msg, &n, err);
	if (ret < 0)
		return ret;
	if (ret == IMG_FRAME_EOF)
		return img_errf(err, -ENODATA, "%s: no pagemap_head at offset %zu", f->name,
				f->off);
	h = fl_pagemap_head__unpack(NULL, n, msg);
	if (!h)
		return img_errf(err, -EBADMSG, "%s: corrupt pagemap_head at offset %zu (%zu bytes)",
				f->name, f->msg_off, n);
	ret = 0;
	if (!h->has_pages_id)
		ret = img_errf(err, -EPROTO, "%s: pagemap_head at offset %zu has no pages_id",
			       f->name, f->msg_off);
	pm->pages_id = h->pages_id;
	fl_pagemap_head__free_unpacked(h, NULL);
	return ret;
}

static int grow(struct pm_build *b)
{
	struct img_pm_entry *p;
	size_t cap = b->cap ? b->cap * 2 : 16;

	if (cap > SIZE_MAX / sizeof(*p))
		return -ENOMEM;
	p = realloc(b->pm->ents, cap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	b->pm->ents = p;
	b->cap = cap;
	return 0;
}

/* Decodes one entry message into E (vaddr, nr_pages, flags; no checks). */
static int decode_entry(const struct img_frame *f, const uint8_t *msg, size_t n,
			struct img_pm_entry *e, struct img_err *err)
{
	FlPagemapEntry *pe = fl_pagemap_entry__unpack(NULL, n, msg);
	int ret = 0;

	if (!pe)
		return img_errf(err, -EBADMSG, "%s: corrupt pagemap_entry at offset %zu (%zu bytes)",
				f->name, f->msg_off, n);
	*e = (struct img_pm_entry){ .vaddr = pe->vaddr };
	if (pe->has_nr_pages)
		e->nr_pages = pe->nr_pages;
	else
		e->nr_pages = pe->compat_nr_pages;
	if (pe->has_flags)
		e->flags = pe->flags;
	else
		e->flags = pe->has_in_parent && pe->in_parent ? IMG_PE_PARENT : IMG_PE_PRESENT;
	if (!pe->has_vaddr || (!pe->has_nr_pages && !pe->has_compat_nr_pages))
		ret = img_errf(err, -EPROTO, "%s: pagemap_entry at offset %zu lacks %s", f->name,
			       f->msg_off, pe->has_vaddr ? "nr_pages" : "vaddr");
	fl_pagemap_entry__free_unpacked(pe, NULL);
	return ret;
}

static int check_entry(const struct img_frame *f, const struct pm_build *b,
		       const struct img_pm_entry *e, struct img_err *err)
{
	const char *why = NULL;

	if (e->vaddr % IMG_PAGE_SIZE)
		why = "unaligned vaddr";
	else if (e->nr_pages == 0)
		why = "zero nr_pages";
	else if (e->nr_pages > (UINT64_MAX - e->vaddr) / IMG_PAGE_SIZE)
		why = "vaddr + nr_pages overflows";
	else if (e->flags & ~(uint32_t)KNOWN_FLAGS)
		why = "unknown flags";
	else if (b->pm->nr_ents && e->vaddr < b->next_vaddr)
		why = "entry unsorted or overlapping the previous one";
	if (!why)
		return 0;
	return img_errf(err, -EPROTO,
			"%s: %s at offset %zu (vaddr 0x%llx nr_pages %llu flags 0x%x)", f->name,
			why, f->msg_off, (unsigned long long)e->vaddr,
			(unsigned long long)e->nr_pages, e->flags);
}

static int add_entry(struct img_frame *f, struct pm_build *b, const uint8_t *msg, size_t n,
		     struct img_err *err)
{
	struct img_pagemap *pm = b->pm;
	struct img_pm_entry e = { 0 };
	uint64_t bytes;
	int ret;

	ret = decode_entry(f, msg, n, &e, err);
	if (!ret)
		ret = check_entry(f, b, &e, err);
	if (!ret && pm->nr_ents == b->cap && grow(b))
		ret = img_errf(err, -ENOMEM, "%s: out of memory at offset %zu", f->name,
			       f->msg_off);
	if (ret)
		return ret;
	bytes = e.nr_pages * IMG_PAGE_SIZE;
	if (e.flags & IMG_PE_PRESENT) {
		e.file_off = b->file_off;
		b->file_off += bytes;
	}
	if (e.flags & IMG_PE_LAZY) {
		pm->nr_lazy_pages += e.nr_pages;
		if (!(e.flags & IMG_PE_PRESENT))
			b->nr_lazy_nodata++;
	}
	b->next_vaddr = e.vaddr + bytes;
	pm->ents[pm->nr_ents++] = e;
	return 0;
}

int img_parse_pagemap(const uint8_t *buf, size_t len, const char *name, int32_t pid,
		      struct img_pagemap *out, struct img_err *err)
{
	struct pm_build b = { .pm = out };
	struct img_frame f;
	const uint8_t *msg;
	size_t n;
	int ret;

	*out = (struct img_pagemap){ .pid = pid };
	ret = img_frame_init(&f, buf, len, name, IMG_MAGIC_PAGEMAP, err);
	if (!ret)
		ret = parse_head(&f, out, err);
	while (!ret) {
		ret = img_frame_next(&f, &msg, &n, err);
		if (ret == IMG_FRAME_MSG)
			ret = add_entry(&f, &b, msg, n, err);
		else if (ret == IMG_FRAME_EOF)
			break;
	}
	if (ret < 0)
		goto err_free_ents;
	/* Sorted and non-overlapping entries in a 64-bit space cannot sum past it. */
	out->present_bytes = b.file_off;
	out->lazy_has_data = b.nr_lazy_nodata == 0;
	return 0;

err_free_ents:
	img_pagemap_free(out);
	return ret;
}

void img_pagemap_free(struct img_pagemap *pm)
{
	free(pm->ents);
	*pm = (struct img_pagemap){ .pid = pm->pid };
}
