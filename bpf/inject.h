/* SPDX-License-Identifier: MIT */
/* Syscall injection into a running process that did not cooperate, with
 * ptrace, and what `faultline probe hotness` does with it: take a
 * userfaultfd of the target's mm without leaving one in its fd table. */
#ifndef FL_BPF_INJECT_H
#define FL_BPF_INJECT_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

/* One ptrace session on one thread.  Every call on it must come from the
 * thread that called probe_inject_attach() (ptrace is per tracer thread). */
struct probe_inject {
	pid_t tid;
	uint64_t syscall_ip;             /* a `syscall` instruction in the target */
	struct user_regs_struct saved;   /* as found, restarts resolved */
	struct user_regs_struct cur;
	int attached;
};

/* PTRACE_SEIZE + PTRACE_INTERRUPT thread TID of process PID, waits at most
 * TIMEOUT_MS for it to stop, saves its registers and finds a `syscall`
 * instruction to run ours at.  A signal that arrives first is delivered.
 * Returns 0, or -errno: -EPERM (not allowed, or already traced), -ESRCH,
 * -ETIMEDOUT (did not stop: the caller must leave its thread, which detaches
 * it), -ENOEXEC (no `syscall` instruction), -EPROTONOSUPPORT (not x86-64). */
int probe_inject_attach(struct probe_inject *in, pid_t pid, pid_t tid, int timeout_ms);

/* Runs syscall NR with ARGS in the stopped thread and stores its return
 * value (a -errno on failure) in *RET.  Other syscalls and signals on the way
 * (a signal handler runs on the injected context) are let through.  Returns 0
 * or -errno (-ESRCH: the target died). */
int probe_inject_syscall(struct probe_inject *in, long nr, const uint64_t args[6], long *ret);

/* Puts the saved registers back and detaches; the thread resumes where it
 * was (an interrupted syscall restarts).  Returns 0 or -errno. */
int probe_inject_detach(struct probe_inject *in);

/* Makes process PID (thread TID) create a userfaultfd for its own mm
 * (O_CLOEXEC|O_NONBLOCK, adding UFFD_USER_MODE_ONLY when plain is refused),
 * takes a duplicate into this process with pidfd_getfd and makes the target
 * close its own, so that no uffd is left in its fd table.  Runs the ptrace
 * session in a short-lived thread of its own: a target that never stops
 * within TIMEOUT_MS is detached by that thread exiting.  SIGINT and SIGTERM
 * are held off during the injection.  Returns 0 and sets *UFFD (close-on-exec,
 * ours to close), or -errno; *TARGET_ERR gets the errno the target's syscall
 * failed with (userfaultfd: EPERM under seccomp or without privilege), else 0. */
int probe_inject_uffd(pid_t pid, pid_t tid, int timeout_ms, int *uffd, int *target_err);

#endif
