/* SPDX-License-Identifier: MIT */
/* Subcommands of the faultline binary, dispatched from cli/main.c. */
#ifndef FL_CLI_H
#define FL_CLI_H

/* `faultline pki ...`: ARGV[0] is "pki", ARGV[1] the pki subcommand ("init").
 * Returns the process exit status: 0 success, 1 failure, 2 usage error.
 * Uses getopt_long (resets optind), so call it from the main thread only. */
int cli_pki_main(int argc, char **argv);

/* `faultline page-server ...`: ARGV[0] is "page-server".  Same exit codes. */
int ps_main(int argc, char **argv);

/* `faultline lazy-pages ...`: ARGV[0] is "lazy-pages".  Same exit codes. */
int uffd_lp_main(int argc, char **argv);

/* `faultline probe ...`: ARGV[0] is "probe", ARGV[1] the probe ("fault-latency",
 * "hotness").  Loads BPF programs, so it needs root (CAP_BPF, CAP_PERFMON).
 * Same exit codes; 1 also when BPF is unavailable (built without it, no
 * kernel BTF, no permission).  Main thread only. */
int probe_main(int argc, char **argv);

/* The commands below follow the same conventions (ARGV[0] is the command name;
 * exit status 0 success, 1 failure, 2 usage error). */
int cli_migrate_main(int argc, char **argv);         /* cli/migrate.c */
int cli_precopy_main(int argc, char **argv);         /* cli/precopy.c: send, recv, merge */
int cli_precopy_send_main(int argc, char **argv);
int cli_precopy_recv_main(int argc, char **argv);
int cli_precopy_merge_main(int argc, char **argv);
int cli_pipe_main(int argc, char **argv);        /* cli/pipe.c */
int ps_release_main(int argc, char **argv);      /* pageserver/release.c */
int bench_policy_main(int argc, char **argv);          /* bench/policy/ */

#endif
