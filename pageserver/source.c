/* SPDX-License-Identifier: MIT */
#include "pageserver/source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int open_task(struct ps_source *src, struct ps_task *t, int live)
{
	int ret = img_dir_read_pagemap(&src->dir, t->pid, &t->pm);

	if (ret)
		return ret;
	if (!t->pm.nr_lazy_pages)
		return 0;
	if (live) {
		/* The data is in the frozen task, whatever the flags say. */
		src->nr_lazy_pages += t->pm.nr_lazy_pages;
		return 0;
	}
	if (!t->pm.lazy_has_data) {
		snprintf(src->dir.err.msg, sizeof(src->dir.err.msg),
			 "pagemap-%d.img: lazy pages have no data in the images (dumped with "
			 "`criu dump --lazy-pages`); serve them live with --pid PID of the dumped root",
			 t->pid);
		return -ENODATA;
	}
	ret = img_dir_open_pages(&src->dir, &t->pm, &t->pages_fd);
	if (!ret)
		src->nr_lazy_pages += t->pm.nr_lazy_pages;
	return ret;
}

int ps_source_open(struct ps_source *src, const char *path)
{
	return ps_source_open_dir(src, path, 0);
}

int ps_source_open_dir(struct ps_source *src, const char *path, int live)
{
	struct img_pstree pst = { 0 };
	int ret;

	memset(src, 0, sizeof(*src));
	ret = img_dir_open(&src->dir, path);
	if (ret)
		goto err_msg;
	ret = img_dir_read_pstree(&src->dir, &pst);
	if (ret)
		goto err_close_dir;
	src->tasks = calloc(pst.nr_tasks ? pst.nr_tasks : 1, sizeof(*src->tasks));
	if (!src->tasks) {
		ret = -ENOMEM;
		snprintf(src->dir.err.msg, sizeof(src->dir.err.msg), "out of memory");
		goto err_free_pstree;
	}
	for (size_t i = 0; i < pst.nr_tasks; i++) {
		struct ps_task *t = &src->tasks[src->nr_tasks++];

		t->pid = pst.tasks[i].pid;
		t->pages_fd = -1;
		t->mem_fd = -1;
		ret = open_task(src, t, live);
		if (ret)
			goto err_free_tasks;
	}
	img_pstree_free(&pst);
	return 0;

err_free_tasks:
	snprintf(src->err, sizeof(src->err), "%s", src->dir.err.msg);
	img_pstree_free(&pst);
	ps_source_close(src);
	return ret;
err_free_pstree:
	img_pstree_free(&pst);
err_close_dir:
	img_dir_close(&src->dir);
err_msg:
	snprintf(src->err, sizeof(src->err), "%s", src->dir.err.msg);
	return ret;
}

void ps_source_close(struct ps_source *src)
{
	for (size_t i = 0; i < src->nr_tasks; i++) {
		if (src->tasks[i].pages_fd >= 0)
			close(src->tasks[i].pages_fd);
		if (src->tasks[i].mem_fd >= 0)
			close(src->tasks[i].mem_fd);
		img_pagemap_free(&src->tasks[i].pm);
	}
	free(src->tasks);
	src->tasks = NULL;
	src->nr_tasks = 0;
	img_dir_close(&src->dir);
}

struct ps_task *ps_source_find(struct ps_source *src, int64_t pid)
{
	for (size_t i = 0; i < src->nr_tasks; i++)
		if (src->tasks[i].pid == pid)
			return &src->tasks[i];
	return NULL;
}
