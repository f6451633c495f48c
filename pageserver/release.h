/* SPDX-License-Identifier: MIT */
/* `faultline criu-release`: ends the page-server session of a running
 * `criu dump --lazy-pages`, so that CRIU either kills the dumped tasks
 * (PS_IOV_CLOSE: the migration is complete) or rolls the dump back and
 * resumes them (a command CRIU does not know: its lazy transfer fails). */
#ifndef FL_PS_RELEASE_H
#define FL_PS_RELEASE_H

#include <openssl/ssl.h>
#include <sys/types.h>

#include "transport/proto.h"

enum ps_release_how { PS_RELEASE_KILL, PS_RELEASE_RESUME };

struct ps_release {
	const char *address;
	uint16_t port;
	enum ps_release_how how;
	enum xport_proto_ver proto; /* 4.1 or 4.2 header layout */
	SSL_CTX *tls;               /* NULL: plain TCP */
	double timeout;             /* seconds for the whole exchange (and --pid check) */
	pid_t pid;                  /* 0, or the dumped root: checked after the exchange */
	char err[512];              /* why, on failure */
};

/* Connects to CRIU's lazy page server at REL->address:port and ends its
 * session as REL->how asks.  KILL: sends CLOSE and requires CRIU's int32
 * status 0.  RESUME: sends a header with command 0, which CRIU rejects
 * ("Unknown command 0"), and requires that CRIU closes the connection
 * without a reply.  With REL->pid, then waits for that task to be gone
 * (KILL) or running again (RESUME).  Returns 0, or -errno with the reason
 * in REL->err (-ETIMEDOUT when REL->timeout ran out). */
int ps_release_run(struct ps_release *rel);

#endif
