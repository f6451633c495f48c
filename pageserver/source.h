/* SPDX-License-Identifier: MIT */
/* Where the page server's pages come from: a CRIU image directory.
 * Only the pagemaps are held in memory; page data stays in pages-N.img and
 * is read on demand. */
#ifndef FL_PS_SOURCE_H
#define FL_PS_SOURCE_H

#include <stdint.h>

#include "images/img.h"

struct ps_task {
	int32_t pid;
	struct img_pagemap pm;
	int pages_fd; /* -1 when the task has no lazy pages */
};

struct ps_source {
	struct img_dir dir;
	struct ps_task *tasks;
	size_t nr_tasks;
	uint64_t nr_lazy_pages; /* over all tasks */
	char err[512];
};

/* Opens the image directory PATH and indexes every task's lazy pages.
 * Fails (-errno, reason in src->err naming the file and offset) on a
 * missing, truncated or corrupt image, and with -ENODATA when the images
 * come from `criu dump --lazy-pages`, which leaves lazy data in the dumper. */
int ps_source_open(struct ps_source *src, const char *path);
void ps_source_close(struct ps_source *src);

/* The task with virtual pid PID, or NULL. */
struct ps_task *ps_source_find(struct ps_source *src, int64_t pid);

#endif
