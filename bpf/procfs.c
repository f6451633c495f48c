/* SPDX-License-Identifier: MIT */
/* /proc readers and parsers for `faultline probe hotness`. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpf/procfs.h"
#include "common/proc.h"

struct cursor {
	const char *p, *end;
};

static int hex_field(struct cursor *c, char stop, uint64_t *out)
{
	uint64_t v = 0;
	int n = 0;

	for (; c->p < c->end && *c->p != stop; c->p++, n++) {
		char ch = *c->p;
		int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;

		if (d < 0 || n >= 16)
			return -EINVAL;
		v = v << 4 | (uint64_t)d;
	}
	if (!n || c->p == c->end)
		return -EINVAL;
	c->p++; /* the stop character */
	*out = v;
	return 0;
}

static int dec_field(struct cursor *c, uint64_t *out)
{
	uint64_t v = 0;
	int n = 0;

	for (; c->p < c->end && *c->p >= '0' && *c->p <= '9'; c->p++, n++) {
		if (n >= 19)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*c->p - '0');
	}
	if (!n)
		return -EINVAL;
	*out = v;
	return 0;
}

int probe_maps_parse_line(const char *line, size_t len, struct probe_vma *v)
{
	struct cursor c = { line, line + len };
	uint64_t off, dev;
	size_t n = 0;

	memset(v, 0, sizeof(*v));
	if (hex_field(&c, '-', &v->start) || hex_field(&c, ' ', &v->end) || v->start >= v->end)
		return -EINVAL;
	if (c.end - c.p < 5 || c.p[4] != ' ')
		return -EINVAL;
	memcpy(v->perms, c.p, 4);
	c.p += 5;
	if (hex_field(&c, ' ', &off) || hex_field(&c, ':', &dev) || hex_field(&c, ' ', &dev) ||
	    dec_field(&c, &v->inode))
		return -EINVAL;
	while (c.p < c.end && *c.p == ' ')
		c.p++;
	while (c.p < c.end && *c.p != '\n' && n < sizeof(v->name) - 1)
		v->name[n++] = *c.p++;
	return 0;
}

int probe_vma_is_anon_rw(const struct probe_vma *v)
{
	if (v->perms[0] != 'r' || v->perms[1] != 'w' || v->perms[3] != 'p' || v->inode)
		return 0;
	return !v->name[0] || !strcmp(v->name, "[heap]") || !strcmp(v->name, "[stack]") ||
	       !strncmp(v->name, "[anon:", 6);
}

int probe_proc_stat(pid_t pid, const int *fields, size_t n, uint64_t *out)
{
	char path[64], buf[1024], *p;
	int field = 2;
	ssize_t len;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	len = fl_proc_read(path, buf, sizeof(buf));
	if (len < 0)
		return (int)len;
	p = strrchr(buf, ')'); /* comm may hold spaces and parens */
	for (size_t i = 0; i < n; i++) {
		while (p && field < fields[i]) {
			p = strchr(p + 1, ' ');
			field++;
		}
		if (!p || fields[i] <= 2)
			return -EINVAL;
		out[i] = strtoull(p + 1, NULL, 10);
	}
	return 0;
}

int probe_proc_has_mm(pid_t pid)
{
	char path[64], buf[256];

	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	return fl_proc_read(path, buf, sizeof(buf)) > 0 && strtoull(buf, NULL, 10) > 0;
}

pid_t probe_pick_thread(pid_t pid)
{
	char path[64];
	struct dirent *d;
	pid_t found = -ESRCH;
	DIR *dir;
	char st = fl_thread_state(pid, pid);

	if (st != 'Z' && st != 'X' && st != '?')
		return pid;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((d = readdir(dir)) && found < 0) {
		pid_t tid = (pid_t)atoi(d->d_name);

		st = tid > 0 ? fl_thread_state(pid, tid) : '?';
		if (st != 'Z' && st != 'X' && st != '?')
			found = tid;
	}
	closedir(dir);
	return found;
}

int probe_maps_for_each_anon(pid_t pid, int (*fn)(void *arg, const struct probe_vma *v), void *arg)
{
	char path[64], *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int ret = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (!ret && (len = getline(&line, &cap, f)) > 0) {
		struct probe_vma v;

		if (!probe_maps_parse_line(line, (size_t)len, &v) && probe_vma_is_anon_rw(&v))
			ret = fn(arg, &v);
	}
	if (!ret && ferror(f))
		ret = -EIO;
	free(line);
	fclose(f);
	return ret;
}

/* Looks for 0f 05 in [start, end) of /proc/PID/mem (opened as MEM). */
static int scan_syscall(int mem, uint64_t start, uint64_t end, uint64_t *ip)
{
	unsigned char buf[4096];
	uint64_t limit = end - start > (1u << 20) ? start + (1u << 20) : end;

	for (uint64_t a = start; a + 1 < limit; a += sizeof(buf) - 1) {
		size_t want = limit - a < sizeof(buf) ? (size_t)(limit - a) : sizeof(buf);
		ssize_t n = pread(mem, buf, want, (off_t)a);

		if (n < 2)
			return -EIO;
		for (ssize_t i = 0; i + 1 < n; i++)
			if (buf[i] == 0x0f && buf[i + 1] == 0x05) {
				*ip = a + (uint64_t)i;
				return 0;
			}
	}
	return -ENOEXEC;
}

int probe_find_syscall_insn(pid_t pid, uint64_t *ip)
{
	char path[64], *line = NULL;
	uint64_t text[2] = { 0, 0 }, vdso[2] = { 0, 0 };
	size_t cap = 0;
	ssize_t len;
	int mem, ret = -ENOEXEC;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while ((len = getline(&line, &cap, f)) > 0) {
		struct probe_vma v;

		if (probe_maps_parse_line(line, (size_t)len, &v) || v.perms[2] != 'x')
			continue;
		if (!strcmp(v.name, "[vdso]"))
			vdso[0] = v.start, vdso[1] = v.end;
		else if (!text[0] && strcmp(v.name, "[vsyscall]"))
			text[0] = v.start, text[1] = v.end;
	}
	free(line);
	fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	mem = open(path, O_RDONLY | O_CLOEXEC);
	if (mem < 0)
		return -errno;
	if (vdso[0])
		ret = scan_syscall(mem, vdso[0], vdso[1], ip);
	if (ret && text[0])
		ret = scan_syscall(mem, text[0], text[1], ip);
	close(mem);
	return ret;
}
