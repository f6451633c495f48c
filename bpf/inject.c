/* SPDX-License-Identifier: MIT */
/* ptrace syscall injection (x86-64).
 *
 * The thread is stopped with PTRACE_INTERRUPT, its registers saved, and each
 * injected syscall runs at an existing `syscall` instruction (in the vDSO:
 * nothing in the target is written) under PTRACE_SYSCALL, so the stops are
 * syscall-entry/exit stops and never a SIGTRAP left queued.  The saved
 * registers are put back with the kernel's restart logic already applied
 * (an interrupted syscall re-runs) and orig_rax = -1, so they are right
 * whichever stop we detach from. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bpf/compat.h"
#include "bpf/inject.h"
#include "bpf/procfs.h"
#include "common/log.h"

/* Kernel-internal restart codes a stopped syscall may show in rax. */
enum { ERESTARTSYS_ = 512, ERESTARTNOINTR_ = 513, ERESTARTNOHAND_ = 514, ERESTART_RESTARTBLOCK_ = 516 };
enum { USER64_CS = 0x33, SYSCALL_INSN_LEN = 2 };

/* The head of struct ptrace_syscall_info (linux/ptrace.h, 5.3), which glibc's
 * <sys/ptrace.h> does not declare and cannot be included next to. */
struct sysinfo_head {
	uint8_t op; /* 1 entry, 2 exit */
	uint8_t pad[3];
	uint32_t arch;
	uint64_t instruction_pointer;
	uint64_t stack_pointer;
	union {
		struct {
			uint64_t nr;
			uint64_t args[6];
		} entry;
		struct {
			int64_t rval;
			uint8_t is_error;
		} exit;
	};
};
enum { SYSINFO_ENTRY = 1, SYSINFO_EXIT = 2 };

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for TID to change state; TIMEOUT_MS < 0 waits for ever.  Returns 0
 * with *STATUS, -ETIMEDOUT, -ESRCH (it exited) or -errno. */
static int wait_tid(pid_t tid, int timeout_ms, int *status)
{
	long deadline = now_ms() + timeout_ms;

	for (;;) {
		pid_t r = waitpid(tid, status, __WALL | (timeout_ms >= 0 ? WNOHANG : 0));

		if (r == tid)
			return WIFEXITED(*status) || WIFSIGNALED(*status) ? -ESRCH : 0;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r == 0) {
			if (now_ms() >= deadline)
				return -ETIMEDOUT;
			usleep(500);
		}
	}
}

/* What the kernel would do to a syscall interrupted by a stop when no signal
 * handler runs: ERESTART* re-run it.  Like CRIU's compel, a handler that runs
 * later sees the syscall restarted instead of -EINTR. */
static void resolve_restart(struct user_regs_struct *r)
{
	if ((long long)r->orig_rax >= 0) {
		switch ((long long)r->rax) {
		case -ERESTARTSYS_:
		case -ERESTARTNOINTR_:
		case -ERESTARTNOHAND_:
			r->rax = r->orig_rax;
			r->rip -= SYSCALL_INSN_LEN;
			break;
		case -ERESTART_RESTARTBLOCK_:
			r->rax = SYS_restart_syscall;
			r->rip -= SYSCALL_INSN_LEN;
			break;
		}
	}
	r->orig_rax = (unsigned long long)-1;
}

/* After PTRACE_INTERRUPT: waits for the interrupt's stop, delivering any
 * signal that is reported first. */
static int wait_interrupt_stop(pid_t tid, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	int status, ret;

	for (;;) {
		long left = deadline - now_ms();

		ret = wait_tid(tid, left > 0 ? (int)left : 0, &status);
		if (ret)
			return ret;
		if (!WIFSTOPPED(status))
			continue;
		if (status >> 16 == PTRACE_EVENT_STOP)
			return 0;
		/* A signal-delivery stop came first: let the signal through. */
		if (ptrace(PTRACE_CONT, tid, 0, (void *)(long)WSTOPSIG(status)))
			return -errno;
	}
}

int probe_inject_attach(struct probe_inject *in, pid_t pid, pid_t tid, int timeout_ms)
{
	int ret;

	memset(in, 0, sizeof(*in));
	in->tid = tid;
	ret = probe_find_syscall_insn(pid, &in->syscall_ip);
	if (ret)
		return ret;
	if (ptrace(PTRACE_SEIZE, tid, 0, (void *)PTRACE_O_TRACESYSGOOD))
		return -errno;
	in->attached = 1;
	if (ptrace(PTRACE_INTERRUPT, tid, 0, 0))
		return -errno;
	ret = wait_interrupt_stop(tid, timeout_ms);
	if (ret)
		return ret;
	if (ptrace(PTRACE_GETREGS, tid, 0, &in->saved))
		return -errno;
	if (in->saved.cs != USER64_CS)
		return -EPROTONOSUPPORT;
	resolve_restart(&in->saved);
	in->cur = in->saved;
	return 0;
}

/* One step of the injected syscall's journey.  Returns 1 when it is done
 * (*RET set), 0 to go on, or -errno. */
