/* SPDX-License-Identifier: MIT */
/* Placeholder until the real precopy_send_main lands: delete this file in the same change. */
#include <stdio.h>

#include "cli/cli.h"

int precopy_send_main(int argc, char **argv)
{
	(void)argc;
	fprintf(stderr, "faultline %s: not built yet\n", argv[0]);
	return 1;
}
