// SPDX-License-Identifier: GPL-2.0
/* ramsrv: the add command. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "ramsrv.h"
#include "cli.h"

static const struct option add_lo[] = {
	{ "target", required_argument, NULL, 't' },
	{ "size", required_argument, NULL, 's' },
	{ "queues", required_argument, NULL, 'q' },
	{ "threads", required_argument, NULL, 'T' },
	{ "depth", required_argument, NULL, 'd' },
	{ "bs", required_argument, NULL, 'b' },
	{ "max-io", required_argument, NULL, 'm' },
	{ "hugepages", required_argument, NULL, 'H' },
	{ "backing", required_argument, NULL, 'B' },
	{ "ctrl", required_argument, NULL, 'c' },
	{ "copy", required_argument, NULL, 'C' },
	{ "id", required_argument, NULL, 'i' },
	{ "foreground", no_argument, NULL, 'f' },
	{ "recovery", required_argument, NULL, 'R' },
	{ "pin", required_argument, NULL, 'P' },
	{ "batch", no_argument, NULL, 'A' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* one option @c of add (all but --help) into @o; exits on a bad value */
static void add_opt(struct rs_opts *o, int c, int argc, char **argv)
{
	uint64_t v;

	switch (c) {
	case 't':
		if (strlen(optarg) >= sizeof(o->target))
			usage_err("unknown target '%s'", optarg);
		strcpy(o->target, optarg);
		break;
	case 's':
		o->size = opt_size("--size", optarg);
		o->size_set = true;
		break;
	case 'q': o->queues = opt_uint("--queues", optarg, 65535); break;
	case 'T':
		o->threads = opt_uint("--threads", optarg, 65535);
		if (o->threads < 1)
			usage_err("--threads 0: a device needs at least one server thread");
		break;
	case 'd': o->depth = opt_uint("--depth", optarg, 65535); break;
	case 'b': o->bs = opt_uint("--bs", optarg, 1U << 20); break;
	case 'm':
		v = opt_size("--max-io", optarg);
		if (v > RS_MAX_MAX_IO)
			usage_err("--max-io %s: larger than 32M", optarg);
		o->max_io = (unsigned int)v;
		break;
	case 'H': o->huge = (enum rs_huge)opt_auto_on_off("--hugepages", optarg); break;
	case 'B':
		if (strlen(optarg) >= sizeof(o->backing))
			usage_err("--backing: path too long");
		strcpy(o->backing, optarg);
		break;
	case 'c':
		if (strlen(optarg) >= sizeof(o->ctrl))
			usage_err("--ctrl: path too long");
		strcpy(o->ctrl, optarg);
		break;
	case 'C':
		if (rs_copy_parse(optarg, &o->copy) < 0)
			usage_err("--copy '%s': use auto, classic, single or none",
				  optarg);
		break;
	case 'i': o->id = (int)opt_uint("--id", optarg, RS_MAX_DEV_ID); break;
	case 'f': o->foreground = true; break;
	case 'R':
		if (rs_recovery_parse(optarg, &o->recovery) < 0 ||
		    o->recovery == RS_REC_OFF)
			usage_err("--recovery '%s': use reissue, queue or fail",
				  optarg);
		break;
	case 'P': o->pin = (enum rs_pin)opt_auto_on_off("--pin", optarg); break;
	case 'A': o->batch = true; break;
	default: bad_opt(argc, argv, optopt);
	}
}

/* the options together: required ones, combinations, defaults, paths */
static void add_check_opts(struct rs_opts *o)
{
	char msg[256];

	if (!o->target[0])
		usage_err("add: -t null|ram is required");
	if (rs_opts_validate(o, msg, sizeof(msg)) < 0)
		usage_err("%s", msg);
	if (!o->ctrl[0])
		strcpy(o->ctrl, default_ctrl());
	if (o->backing[0] && o->backing[0] != '/') {
		/* the server runs in / : make the backing path absolute */
		char cwd[4096], abs[sizeof(o->backing)];

		if (!getcwd(cwd, sizeof(cwd)) ||
		    snprintf(abs, sizeof(abs), "%s/%s", cwd, o->backing) >= (int)sizeof(abs))
			usage_err("--backing: path too long");
		strcpy(o->backing, abs);
	}
	if (rs_dev_paths(o->ctrl, 0, NULL, 0, NULL, 0) < 0)
		usage_err("--ctrl %s: expected a path ending in -control", o->ctrl);
}

/* runtime checks that need no device: fail before creating anything */
static int add_precheck(const struct rs_opts *o)
{
	if (access(o->ctrl, F_OK) < 0) {
		fprintf(stderr, "ramsrv: no control node %s (is the %s module loaded?)\n",
			o->ctrl, strstr(o->ctrl, "zublk") ? "zublk" : "ublk_drv");
		return 1;
	}
	if (o->huge == RS_HUGE_ON && rs_free_hugepages() == 0) {
		fprintf(stderr, "ramsrv: --hugepages on: no free 2 MiB hugepages (see /proc/sys/vm/nr_hugepages)\n");
		return 1;
	}
	if (o->id >= 0) {
		struct rs_state *st;

		if (rs_state_open(o->ctrl, o->id, &st) == 0) {
			bool alive = pid_alive(st->pid);

			rs_state_close(st);
			if (alive) {
				fprintf(stderr, "ramsrv: device id %d is already in use\n",
					o->id);
				return 1;
			}
		}
	}
	return 0;
}

int cmd_add(int argc, char **argv)
{
	static struct rs_dev dev;
	struct rs_opts *o = &dev.opts;
	int c;

	rs_opts_default(o);
	opterr = 0;
	while ((c = getopt_long(argc, argv, "t:s:q:T:d:b:m:H:B:c:C:i:fR:P:h", add_lo, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage_text, stdout);
			return 0;
		}
		add_opt(o, c, argc, argv);
	}
	if (optind < argc)
		usage_err("add: unexpected argument '%s'", argv[optind]);
	add_check_opts(o);
	if (add_precheck(o))
		return 1;
	return launch(&dev);
}
