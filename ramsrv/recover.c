// SPDX-License-Identifier: GPL-2.0
/* ramsrv: the recover command: a new server for a device whose server died. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include "ramsrv.h"
#include "cli.h"

int cmd_recover(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "id", required_argument, NULL, 'i' },
		{ "ctrl", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct rs_dev dev;
	struct rs_opts *o = &dev.opts;
	char ctrl[128] = "";
	bool fg = false;
	struct rs_state *st;
	struct rs_ent e;
	int id = -1, c, ok = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "i:c:fh", lo, NULL)) != -1) {
		switch (c) {
		case 'i': id = (int)opt_uint("--id", optarg, RS_MAX_DEV_ID); break;
		case 'c': opt_ctrl(ctrl, sizeof(ctrl), optarg); break;
		case 'f': fg = true; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: bad_opt(argc, argv, optopt);
		}
	}
	if (optind < argc)
		usage_err("recover: unexpected argument '%s'", argv[optind]);
	if (id < 0)
		usage_err("recover: --id N is required");
	if (open_dev(ctrl, id, &e, &st))
		return 1;
	/* the new server takes the dead one's configuration */
	rs_opts_default(o);
	snprintf(o->target, sizeof(o->target), "%s", st->target);
	snprintf(o->ctrl, sizeof(o->ctrl), "%s", st->ctrl);
	snprintf(o->backing, sizeof(o->backing), "%s", st->backing);
	o->size = st->size;
	o->size_set = true;
	o->queues = st->nr_queues;
	o->threads = st->nr_threads;	/* and so the layout: queues or tags */
	o->depth = st->depth;
	o->bs = st->bs;
	o->max_io = st->max_io;
	o->huge = (enum rs_huge)st->huge_opt;
	o->id = id;
	o->foreground = fg;
	dev.recover = true;
	dev.recoveries = st->recoveries + 1;
	if (pid_alive(st->pid))
		fprintf(stderr, "ramsrv: device %d: its server (pid %d) is running: nothing to recover\n",
			id, st->pid);
	else if (rs_recovery_parse(st->recovery, &o->recovery) < 0 ||
		 o->recovery == RS_REC_OFF)
		fprintf(stderr, "ramsrv: device %d was added without --recovery: it cannot be recovered (ramsrv del removes it)\n",
			id);
	else if (rs_copy_parse(st->copy_mode, &o->copy) < 0)
		fprintf(stderr, "ramsrv: device %d: unknown copy mode '%s' in its state\n",
			id, st->copy_mode);
	else
		ok = 1;
	rs_state_close(st);
	if (!ok)
		return 1;
	return launch(&dev);
}
