/* SPDX-License-Identifier: MIT */
/* `faultline pki init`: a CA plus a server and a client certificate. */
#ifndef FL_XPORT_PKI_H
#define FL_XPORT_PKI_H

#include <stddef.h>

struct xport_pki_req {
	const char *dir;          /* created if missing (0700) */
	const char *const *ips;   /* IP SANs for the server cert (IPv4/IPv6 literals) */
	size_t nr_ips;
	const char *const *dns;   /* DNS SANs for the server cert */
	size_t nr_dns;
	unsigned days;            /* validity, default 825 */
	int force;                /* overwrite existing files */
};

/* Writes DIR/ca.pem, ca.key, server.pem, server.key, client.pem, client.key
 * (keys 0600).  The server cert always carries 127.0.0.1, ::1 and localhost
 * in addition to the requested SANs.  Refuses (-EEXIST) to overwrite unless
 * force.  Returns 0 or -errno with a reason in MSG. */
int xport_pki_init(const struct xport_pki_req *req, char *msg, size_t msglen);

#endif
