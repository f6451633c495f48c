/* SPDX-License-Identifier: MIT */
/* What `faultline probe hotness` reads from /proc about its targets: the
 * mappings, the pid in the innermost pid namespace, the threads and the
 * children.  The parsers are pure (tests/unit/test_probe_procfs.c,
 * tests/fuzz/fuzz_procmaps.c); the readers return 0 or -errno. */
#ifndef FL_BPF_PROCFS_H
#define FL_BPF_PROCFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/proc.h" /* fl_proc_ids, fl_proc_children, fl_thread_state */

struct probe_vma {
	uint64_t start, end; /* [start, end) */
	char perms[5];       /* "rw-p" */
	uint64_t inode;
	char name[32];       /* "[heap]", "[anon:x]", "" ...; cut to fit */
};

/* Parses one /proc/PID/maps line (LEN bytes, no NUL needed, trailing newline
 * optional).  Returns 0 or -EINVAL when it is not a maps line. */
int probe_maps_parse_line(const char *line, size_t len, struct probe_vma *v);

/* True for the mappings whose writes the probe tracks: private, anonymous,
 * readable and writable ([heap], [stack], [anon:...] or unnamed).  Not the
 * kernel's special mappings ([vdso], [vvar], [vsyscall], [uprobes]). */
int probe_vma_is_anon_rw(const struct probe_vma *v);

/* Reads /proc/PID/maps and calls FN(ARG, vma) for each mapping for which
 * probe_vma_is_anon_rw() holds; FN returns 0 or -errno (which stops the walk
 * and is returned).  Returns 0 or -errno (-ENOENT/-ESRCH: no such process). */
int probe_maps_for_each_anon(pid_t pid, int (*fn)(void *arg, const struct probe_vma *v), void *arg);

/* Address of the first `syscall` instruction (0f 05) in PID's [vdso], or else
 * in its first executable mapping, read through /proc/PID/mem (the caller
 * must be allowed to ptrace PID).  Returns 0 and sets *IP, or -errno
 * (-ENOEXEC: none found). */
int probe_find_syscall_insn(pid_t pid, uint64_t *ip);

/* Fields of /proc/PID/stat: OUT[i] = field FIELDS[i] (numbered as in
 * proc(5): 22 starttime, 28 startstack, 48 arg_start, 51 env_end; ascending,
 * beyond 2).  Returns 0 or -errno. */
int probe_proc_stat(pid_t pid, const int *fields, size_t n, uint64_t *out);

/* True if PID has user memory (its statm size is not 0): false for kernel
 * threads and zombies. */
int probe_proc_has_mm(pid_t pid);

/* Picks the thread of PID to inject into: PID itself unless it is a zombie
 * (its other threads live on), else the first thread not a zombie.
 * Returns the tid or -errno (-ESRCH: every thread is gone). */
pid_t probe_pick_thread(pid_t pid);

#endif
