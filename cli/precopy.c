/* SPDX-License-Identifier: MIT */
/* `faultline precopy send|recv|merge`: dispatch to the source and destination halves. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char precopy_usage[] =
"usage: faultline precopy send|recv|merge [OPTIONS]\n"
"\n"
"    send    track a running process tree and stream pre-copy rounds (source)\n"
"    recv    receive a pre-copy stream into a page store (destination)\n"
"    merge   fold a page store into CRIU images (destination)\n"
"\n"
"`faultline precopy SUBCOMMAND --help` describes each one.\n";

int cli_precopy_main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(precopy_usage, stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(precopy_usage, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "send"))
		return cli_precopy_send_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "recv"))
		return cli_precopy_recv_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "merge"))
		return cli_precopy_merge_main(argc - 1, argv + 1);
	fprintf(stderr, "faultline precopy: unknown subcommand '%s'\n\n%s", argv[1], precopy_usage);
	return 2;
}
