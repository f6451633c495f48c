/* SPDX-License-Identifier: MIT */
/* `faultline migrate`: the migration harness.  It is orchestration of CRIU, the
 * lab's namespaces and faultline's own commands, so it lives in a script,
 * bench/migrate.sh, next to the binary's source tree; this runs it with the same
 * arguments and tells it which faultline binary to use. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

/* The script: $FAULTLINE_MIGRATE, or ../bench/migrate.sh from the directory of this
 * binary (build/faultline in the source tree).  Returns 0 or -errno. */
static int migrate_script(char *exe, size_t elen, char *script, size_t slen)
{
	const char *env = getenv("FAULTLINE_MIGRATE");
	char dir[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, elen - 1);

	if (n < 0)
		return -errno;
	exe[n] = '\0';
	if (env && *env) {
		snprintf(script, slen, "%s", env);
	} else {
		snprintf(dir, sizeof(dir), "%s", exe);
		if ((size_t)snprintf(script, slen, "%s/../bench/migrate.sh", dirname(dir)) >= slen)
			return -ENAMETOOLONG;
	}
	return access(script, R_OK) ? -errno : 0;
}

int cli_migrate_main(int argc, char **argv)
{
	char exe[PATH_MAX], script[PATH_MAX];
	char **args = calloc((size_t)argc + 2, sizeof(*args));
	int err;

	if (!args)
		return 1;
	err = migrate_script(exe, sizeof(exe), script, sizeof(script));
	if (err) {
		fprintf(stderr, "faultline migrate: cannot find bench/migrate.sh (%s); set "
			"FAULTLINE_MIGRATE to its path\n", strerror(-err));
		free(args);
		return 1;
	}
	setenv("FAULTLINE", exe, 0);
	args[0] = "bash";
	args[1] = script;
	for (int i = 1; i < argc; i++)
		args[i + 1] = argv[i];
	execvp("bash", args);
	fprintf(stderr, "faultline migrate: cannot run bash: %s\n", strerror(errno));
	free(args);
	return 1;
}