static int on_stop(struct probe_inject *in, int status, long nr, int *entered, long *ret)
{
	struct sysinfo_head si;
	int sig = 0;

	if (WSTOPSIG(status) == (SIGTRAP | 0x80)) {
		if (ptrace(PTRACE_GET_SYSCALL_INFO, in->tid, (void *)sizeof(si), &si) <= 0)
			return -errno;
		if (si.op == SYSINFO_ENTRY && si.entry.nr == (uint64_t)nr &&
		    si.instruction_pointer == in->syscall_ip + SYSCALL_INSN_LEN)
			*entered = 1;
		else if (si.op == SYSINFO_EXIT && *entered) {
			*ret = (long)si.exit.rval;
			return 1;
		}
	} else if (status >> 16 != PTRACE_EVENT_STOP) {
		sig = WSTOPSIG(status); /* a signal: its handler runs on our context */
	}
	if (ptrace(PTRACE_SYSCALL, in->tid, 0, (void *)(long)sig))
		return -errno;
	return 0;
}

int probe_inject_syscall(struct probe_inject *in, long nr, const uint64_t args[6], long *ret)
{
	struct user_regs_struct r = in->saved;
	int entered = 0, status, done = 0;

	r.rip = in->syscall_ip;
	r.rax = (unsigned long long)nr;
	r.orig_rax = (unsigned long long)-1;
	r.rdi = args[0], r.rsi = args[1], r.rdx = args[2];
	r.r10 = args[3], r.r8 = args[4], r.r9 = args[5];
	if (ptrace(PTRACE_SETREGS, in->tid, 0, &r))
		return -errno;
	if (ptrace(PTRACE_SYSCALL, in->tid, 0, 0))
		return -errno;
	while (!done) {
		/* No timeout from here on: the registers are ours now, and a
		 * thread that resumed with them would crash. */
		int err = wait_tid(in->tid, -1, &status);

		if (err)
			return err;
		done = WIFSTOPPED(status) ? on_stop(in, status, nr, &entered, ret) : 0;
		if (done < 0)
			return done;
	}
	return 0;
}

int probe_inject_detach(struct probe_inject *in)
{
	int ret = 0;

	if (!in->attached)
		return 0;
	if (ptrace(PTRACE_SETREGS, in->tid, 0, &in->saved))
		ret = -errno;
	if (ptrace(PTRACE_DETACH, in->tid, 0, 0) && !ret)
		ret = -errno;
	in->attached = 0;
	return ret;
}

struct uffd_job {
	pid_t pid, tid;
	int timeout_ms;
	int uffd, target_err, ret;
};

/* userfaultfd() in the target, then pidfd_getfd() here, then close() there. */
static int grab(struct probe_inject *in, struct uffd_job *j)
{
	static const unsigned long flag_sets[] = {
		O_CLOEXEC | O_NONBLOCK,
		O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY,
	};
	uint64_t args[6] = { 0 };
	long fd = -EPERM, closed;
	int pidfd, ret;

	for (size_t i = 0; i < 2 && fd == -EPERM; i++) {
		args[0] = flag_sets[i];
		ret = probe_inject_syscall(in, SYS_userfaultfd, args, &fd);
		if (ret)
			return ret;
	}
	if (fd < 0) {
		j->target_err = (int)-fd;
		return (int)fd;
	}
	if (args[0] & UFFD_USER_MODE_ONLY)
		fl_dbg(NULL, "pid %d: userfaultfd needed UFFD_USER_MODE_ONLY (unprivileged target)",
		       (int)j->pid);
	pidfd = (int)syscall(SYS_pidfd_open, j->pid, 0);
	j->ret = pidfd < 0 ? -errno : 0;
	if (pidfd >= 0) {
		j->uffd = (int)syscall(SYS_pidfd_getfd, pidfd, (int)fd, 0);
		j->ret = j->uffd < 0 ? -errno : 0;
		close(pidfd);
	}
	args[0] = (uint64_t)fd;
	ret = probe_inject_syscall(in, SYS_close, args, &closed);
	if (!ret && closed < 0)
		ret = (int)closed;
	return ret ? ret : j->ret;
}

static void *uffd_thread(void *arg)
{
	struct uffd_job *j = arg;
	struct probe_inject in;
	struct timespec t0, t1;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = probe_inject_attach(&in, j->pid, j->tid, j->timeout_ms);
	if (!ret)
		ret = grab(&in, j);
	/* On -ETIMEDOUT the thread is not stopped and cannot be detached by
	 * PTRACE_DETACH: this thread's exit detaches it. */
	if (ret != -ETIMEDOUT) {
		int r = probe_inject_detach(&in);

		if (!ret)
			ret = r;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fl_dbg(NULL, "pid %d: thread %d stopped for the injection for %ld us", (int)j->pid, (int)j->tid,
	       (long)((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000));
	j->ret = ret;
	return NULL;
}

int probe_inject_uffd(pid_t pid, pid_t tid, int timeout_ms, int *uffd, int *target_err)
{
	struct uffd_job j = { .pid = pid, .tid = tid, .timeout_ms = timeout_ms, .uffd = -1 };
	sigset_t block, old;
	pthread_t th;
	int ret;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	/* The new thread inherits the mask: a Ctrl-C lands in the caller's thread. */
	pthread_sigmask(SIG_BLOCK, &block, &old);
	ret = -pthread_create(&th, NULL, uffd_thread, &j);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		return ret;
	pthread_join(th, NULL);
	*target_err = j.target_err;
	if (j.ret && j.uffd >= 0) {
		close(j.uffd);
		j.uffd = -1;
	}
	*uffd = j.uffd;
	return j.uffd >= 0 ? 0 : j.ret ? j.ret : -EIO;
}
