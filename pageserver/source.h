/* SPDX-License-Identifier: MIT */
/* Where the page server's pages come from: a CRIU image directory, or (live
 * source, live.c) the frozen tasks of a `criu dump --lazy-pages`.
 * Only the pagemaps are held in memory; page data stays in pages-N.img, or
 * in the frozen tasks, and is read on demand. */
#ifndef FL_PS_SOURCE_H
#define FL_PS_SOURCE_H

#include <stdint.h>
#include <sys/types.h>

#include "images/img.h"

struct ps_task {
	int32_t pid;
	struct img_pagemap pm;
	int pages_fd; /* -1 when the task has no lazy pages (always, live) */
	pid_t host_pid; /* live: the frozen task in our pid namespace; else 0 */
	int mem_fd;     /* live: /proc/HOST_PID/mem once process_vm_readv failed, else -1 */
};

struct ps_source {
	struct img_dir dir;
	struct ps_task *tasks;
	size_t nr_tasks;
	uint64_t nr_lazy_pages; /* over all tasks */
	pid_t live_root;        /* live source: host pid of the dumped root; 0: images */
	char err[512];
};

/* Opens the image directory PATH and indexes every task's lazy pages.
 * Fails (-errno, reason in src->err naming the file and offset) on a
 * missing, truncated or corrupt image, and with -ENODATA when the images
 * come from `criu dump --lazy-pages`, which leaves lazy data in the dumper. */
int ps_source_open(struct ps_source *src, const char *path);

/* Live source (live.c): opens the images of `criu dump --lazy-pages` in PATH
 * (lazy entries with flags 2 or 6; no pages file is needed for them) and
 * maps every pstree.img pid to a task of the tree under host pid ROOT (by
 * the last NSpid of /proc/X/status).  Page data is then read from those
 * tasks, which must stay frozen while served.  Fails with -ESRCH (reason in
 * src->err) when ROOT is gone, is not the dump's root, or a dumped task has
 * no live counterpart; warns about tasks that are not stopped. */
int ps_source_open_live(struct ps_source *src, const char *path, pid_t root);

/* Image-dir part of both opens; LIVE accepts lazy entries without data. */
int ps_source_open_dir(struct ps_source *src, const char *path, int live);

/* Checks a GET of NR pages at VADDR against T's pagemap for a live source:
 * every page must lie in PE_LAZY entries, contiguous in vaddr.  Returns 0,
 * or -ENOENT/-EACCES/-ERANGE/-EINVAL as img_pagemap_lookup. */
int ps_live_lookup(const struct ps_task *t, uint64_t vaddr, uint64_t nr);

/* Copies LEN bytes at VADDR of live task T into BUF (process_vm_readv, else
 * pread of /proc/PID/mem).  Returns 0, or -errno with the reason (naming the
 * pid) in WHY: -ESRCH when the task is gone, -EFAULT when the range is not
 * mapped any more. */
int ps_live_read(struct ps_task *t, uint64_t vaddr, void *buf, size_t len, char *why,
		 size_t whylen);
void ps_source_close(struct ps_source *src);

/* The task with virtual pid PID, or NULL. */
struct ps_task *ps_source_find(struct ps_source *src, int64_t pid);

#endif
