// SPDX-License-Identifier: GPL-2.0 OR MIT
/* fault-latency: the time from a userfaultfd fault to the faulting thread
 * running again, in tracked processes, with the resolver's timeline.
 *
 *   tp_btf/page_fault_user   a tracked thread faults: note address, ip, time
 *                            in its task storage (tgid filter; no VMA lookup,
 *                            bpf_find_vma costs 11.5 us here)
 *   tp_btf/sched_switch      prev: it blocked in that fault (its user ip is
 *                            still the faulting ip); next: it runs again ->
 *                            submit the event
 *   tp_btf/sched_waking      runs in the waker: if the waker is inside an
 *                            ioctl(UFFDIO_COPY/ZEROPAGE/WAKE/...) whose range
 *                            holds the address, this is the fault's wake-up
 *   uprobe uffd_trace_copy   the resolver's marker before each UFFDIO_*:
 *                            (dst, len, time it read the fault); optional
 *   uprobe uffd_trace_task   faultline lazy-pages got a restored task: track it
 *   tp_btf/sched_process_fork  children of tracked processes are tracked
 *
 * Two races end a fault without the usual block -> waking -> switch in:
 *   - woken while still on its CPU, before it switched out: it runs on with
 *     no switch in; it is submitted at its next fault, switch out or exit,
 *     with t_run = t_wake (counters.unswitched);
 *   - resolved before it even slept: the resolver read the message and
 *     copied the page before the thread's last check, so nothing wakes it.
 *     The recent markers tell such a fault from an ordinary one at the
 *     thread's next event; t_wake = t_run = t_copy (counters.unslept).
 *
 * Every ring buffer submit is BPF_RB_NO_WAKEUP: the loader polls, and a wakeup
 * per event distorts the latency it measures (platform.md). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "bpf/fault_latency.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Tunables, set by the loader between open and load. */
const volatile bool track_forks = true;

enum { NR_IOCTL = 16, UFFDIO_TYPE = 0xAA, NR_RECENT = 64 };

/* A thread's last fault.  t_fault != 0: pending; t_wake != 0: woken.  The
 * waker (another CPU) writes t_wake and the switch out of the thread writes
 * blocked, possibly at once: separate fields, so neither undoes the other. */
struct fl_lat_fault {
	__u64 addr, ip;
	__u64 t_fault, t_req, t_copy, t_wake;
	__u32 blocked;
};

struct probe_lat_counters counters;
/* A bit per tgid modulo PROBE_LAT_TGID_BITS, set with every tgids entry (never
 * cleared): most faults, of untracked processes, stop at one load. */
__u64 tgid_bits[PROBE_LAT_TGID_BITS / 64];
/* The last NR_RECENT markers, from any resolver. */
struct probe_lat_copy recent[NR_RECENT];
__u64 recent_seq;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PROBE_LAT_MAX_TGIDS);
	__type(key, __u32);
	__type(value, __u8);
} tgids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct fl_lat_fault);
} faults SEC(".maps");

/* What each resolver thread is copying now (its last marker). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32); /* resolver tid */
	__type(value, struct probe_lat_copy);
} copies SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, PROBE_LAT_RINGBUF);
} events SEC(".maps");

static bool tracked(__u32 tgid)
{
	__u32 b = tgid % PROBE_LAT_TGID_BITS;

	if (!(tgid_bits[b / 64] & (1ULL << (b % 64))))
		return false;
	return bpf_map_lookup_elem(&tgids, &tgid);
}

static void track(__u32 tgid, __u64 flags)
{
	__u32 b = tgid % PROBE_LAT_TGID_BITS;
	__u8 one = 1;

	__sync_fetch_and_or(&tgid_bits[b / 64], 1ULL << (b % 64));
	if (!bpf_map_update_elem(&tgids, &tgid, &one, flags) && flags == BPF_NOEXIST)
		__sync_fetch_and_add(&counters.forks, 1);
}

/* True while T is still in the kernel for the fault F: its saved user ip is
 * the faulting ip. */
static bool in_fault(struct task_struct *t, const struct fl_lat_fault *f)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(t);

	return regs && regs->ip == f->ip;
}

/* Submits F's event, T_RUN being when T ran again, and clears F. */
static void submit(struct task_struct *t, struct fl_lat_fault *f, __u64 t_run)
{
	struct probe_lat_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		__sync_fetch_and_add(&counters.dropped, 1);
		f->t_fault = 0;
		return;
	}
	e->tid = t->pid;
	e->tgid = t->tgid;
	e->addr = f->addr;
	e->t_fault = f->t_fault;
	e->t_req = f->t_req;
	e->t_copy = f->t_copy;
	e->t_wake = f->t_wake;
	e->t_run = t_run;
	f->t_fault = 0;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	__sync_fetch_and_add(&counters.events, 1);
}

/* T left the fault F without being woken: submits it if a marker copied its
 * page after it faulted (it was resolved before it could sleep), else drops
 * it (an ordinary fault). */
