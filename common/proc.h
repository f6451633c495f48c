/* SPDX-License-Identifier: MIT */
/* Small /proc readers shared by the page server (`--pid`), lazy-pages (killing a
 * restored tree) and the probes: a process's ids, state and children.  The
 * status parser is pure (tests/unit/test_probe_procfs.c, tests/fuzz/fuzz_procmaps.c);
 * the readers return 0 or -errno. */
#ifndef FL_COMMON_PROC_H
#define FL_COMMON_PROC_H

#include <stddef.h>
#include <sys/types.h>

/* Reads the small file PATH whole into BUF (SIZE bytes, NUL-terminated).
 * Returns the length or -errno. */
ssize_t fl_proc_read(const char *path, char *buf, size_t size);

/* The last decimal number on the line of /proc/PID/status text (LEN bytes)
 * that starts with KEY ("NSpid:" gives the pid in the innermost namespace,
 * "Tgid:" the thread group), or -EINVAL if there is none or it is too big. */
long fl_status_field(const char *text, size_t len, const char *key);

/* PID's thread group id and its pid in its innermost pid namespace. */
int fl_proc_ids(pid_t pid, pid_t *tgid, pid_t *vpid);

/* The state letter of thread TID of PID (R, S, D, Z, t, T ...), or '?'. */
char fl_thread_state(pid_t pid, pid_t tid);

/* Appends the children of every thread of PID to *V (grown with realloc;
 * *N entries, *CAP allocated).  Returns 0 or -errno. */
int fl_proc_children(pid_t pid, pid_t **v, size_t *n, size_t *cap);

#endif
