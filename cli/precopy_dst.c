/* SPDX-License-Identifier: MIT */
/* `faultline precopy recv` and `faultline precopy merge`: the destination
 * half of pre-copy (images/precopy.h does the work). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "images/precopy.h"

static const char recv_usage[] =
"NAME\n"
"    faultline precopy recv - receive a pre-copy stream into a page store\n"
"\n"
"SYNOPSIS\n"
"    faultline precopy recv -D STORE [--input FILE] [--stats FILE]\n"
"\n"
"DESCRIPTION\n"
"    Reads the FLPC v1 stream that `faultline precopy send` writes (on stdin,\n"
"    or from --input) and keeps, per task, the latest copy of every page and\n"
"    which pages were invalidated (written after their last copy).  Page data\n"
"    goes to STORE/precopy-<pid>.pages as it arrives; memory holds only an\n"
"    index of runs.  When the stream's END record arrives and its totals\n"
"    match, STORE/precopy-<pid>.idx lists the runs of valid pages; `faultline\n"
"    precopy merge` then folds them into the dump.  STORE is created if\n"
"    missing; precopy-* files from an earlier run are removed first.\n"
"\n"
"    A stream that is truncated or malformed (bad magic or version, unknown\n"
"    record type, unaligned address, bad length, END missing or with totals\n"
"    that do not match, bytes after END) is rejected with a message naming\n"
"    the byte offset, and no index is written.\n"
"\n"
"OPTIONS\n"
"    -D, --store DIR        the page store (required)\n"
"    -i, --input FILE       read the stream from FILE instead of stdin\n"
"    --stats FILE           write JSON: pages received, valid, invalidated,\n"
"                           rounds, bytes, pids\n"
"    -h, --help             this text\n"
"\n"
"EXIT STATUS\n"
"    0 the stream was complete and is stored; 1 it was not (or I/O failed);\n"
"    2 usage error.\n";

static const char merge_usage[] =
"NAME\n"
"    faultline precopy merge - fold a pre-copy page store into CRIU images\n"
"\n"
"SYNOPSIS\n"
"    faultline precopy merge --store STORE -D IMGDIR --mode full|lazy [--stats FILE]\n"
"\n"
"DESCRIPTION\n"
"    IMGDIR holds the images of `criu dump --lazy-pages` (lazy pages with\n"
"    pagemap flags PE_LAZY and no data; the rest PE_PRESENT with data in\n"
"    pages-<id>.img).  For every task of pstree.img each lazy page with a\n"
"    valid copy in STORE (from `faultline precopy recv`) gets that data:\n"
"\n"
"    --mode full   the page becomes PE_PRESENT, so a plain `criu restore`\n"
"                  restores everything.  A lazy page without a valid copy is\n"
"                  an error: the count per pid is printed and nothing changes.\n"
"    --mode lazy   the page becomes PE_PRESENT|PE_LAZY (data local); the rest\n"
"                  stay PE_LAZY and are fetched from the source after\n"
"                  `criu restore --lazy-pages` by `faultline lazy-pages\n"
"                  --page-server`, which reads the local ones from the images.\n"
"\n"
"    Non-lazy pages keep their data.  Each rewritten task gets a new\n"
"    pages-<id>.img under a fresh id, then its pagemap-<pid>.img is replaced\n"
"    (both written to a temp file and renamed), then the old pages file is\n"
"    removed; a crash leaves either the old or the new pair.  The pagemap\n"
"    keeps the layout it had (CRIU 4.1: field 2; 4.2: field 5).\n"
"\n"
"OPTIONS\n"
"    --store DIR            the page store (required)\n"
"    -D, --images-dir DIR   the dump to rewrite in place (required)\n"
"    --mode full|lazy       see above (required)\n"
"    --stats FILE           write JSON: pages local, remote and kept, per pid\n"
"    -h, --help             this text\n"
"\n"
"EXIT STATUS\n"
"    0 merged; 1 failed (full mode: lazy pages without data); 2 usage error.\n";

static FILE *open_stats(const char *path)
{
	FILE *f = fopen(path, "we");

	if (!f)
		fprintf(stderr, "precopy: --stats %s: %s\n", path, strerror(errno));
	return f;
}

static int recv_stats(const char *path, const struct img_pc_recv_stats *s)
{
	FILE *f = open_stats(path);

	if (!f)
		return -errno;
	fprintf(f, "{\"received\": %llu, \"valid\": %llu, \"invalidated\": %llu, \"rounds\": %llu, "
		"\"bytes\": %llu, \"pids\": %zu}\n", (unsigned long long)s->received,
		(unsigned long long)s->valid, (unsigned long long)s->invalidated,
		(unsigned long long)s->rounds, (unsigned long long)s->bytes, s->nr_pids);
	return fclose(f) ? -errno : 0;
}

int cli_precopy_recv_main(int argc, char **argv)
{
	enum { OPT_STATS = 0x100 };
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, 'D' },
		{ "input", required_argument, NULL, 'i' },
		{ "stats", required_argument, NULL, OPT_STATS },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *store = NULL, *input = NULL, *stats = NULL;
	struct img_pc_recv_stats st;
	struct img_err err = { "" };
	int opt, fd = 0, ret;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "D:i:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'D': store = optarg; break;
		case 'i': input = optarg; break;
		case OPT_STATS: stats = optarg; break;
		case 'h': fputs(recv_usage, stdout); return 0;
		default: fprintf(stderr, "Try 'faultline precopy recv --help'.\n"); return 2;
		}
	}
	if (!store || optind < argc) {
		fprintf(stderr, "precopy recv: %s\n", store ? "unexpected argument" :
			"-D/--store is required");
		return 2;
	}
	if (input && (fd = open(input, O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "precopy recv: %s: %s\n", input, strerror(errno));
		return 1;
	}
	ret = img_pc_recv(fd, store, &st, &err);
	if (input)
		close(fd);
	if (ret) {
		fprintf(stderr, "precopy recv: %s%s: %s\n", input ? input : "stdin",
			"", err.msg[0] ? err.msg : strerror(-ret));
		return 1;
	}
	fprintf(stderr, "precopy recv: %llu pages received in %llu rounds (%llu bytes); %llu "
		"valid, %llu invalidated, %zu pids\n", (unsigned long long)st.received,
		(unsigned long long)st.rounds, (unsigned long long)st.bytes,
		(unsigned long long)st.valid, (unsigned long long)st.invalidated, st.nr_pids);
	return stats && recv_stats(stats, &st) ? 1 : 0;
}

static int merge_stats(const char *path, const struct img_pc_merge_stats *s)
{
	FILE *f = open_stats(path);
	uint64_t local = 0, remote = 0;

	if (!f)
		return -errno;
	fprintf(f, "{\"pids\": [");
	for (size_t i = 0; i < s->n; i++) {
		const struct img_pc_merge_pid *p = &s->pids[i];
		fprintf(f, "%s{\"pid\": %d, \"local\": %llu, \"remote\": %llu, \"kept\": %llu}",
			i ? ", " : "", p->pid, (unsigned long long)p->local,
			(unsigned long long)p->remote, (unsigned long long)p->kept);
		local += p->local;
		remote += p->remote;
	}
	fprintf(f, "], \"local\": %llu, \"remote\": %llu}\n", (unsigned long long)local,
		(unsigned long long)remote);
	return fclose(f) ? -errno : 0;
}

static int parse_mode(const char *arg, enum img_pc_mode *mode)
{
	if (!strcmp(arg, "full"))
		*mode = IMG_PC_FULL;
	else if (!strcmp(arg, "lazy"))
		*mode = IMG_PC_LAZY;
	else
		return -EINVAL;
	return 0;
}

int cli_precopy_merge_main(int argc, char **argv)
{
	enum { OPT_STORE = 0x100, OPT_MODE, OPT_STATS };
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, OPT_STORE },
		{ "images-dir", required_argument, NULL, 'D' },
		{ "mode", required_argument, NULL, OPT_MODE },
		{ "stats", required_argument, NULL, OPT_STATS },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *store = NULL, *imgdir = NULL, *stats = NULL;
	enum img_pc_mode mode = IMG_PC_FULL;
	struct img_pc_merge_stats st;
	struct img_err err = { "" };
	int opt, have_mode = 0, ret;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "D:h", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_STORE: store = optarg; break;
		case 'D': imgdir = optarg; break;
		case OPT_STATS: stats = optarg; break;
		case OPT_MODE:
			if (parse_mode(optarg, &mode)) {
				fprintf(stderr, "precopy merge: --mode: 'full' or 'lazy', not '%s'\n",
					optarg);
				return 2;
			}
			have_mode = 1;
			break;
		case 'h': fputs(merge_usage, stdout); return 0;
		default: fprintf(stderr, "Try 'faultline precopy merge --help'.\n"); return 2;
		}
	}
	if (!store || !imgdir || !have_mode || optind < argc) {
		fprintf(stderr, "precopy merge: --store, -D and --mode are required%s\n",
			optind < argc ? " (and no other arguments)" : "");
		return 2;
	}
	ret = img_pc_merge(store, imgdir, mode, &st, &err);
	for (size_t i = 0; i < st.n; i++)
		fprintf(stderr, "precopy merge: pid %d: %llu lazy pages local, %llu remote, %llu "
			"non-lazy pages kept\n", st.pids[i].pid, (unsigned long long)st.pids[i].local,
			(unsigned long long)st.pids[i].remote, (unsigned long long)st.pids[i].kept);
	if (ret)
		fprintf(stderr, "precopy merge: %s\n", err.msg[0] ? err.msg : strerror(-ret));
	else if (stats && merge_stats(stats, &st))
		ret = -EIO;
	free(st.pids);
	return ret ? 1 : 0;
}
