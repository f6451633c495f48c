/* SPDX-License-Identifier: MIT */
/* Which processes a probe watches: explicit pids with their descendants, or
 * the tasks a running `faultline lazy-pages` restored (its lazy-pages.pids). */
#ifndef FL_BPF_TARGETS_H
#define FL_BPF_TARGETS_H

#include <stddef.h>
#include <sys/types.h>

/* A set of pids; the caller owns it and frees it with probe_pids_free(). */
struct probe_pids {
	pid_t *v;
	size_t n, cap;
};

/* Adds PID.  Returns 1 if it is new, 0 if it was there, -ENOMEM. */
int probe_pids_add(struct probe_pids *p, pid_t pid);

/* Adds PID and, depth first, every live descendant (the children of each of
 * its threads, from /proc).  Returns 0 or -ENOMEM; vanished pids are skipped. */
int probe_pids_add_tree(struct probe_pids *p, pid_t pid);

void probe_pids_free(struct probe_pids *p);

/* Parses a pid from PATH (a pidfile: one decimal number).  Returns 0 and sets
 * *PID, -errno if unreadable, -EINVAL if it holds no pid > 0. */
int probe_read_pidfile(const char *path, pid_t *pid);

/* PATH (PATH_MAX bytes) of the lazy-pages.pids that faultline lazy-pages
 * DAEMON keeps in its work dir, which is its current directory.  Returns 0 or
 * -errno (ESRCH: no such process). */
int probe_lp_pids_path(pid_t daemon, char *path);

/* Adds, with their descendants, the pids listed in lazy-pages.pids at PATH
 * (lines "<pid> <pid in the images>").  A missing file adds nothing.
 * Returns how many pids were new, or -ENOMEM. */
int probe_read_lp_pids(const char *path, struct probe_pids *p);

#endif