static void settle_unwoken(struct task_struct *t, struct fl_lat_fault *f)
{
	for (int i = 0; i < NR_RECENT; i++) {
		struct probe_lat_copy *c = &recent[i];

		if (c->t_copy < f->t_fault || f->addr - c->dst >= c->len)
			continue;
		f->t_req = c->t_req;
		f->t_copy = f->t_wake = c->t_copy;
		__sync_fetch_and_add(&counters.unslept, 1);
		submit(t, f, c->t_copy);
		return;
	}
	f->t_fault = 0;
}

/* T is past its fault F (it faults again, switches out elsewhere, exits). */
static void settle(struct task_struct *t, struct fl_lat_fault *f)
{
	if (!f->t_wake) {
		settle_unwoken(t, f);
		return;
	}
	__sync_fetch_and_add(&counters.unswitched, 1);
	submit(t, f, f->t_wake);
}

SEC("tp_btf/page_fault_user")
int BPF_PROG(on_fault, unsigned long address, struct pt_regs *regs, unsigned long error_code)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct task_struct *task = bpf_get_current_task_btf();
	struct fl_lat_fault *f;

	if (!tracked(tgid))
		return 0;
	f = bpf_task_storage_get(&faults, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!f)
		return 0;
	if (f->t_fault)
		settle(task, f);
	f->addr = address;
	f->ip = regs->ip;
	f->t_req = f->t_copy = f->t_wake = 0;
	f->blocked = 0;
	f->t_fault = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	struct fl_lat_fault *f = bpf_task_storage_get(&faults, prev, 0, 0);

	/* Out of the fault's kernel path, and sleeping or preempted elsewhere. */
	if (f && f->t_fault && (prev_state || f->t_wake) && !in_fault(prev, f))
		settle(prev, f);
	else if (f && f->t_fault && prev_state && !f->t_wake)
		f->blocked = 1; /* it sleeps in the fault */
	f = bpf_task_storage_get(&faults, next, 0, 0);
	if (f && f->t_fault && f->t_wake)
		submit(next, f, bpf_ktime_get_ns());
	return 0;
}

/* The range of the waker's current ioctl(UFFDIO_*), if it is in one. */
static bool uffdio_range(__u64 *start, __u64 *len)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	__u64 arg[3], cmd;

	if (!regs || regs->orig_ax != NR_IOCTL)
		return false;
	cmd = regs->si;
	if (((cmd >> 8) & 0xff) != UFFDIO_TYPE)
		return false;
	if (bpf_probe_read_user(arg, sizeof(arg), (void *)regs->dx))
		return false;
	*start = arg[0];
	switch (cmd & 0xff) {
	case 3: /* _UFFDIO_COPY: dst, src, len */
	case 5: /* _UFFDIO_MOVE: dst, src, len */
		*len = arg[2];
		return true;
	case 2: /* _UFFDIO_WAKE */
	case 4: /* _UFFDIO_ZEROPAGE */
	case 7: /* _UFFDIO_CONTINUE */
	case 8: /* _UFFDIO_POISON: struct uffdio_range first */
		*len = arg[1];
		return true;
	}
	return false;
}

SEC("tp_btf/sched_waking")
int BPF_PROG(on_waking, struct task_struct *p)
{
	struct fl_lat_fault *f = bpf_task_storage_get(&faults, p, 0, 0);
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct probe_lat_copy *c;
	__u64 start, len;

	if (!f || !f->t_fault || f->t_wake)
		return 0;
	if (!uffdio_range(&start, &len) || f->addr - start >= len) {
		if (f->blocked)
			__sync_fetch_and_add(&counters.no_ioctl, 1);
		return 0;
	}
	/* Woken before it switched out: make sure it is still in this fault. */
	if (!f->blocked && !in_fault(p, f))
		return 0;
	c = bpf_map_lookup_elem(&copies, &tid);
	if (c && f->addr - c->dst < c->len) {
		f->t_req = c->t_req;
		f->t_copy = c->t_copy;
	}
	f->t_wake = bpf_ktime_get_ns();
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(on_trace_copy, __u64 dst, __u64 len, __u64 t_req)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct probe_lat_copy c = { .dst = dst, .len = len, .t_req = t_req,
				 .t_copy = bpf_ktime_get_ns() };
	__u64 i = __sync_fetch_and_add(&recent_seq, 1) % NR_RECENT;

	bpf_map_update_elem(&copies, &tid, &c, BPF_ANY);
	recent[i] = c;
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(on_trace_task, int pid)
{
	if (pid > 0)
		track(pid, BPF_ANY);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid;

	if (track_forks && ptgid != ctgid && tracked(ptgid))
		track(ctgid, BPF_NOEXIST);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *t, bool group_dead)
{
	struct fl_lat_fault *f = bpf_task_storage_get(&faults, t, 0, 0);
	__u32 tgid = t->tgid;

	if (f && f->t_fault)
		settle(t, f);
	if (group_dead)
		bpf_map_delete_elem(&tgids, &tgid);
	return 0;
}
