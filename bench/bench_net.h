/* SPDX-License-Identifier: MIT */
/* Shared by the client programs in bench/ (pinger, loadgen): one TCP connection
 * to "ADDR:PORT" (ADDR an IPv4 literal, [IPv6] or a host name). */
#ifndef FL_BENCH_NET_H
#define FL_BENCH_NET_H

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Connects to SPEC with TCP_NODELAY.  Returns the fd, or -errno with the reason
 * in ERR (ERRLEN bytes): -EINVAL for a malformed SPEC or an unknown host. */
static inline int bench_tcp_connect(const char *spec, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	char host[256], *port, *h = host;
	int fd = -1, one = 1, rc;

	snprintf(host, sizeof(host), "%s", spec);
	port = strrchr(host, ':');
	if (!port)
		return snprintf(err, errlen, "--connect %s: no port", spec), -EINVAL;
	*port++ = 0;
	if (*h == '[' && port[-2] == ']')
		h++, port[-2] = 0;
	rc = getaddrinfo(h, port, &hints, &res);
	if (rc)
		return snprintf(err, errlen, "%s: %s", spec, gai_strerror(rc)), -EINVAL;
	rc = -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd >= 0 && !connect(fd, ai->ai_addr, ai->ai_addrlen))
			break;
		rc = -errno;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return snprintf(err, errlen, "connect %s: %s", spec, strerror(-rc)), rc;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

#endif
