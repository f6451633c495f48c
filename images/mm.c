/* SPDX-License-Identifier: MIT */
/* mm-<pid>.img parser: the VMA list of one mm_entry. */
#include <errno.h>
#include <stdlib.h>

#include "images/frame.h"
#include "images/img.h"
#include "proto/mm.pb-c.h"

static int convert_vma(const FlVmaEntry *v, uint64_t prev_end, int first, struct img_vma *out)
{
	if (!v->has_start || !v->has_end || v->start >= v->end ||
	    v->start % IMG_PAGE_SIZE || v->end % IMG_PAGE_SIZE || (!first && v->start < prev_end))
		return -EPROTO;
	*out = (struct img_vma){
		.start = v->start, .end = v->end, .pgoff = v->pgoff,
		.prot = v->prot, .flags = v->flags, .status = v->status,
		.shmid = (int64_t)v->shmid,
		/* CRIU leaves fd unused (-1); never fail an image over it. */
		.fd = v->fd >= INT32_MIN && v->fd <= INT32_MAX ? (int32_t)v->fd : -1,
	};
	return 0;
}

static int convert_mm(const struct img_frame *f, const FlMmEntry *mm, struct img_mm *out,
		      struct img_err *err)
{
	size_t i;

	if (mm->n_vmas == 0)
		return 0;
	out->vmas = calloc(mm->n_vmas, sizeof(*out->vmas));
	if (!out->vmas)
		return img_errf(err, -ENOMEM, "%s: out of memory at offset %zu", f->name,
				f->msg_off);
	for (i = 0; i < mm->n_vmas; i++) {
		const FlVmaEntry *v = mm->vmas[i];

		if (convert_vma(v, i ? out->vmas[i - 1].end : 0, i == 0, &out->vmas[i]))
			return img_errf(err, -EPROTO,
					"%s: vma %zu (0x%llx-0x%llx) in mm_entry at offset %zu is missing, unaligned, empty or out of order",
					f->name, i, (unsigned long long)v->start,
					(unsigned long long)v->end, f->msg_off);
		out->nr_vmas++;
	}
	return 0;
}

int img_parse_mm(const uint8_t *buf, size_t len, const char *name, struct img_mm *out,
		 struct img_err *err)
{
	FlMmEntry *mm;
	struct img_frame f;
	const uint8_t *msg;
	size_t n;
	int ret;

	*out = (struct img_mm){ 0 };
	ret = img_frame_init(&f, buf, len, name, IMG_MAGIC_MM, err);
	if (!ret)
		ret = img_frame_single(&f, &msg, &n, "mm_entry", err);
	if (ret)
		return ret;
	mm = fl_mm_entry__unpack(NULL, n, msg);
	if (!mm)
		return img_errf(err, -EBADMSG, "%s: corrupt mm_entry at offset %zu (%zu bytes)", name,
				f.msg_off, n);
	ret = convert_mm(&f, mm, out, err);
	fl_mm_entry__free_unpacked(mm, NULL);
	if (ret)
		goto err_free_vmas;
	return 0;

err_free_vmas:
	img_mm_free(out);
	return ret;
}

void img_mm_free(struct img_mm *m)
{
	free(m->vmas);
	*m = (struct img_mm){ 0 };
}
