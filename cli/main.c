/* SPDX-License-Identifier: MIT */
/* faultline: post-copy live migration for CRIU.  Subcommand dispatch. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] =
"usage: faultline COMMAND [ARGS]\n"
"\n"
"Post-copy live migration of Linux processes with CRIU.\n"
"\n"
"Commands:\n"
"    page-server   serve the lazy pages of a CRIU dump (source side)\n"
"    lazy-pages    the fault handler for `criu restore --lazy-pages` (destination)\n"
"    probe         BPF probes: `probe fault-latency` (destination), `probe hotness`\n"
"    pki           make a CA and TLS certificates: `faultline pki init DIR`\n"
"    migrate       migrate a running process tree between two hosts (the lab)\n"
"    precopy       pre-copy rounds: `precopy send` (source), `recv`, `merge` (destination)\n"
"    pipe          a mutual-TLS byte pipe for images and pre-copy streams\n"
"    criu-release  end a `criu dump --lazy-pages` session: kill or resume its tasks\n"
"    policy        choose the migration mode (pre-copy, post-copy, hybrid) from measurements\n"
"\n"
"`faultline COMMAND --help` describes each one.\n";

struct command {
	const char *name;
	int (*main)(int argc, char **argv);
};

static const struct command commands[] = {
	{ "page-server", ps_main },
	{ "lazy-pages", uffd_lp_main },
	{ "pki", cli_pki_main },
	{ "probe", probe_main },
	{ "migrate", cli_migrate_main },
	{ "precopy", cli_precopy_main },
	{ "pipe", cli_pipe_main },
	{ "criu-release", ps_release_main },
	{ "policy", bench_policy_main },
};

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		fputs(usage, stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].main(argc - 1, argv + 1);
	fprintf(stderr, "faultline: unknown command '%s'\n\n%s", argv[1], usage);
	return 2;
}
