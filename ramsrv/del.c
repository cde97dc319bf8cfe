// SPDX-License-Identifier: GPL-2.0
/* ramsrv: the del command; clean-up of devices whose server died. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "ramsrv.h"
#include "cli.h"

static int pidfd_open_(int pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Delete a device whose server is gone (e.g. killed with SIGKILL). */
static int del_orphan(const struct rs_ent *e, const char *ctrl_path)
{
	int id = e->id;
	struct rs_ctrl c;
	int ret;

	if (rs_ctrl_open(&c, ctrl_path) < 0)
		return 1;
	(void)rs_ctrl_stop(&c, id);
	ret = rs_ctrl_del(&c, id);
	rs_ctrl_close(&c);
	if (ret < 0 && ret != -ENODEV && ret != -ENOENT) {
		fprintf(stderr, "ramsrv: dev %d: DEL_DEV: %s\n", id, strerror(-ret));
		return 1;
	}
	rs_state_remove(e->ctrl, id);
	return 0;
}

static int del_one(const struct rs_ent *e, int timeout_s)
{
	struct rs_state *st;
	char ctrl[128];
	int id = e->id, pid, pfd, ret;
	struct pollfd p;

	ret = rs_state_open(e->ctrl, id, &st);
	if (ret < 0) {
		fprintf(stderr, "ramsrv: no ramsrv device %d on %s\n", id, e->ctrl);
		return 1;
	}
	pid = st->pid;
	snprintf(ctrl, sizeof(ctrl), "%s", st->ctrl);
	rs_state_close(st);
	if (!pid_alive(pid))
		return del_orphan(e, ctrl);
	pfd = pidfd_open_(pid);
	if (kill(pid, SIGTERM) < 0 && errno != ESRCH) {
		fprintf(stderr, "ramsrv: dev %d: signal server %d: %s\n", id, pid,
			strerror(errno));
		if (pfd >= 0)
			close(pfd);
		return 1;
	}
	if (pfd >= 0) {
		p.fd = pfd;
		p.events = POLLIN;
		do {
			ret = poll(&p, 1, timeout_s * 1000);
		} while (ret < 0 && errno == EINTR);
		close(pfd);
		if (ret == 0) {
			fprintf(stderr, "ramsrv: dev %d: server %d did not exit within %d s\n",
				id, pid, timeout_s);
			return 1;
		}
	} else {
		int i;

		for (i = 0; i < timeout_s * 20 && pid_alive(pid); i++)
			usleep(50000);
	}
	/* the server removes its state dir last; if it is still here it died */
	if (rs_state_open(e->ctrl, id, &st) == 0) {
		rs_state_close(st);
		return del_orphan(e, ctrl);
	}
	return 0;
}

int cmd_del(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "id", required_argument, NULL, 'i' },
		{ "all", no_argument, NULL, 'a' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "ctrl", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct rs_ent ents[RS_MAX_ENTS];
	int ids[RS_MAX_ENTS], n = 0, c, i, rc = 0, timeout = 120;
	char ctrl[128] = "";
	bool all = false;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "i:ac:h", lo, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (n >= RS_MAX_ENTS)
				usage_err("del: too many ids");
			ids[n++] = (int)opt_uint("--id", optarg, RS_MAX_DEV_ID);
			break;
		case 'c': opt_ctrl(ctrl, sizeof(ctrl), optarg); break;
		case 'a': all = true; break;
		case 'T': timeout = (int)opt_uint("--timeout", optarg, 86400); break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: bad_opt(argc, argv, optopt);
		}
	}
	if (optind < argc)
		usage_err("del: unexpected argument '%s'", argv[optind]);
	if (all == !!n)
		usage_err("del: give --id N or --all");
	if (all) {
		/* every driver's devices, or --ctrl's */
		n = rs_state_list(ctrl[0] ? ctrl : NULL, ents, RS_MAX_ENTS);
		for (i = 0; i < n; i++)
			rc |= del_one(&ents[i], timeout);
		return rc;
	}
	for (i = 0; i < n; i++) {
		struct rs_ent e;

		if (find_dev(ctrl, ids[i], &e)) {
			rc = 1;
			continue;
		}
		rc |= del_one(&e, timeout);
	}
	return rc;
}
