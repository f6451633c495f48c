/* SPDX-License-Identifier: MIT */
/* Shared by the test workloads (each is one static program): the memory
 * pattern and the atomic result files the e2e harness waits for. */
#ifndef FL_WL_H
#define FL_WL_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

/* splitmix64's finaliser. */
static inline uint64_t wl_mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* The 8-byte word at word index IDX of the deterministic fill for SEED. */
static inline uint64_t wl_word(uint64_t seed, uint64_t idx)
{
	return wl_mix64(idx + seed * 0xd1b54a32d192ed03ULL + 0x9e3779b97f4a7c15ULL);
}

/* Writes DIR/NAME atomically (a temp file, then rename), so a reader never
 * sees half of it.  Returns 0 or -errno. */
static inline int wl_write_file(const char *dir, const char *name, const void *text, size_t len)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	snprintf(dst, sizeof(dst), "%s/%s", dir, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, text, len); /* a regular file: all of it, or an error */

	if (close(fd) || n != (ssize_t)len)
		return -EIO;
	return rename(tmp, dst) ? -errno : 0;
}

#endif
