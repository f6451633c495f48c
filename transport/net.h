/* SPDX-License-Identifier: MIT */
/* TCP sockets: listen and connect over IPv4 and IPv6. */
#ifndef FL_XPORT_NET_H
#define FL_XPORT_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum { XPORT_ADDRSTRLEN = 64 };

/* Listens on ADDR:PORT (ADDR NULL or "": every address, IPv6 dual-stack when
 * the host has IPv6, else IPv4).  PORT 0 picks a free port.  On success *FD is
 * a non-blocking, close-on-exec listening socket and *BOUND the real port.
 * Returns 0 or -errno (-EADDRNOTAVAIL when ADDR is not a literal address). */
int xport_listen(const char *addr, uint16_t port, int *fd, uint16_t *bound);

/* Connects to ADDR:PORT (a literal or a name), trying every address
 * getaddrinfo gives.  Blocking; for clients and tools, not the serving path.
 * On success *FD is a connected close-on-exec socket.  Returns 0 or -errno. */
int xport_connect(const char *addr, uint16_t port, int *fd);

/* xport_connect, with the IP TOS / IPv6 traffic class TOS set before the SYN (0:
 * leave it).  A source host with net.ipv4.tcp_reflect_tos=1 answers with the
 * same TOS, so a shaper can give one connection's replies priority. */
int xport_connect_tos(const char *addr, uint16_t port, int tos, int *fd);

/* Sets FD's IP TOS (IPv4) or traffic class (IPv6) to TOS.  Returns 0 or -errno. */
int xport_set_tos(int fd, int family, int tos);

/* "192.0.2.1:7000" or "[2001:db8::1]:7000" into BUF (XPORT_ADDRSTRLEN). */
void xport_addr_str(const struct sockaddr *sa, char *buf, size_t len);

/* TCP_NODELAY on FD; the page protocol is request/response. Returns 0 or -errno. */
int xport_set_nodelay(int fd);

/* A link that dies without a FIN or RST (a cable pulled, a namespace's link set
 * down) must not leave a connection waiting for ever.  Sets TCP keepalive probes
 * and TCP_USER_TIMEOUT so that the kernel fails the socket (ETIMEDOUT) once sent
 * data or probes stay unacknowledged for about TIMEOUT_MS.  Returns 0 or -errno. */
#define XPORT_LIVENESS_MS 6000
int xport_set_liveness(int fd, unsigned timeout_ms);

#endif
