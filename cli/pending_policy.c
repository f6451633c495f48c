/* SPDX-License-Identifier: MIT */
/* Placeholder until the real policy_main lands: delete this file in the same change. */
#include <stdio.h>

#include "cli/cli.h"

int policy_main(int argc, char **argv)
{
	(void)argc;
	fprintf(stderr, "faultline %s: not built yet\n", argv[0]);
	return 1;
}
