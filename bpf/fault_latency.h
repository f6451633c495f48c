/* SPDX-License-Identifier: MIT */
/* fault-latency probe: what the BPF side (fault_latency.bpf.c) and the loader
 * (fault_latency.c) share.  Include <linux/types.h> (user space) or vmlinux.h
 * (BPF) first. */
#ifndef FL_BPF_FAULT_LATENCY_H
#define FL_BPF_FAULT_LATENCY_H

/* One userfaultfd fault, from the user fault to the thread running again.
 * Times are bpf_ktime_get_ns(), i.e. CLOCK_MONOTONIC in ns.  t_req and t_copy
 * come from the resolver's uffd_trace_copy() marker and are 0 without one;
 * t_req is also 0 when the fault joined a request already in flight. */
struct probe_lat_event {
	__u32 tid, tgid;
	__u64 addr;    /* faulting address */
	__u64 t_fault; /* tp page_fault_user */
	__u64 t_req;   /* the resolver read the fault (its request) */
	__u64 t_copy;  /* the resolver began the UFFDIO_* that woke the thread */
	__u64 t_wake;  /* tp sched_waking, in the resolver's UFFDIO_* ioctl */
	__u64 t_run;   /* tp sched_switch: the thread runs again */
};

/* One uffd_trace_copy() marker: the resolver copies [dst, dst + len) at
 * t_copy, for a fault it read at t_req (0: none). */
struct probe_lat_copy {
	__u64 dst, len, t_req, t_copy;
};

/* Counters in the BPF object's .bss, read by the loader. */
struct probe_lat_counters {
	__u64 events;   /* faults matched and submitted */
	__u64 dropped;  /* matched, but the ring buffer was full */
	__u64 no_ioctl; /* a recorded fault woken by something else than UFFDIO_* */
	__u64 forks;    /* processes added because a tracked process forked */
	__u64 unswitched; /* woken before it switched out: t_run is t_wake */
	__u64 unslept;  /* resolved before it slept: t_wake, t_run are t_copy */
};

enum {
	PROBE_LAT_MAX_TGIDS = 4096,
	PROBE_LAT_RINGBUF = 4 << 20,
	PROBE_LAT_TGID_BITS = 1 << 16, /* tgid_bits in .bss: a first, cheap filter */
};

#endif
