/* SPDX-License-Identifier: MIT */
/* Loader of the hotness probe's BPF side (hotness.bpf.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>

#include "bpf/hotness.h"
#include "bpf/hotness.skel.h"
#include "bpf/probe.h"

int probe_hot_bpf_open(struct probe_hot_bpf *b, uint32_t max_pages, const char *prog)
{
	int ret = probe_check_env(prog);

	b->skel = NULL;
	b->stats_fd = -1;
	if (ret)
		return ret;
	b->skel = hotness_bpf__open();
	if (!b->skel) {
		ret = -errno;
		probe_load_error(prog, "open", ret);
		return ret;
	}
	ret = bpf_map__set_max_entries(b->skel->maps.pages, max_pages);
	if (!ret && (ret = hotness_bpf__load(b->skel)))
		probe_load_error(prog, "load", ret);
	if (!ret && (ret = hotness_bpf__attach(b->skel)))
		probe_load_error(prog, "attach", ret);
	if (ret) {
		probe_hot_bpf_close(b);
		return ret;
	}
	/* Optional: the per-run cost in the summary. */
	b->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	return 0;
}

int probe_hot_bpf_track(struct probe_hot_bpf *b, pid_t tgid)
{
	__u32 k = (__u32)tgid;
	__u8 v = 1;

	if (bpf_map__update_elem(b->skel->maps.tgids, &k, sizeof(k), &v, sizeof(v), BPF_ANY))
		return errno == E2BIG || errno == ENOSPC ? -E2BIG : -errno;
	return 0;
}

int probe_hot_bpf_untrack(struct probe_hot_bpf *b, pid_t tgid)
{
	__u32 k = (__u32)tgid;

	if (bpf_map__delete_elem(b->skel->maps.tgids, &k, sizeof(k), 0) && errno != ENOENT)
		return -errno;
	return 0;
}

void probe_hot_bpf_counters(const struct probe_hot_bpf *b, struct probe_hot_counters *c)
{
	const volatile struct probe_hot_counters *src = &b->skel->bss->counters;

	c->faults = src->faults;
	c->dropped = src->dropped;
}

/* Without batch lookups (older kernels): one key at a time. */
static int for_each_slow(int fd, int (*fn)(void *, pid_t, uint64_t, uint64_t), void *arg)
{
	struct probe_hot_key k, next;
	void *prev = NULL;
	__u64 v;
	int ret = 0;

	while (!ret && !bpf_map_get_next_key(fd, prev, &next)) {
		if (!bpf_map_lookup_elem(fd, &next, &v))
			ret = fn(arg, (pid_t)next.tgid, next.page, v);
		k = next;
		prev = &k;
	}
	return ret;
}

int probe_hot_bpf_for_each(struct probe_hot_bpf *b,
			   int (*fn)(void *arg, pid_t tgid, uint64_t page, uint64_t count), void *arg)
{
	enum { BATCH = 4096 };
	int fd = bpf_map__fd(b->skel->maps.pages), ret = 0, done = 0;
	struct probe_hot_key *keys = calloc(BATCH, sizeof(*keys));
	__u64 *vals = calloc(BATCH, sizeof(*vals)), token = 0;
	void *in = NULL;

	if (!keys || !vals) {
		ret = -ENOMEM;
		goto out;
	}
	while (!ret && !done) {
		__u32 count = BATCH;

		if (bpf_map_lookup_batch(fd, in, &token, keys, vals, &count, NULL)) {
			if (errno == EINVAL && !in) {
				ret = for_each_slow(fd, fn, arg);
				break;
			}
			if (errno != ENOENT) {
				ret = -errno;
				break;
			}
			done = 1; /* the last batch, COUNT entries */
		}
		for (__u32 i = 0; i < count && !ret; i++)
			ret = fn(arg, (pid_t)keys[i].tgid, keys[i].page, vals[i]);
		in = &token;
	}
out:
	free(keys);
	free(vals);
	return ret;
}

int probe_hot_bpf_cost(const struct probe_hot_bpf *b, uint64_t *runs, uint64_t *ns)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	if (b->stats_fd < 0)
		return -ENOTSUP;
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(bpf_program__fd(b->skel->progs.hot_fault), &info, &len))
		return -errno;
	*runs = info.run_cnt;
	*ns = info.run_time_ns;
	return 0;
}

void probe_hot_bpf_close(struct probe_hot_bpf *b)
{
	if (b->stats_fd >= 0)
		close(b->stats_fd);
	hotness_bpf__destroy(b->skel);
	b->skel = NULL;
	b->stats_fd = -1;
}
