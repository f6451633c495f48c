/* SPDX-License-Identifier: MIT */
#include "transport/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int parse_literal(const char *addr, uint16_t port, struct sockaddr_storage *ss,
			 socklen_t *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (!addr || !*addr) {
		in6->sin6_family = AF_INET6;
		in6->sin6_addr = in6addr_any;
		in6->sin6_port = htons(port);
		*len = sizeof(*in6);
		return 0;
	}
	if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		*len = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len = sizeof(*in6);
		return 0;
	}
	return -EADDRNOTAVAIL;
}

static int bind_listen(const struct sockaddr_storage *ss, socklen_t len, int *fd)
{
	int one = 1, zero = 0, s, ret;

	s = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss->ss_family == AF_INET6)
		setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(s, (const struct sockaddr *)ss, len) < 0 || listen(s, 128) < 0) {
		ret = -errno;
		close(s);
		return ret;
	}
	*fd = s;
	return 0;
}

int xport_listen(const char *addr, uint16_t port, int *fd, uint16_t *bound)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int ret;

	ret = parse_literal(addr, port, &ss, &len);
	if (ret)
		return ret;
	ret = bind_listen(&ss, len, fd);
	if (ret == -EAFNOSUPPORT && (!addr || !*addr)) {
		struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;

		memset(&ss, 0, sizeof(ss));
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		ret = bind_listen(&ss, sizeof(*in4), fd);
	}
	if (ret)
		return ret;
	len = sizeof(ss);
	if (getsockname(*fd, (struct sockaddr *)&ss, &len) == 0)
		*bound = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						       : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

int xport_set_liveness(int fd, unsigned timeout_ms)
{
	int one = 1, idle = timeout_ms / 3000 ? (int)(timeout_ms / 3000) : 1, intvl = 1, cnt = 3;
	unsigned ut = timeout_ms;

	if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl)) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ut, sizeof(ut)))
		return -errno;
	return 0;
}

/* connect(2) waits at most this long for an answer to its SYNs (SO_SNDTIMEO), so
 * that a caller retrying over a dead link gets control back. */
#define XPORT_CONNECT_TIMEOUT_S 3

int xport_set_tos(int fd, int family, int tos)
{
	int r = family == AF_INET6 ? setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &tos, sizeof(tos))
				   : setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos));

	return r ? -errno : 0;
}

int xport_connect(const char *addr, uint16_t port, int *fd)
{
	return xport_connect_tos(addr, port, 0, fd);
}

int xport_connect_tos(const char *addr, uint16_t port, int tos, int *fd)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	char service[8];
	int ret, s = -1;

	snprintf(service, sizeof(service), "%u", port);
	ret = getaddrinfo(addr, service, &hints, &res);
	if (ret)
		return ret == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
	ret = -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0) {
			ret = -errno;
			continue;
		}
		struct timeval tv = { .tv_sec = XPORT_CONNECT_TIMEOUT_S };

		if (tos)
			xport_set_tos(s, ai->ai_family, tos);

		setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(s, ai->ai_addr, ai->ai_addrlen) == 0) {
			tv.tv_sec = 0;
			setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
			ret = 0;
			break;
		}
		if (errno == EINPROGRESS)
			errno = ETIMEDOUT;
		ret = -errno;
		close(s);
		s = -1;
	}
	freeaddrinfo(res);
	if (!ret)
		*fd = s;
	return ret;
}

void xport_addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in4->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(in4->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			snprintf(buf, len, "%s:%u", host + 7, ntohs(in6->sin6_port));
		else
			snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, len, "unix");
	}
}

int xport_set_nodelay(int fd)
{
	int one = 1;

	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ? -errno : 0;
}
