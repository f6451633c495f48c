// SPDX-License-Identifier: GPL-2.0 OR MIT
/* hotness: per-page write-fault counts in tracked processes.
 *
 *   tp_btf/page_fault_user   error_code & 3 == 3 (X86_PF_PROT|X86_PF_WRITE):
 *                            a write to a present page that was not writable.
 *                            Under async uffd write-protect that is the first
 *                            write to a page since the last PAGEMAP_SCAN round
 *                            re-protected it (also a first write to an
 *                            unpopulated page, which the kernel maps
 *                            protected, then faults again), plus copy-on-write
 *                            after fork.  So per page: rounds written by user
 *                            space, +1 per fork CoW or THP split.
 *
 * Kernel writes (read() into a buffer) fault in kernel mode and are not
 * counted here; PAGEMAP_SCAN sees them.  Counts go into a hash map, not a
 * ring buffer: the loader wants totals, not events. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "bpf/hotness.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

enum { PF_PROT = 1, PF_WRITE = 2 };

struct probe_hot_counters counters;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PROBE_HOT_MAX_TGIDS);
	__type(key, __u32);
	__type(value, __u8);
} tgids SEC(".maps");

/* max_entries is set by the loader before load. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, PROBE_HOT_DEFAULT_PAGES);
	__type(key, struct probe_hot_key);
	__type(value, __u64);
} pages SEC(".maps");

SEC("tp_btf/page_fault_user")
int BPF_PROG(hot_fault, unsigned long address, struct pt_regs *regs, unsigned long error_code)
{
	struct probe_hot_key k = {};
	__u64 one = 1, *n;
	__u32 tgid;

	if ((error_code & (PF_PROT | PF_WRITE)) != (PF_PROT | PF_WRITE))
		return 0;
	tgid = bpf_get_current_pid_tgid() >> 32;
	if (!bpf_map_lookup_elem(&tgids, &tgid))
		return 0;
	__sync_fetch_and_add(&counters.faults, 1);
	k.tgid = tgid;
	k.page = address & ~4095UL;
	n = bpf_map_lookup_elem(&pages, &k);
	if (n) {
		__sync_fetch_and_add(n, 1);
		return 0;
	}
	if (!bpf_map_update_elem(&pages, &k, &one, BPF_NOEXIST))
		return 0;
	/* Another CPU inserted it first, or the map is full. */
	n = bpf_map_lookup_elem(&pages, &k);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		__sync_fetch_and_add(&counters.dropped, 1);
	return 0;
}
