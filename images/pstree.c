/* SPDX-License-Identifier: MIT */
/* pstree.img parser: one pstree_entry per task, root first. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "images/frame.h"
#include "images/img.h"
#include "proto/pstree.pb-c.h"

static int grow(struct img_pstree *p, size_t *cap)
{
	struct img_task *t;
	size_t n = *cap ? *cap * 2 : 8;

	if (n > SIZE_MAX / sizeof(*t))
		return -ENOMEM;
	t = realloc(p->tasks, n * sizeof(*t));
	if (!t)
		return -ENOMEM;
	p->tasks = t;
	*cap = n;
	return 0;
}

/* Pids are uint32 on the wire and pid_t here; 0 is valid only for ppid/pgid/sid. */
static int check_ids(const FlPstreeEntry *pe)
{
	size_t i;

	if (!pe->has_pid || pe->pid == 0 || pe->pid > INT32_MAX || pe->ppid > INT32_MAX ||
	    pe->pgid > INT32_MAX || pe->sid > INT32_MAX)
		return -EPROTO;
	for (i = 0; i < pe->n_threads; i++)
		if (pe->threads[i] == 0 || pe->threads[i] > INT32_MAX)
			return -EPROTO;
	return 0;
}

static int fill_task(struct img_task *t, const FlPstreeEntry *pe)
{
	*t = (struct img_task){ .pid = (int32_t)pe->pid, .ppid = (int32_t)pe->ppid,
				.pgid = (int32_t)pe->pgid, .sid = (int32_t)pe->sid };
	if (pe->n_threads == 0)
		return 0;
	if (pe->n_threads > UINT32_MAX)
		return -EPROTO;
	t->threads = calloc(pe->n_threads, sizeof(*t->threads));
	if (!t->threads)
		return -ENOMEM;
	for (size_t i = 0; i < pe->n_threads; i++)
		t->threads[i] = (int32_t)pe->threads[i];
	t->nr_threads = (uint32_t)pe->n_threads;
	return 0;
}

static int add_task(const struct img_frame *f, struct img_pstree *p, size_t *cap,
		    const uint8_t *msg, size_t n, struct img_err *err)
{
	FlPstreeEntry *pe = fl_pstree_entry__unpack(NULL, n, msg);
	int ret;

	if (!pe)
		return img_errf(err, -EBADMSG, "%s: corrupt pstree_entry at offset %zu (%zu bytes)",
				f->name, f->msg_off, n);
	ret = check_ids(pe);
	if (ret) {
		img_errf(err, ret, "%s: pstree_entry at offset %zu has a missing or invalid pid",
			 f->name, f->msg_off);
		goto out_free_pe;
	}
	if (p->nr_tasks == *cap) {
		ret = grow(p, cap);
		if (ret)
			goto out_nomem;
	}
	ret = fill_task(&p->tasks[p->nr_tasks], pe);
	if (ret)
		goto out_nomem;
	p->nr_tasks++;
	goto out_free_pe;

out_nomem:
	img_errf(err, ret, "%s: out of memory at offset %zu", f->name, f->msg_off);
out_free_pe:
	fl_pstree_entry__free_unpacked(pe, NULL);
	return ret;
}

int img_parse_pstree(const uint8_t *buf, size_t len, const char *name,
		     struct img_pstree *out, struct img_err *err)
{
	struct img_frame f;
	const uint8_t *msg;
	size_t n, cap = 0;
	int ret;

	*out = (struct img_pstree){ 0 };
	ret = img_frame_init(&f, buf, len, name, IMG_MAGIC_PSTREE, err);
	while (!ret) {
		ret = img_frame_next(&f, &msg, &n, err);
		if (ret == IMG_FRAME_MSG)
			ret = add_task(&f, out, &cap, msg, n, err);
		else if (ret == IMG_FRAME_EOF)
			break;
	}
	if (ret >= 0 && out->nr_tasks == 0)
		ret = img_errf(err, -ENODATA, "%s: no pstree_entry at offset %zu", name, f.off);
	if (ret < 0)
		goto err_free_tasks;
	return 0;

err_free_tasks:
	img_pstree_free(out);
	return ret;
}

void img_pstree_free(struct img_pstree *p)
{
	for (size_t i = 0; i < p->nr_tasks; i++)
		free(p->tasks[i].threads);
	free(p->tasks);
	*p = (struct img_pstree){ 0 };
}
