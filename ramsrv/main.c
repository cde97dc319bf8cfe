// SPDX-License-Identifier: GPL-2.0
/* ramsrv: command line: add, del, list, stats. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "ramsrv.h"

#define EXIT_USAGE 2

static const char usage_text[] =
"usage: ramsrv add -t null|ram [--size SIZE] [--queues N] [--depth N] [--bs 512|4096]\n"
"                  [--max-io SIZE] [--hugepages auto|on|off] [--backing PATH]\n"
"                  [--copy auto|classic|single|none] [--ctrl PATH] [--id N]\n"
"                  [--pin auto|on|off] [--recovery reissue|queue|fail]\n"
"                  [--foreground]\n"
"       ramsrv del [--ctrl PATH] --id N | --all\n"
"       ramsrv list [--ctrl PATH] [--json]\n"
"       ramsrv stats [--ctrl PATH] --id N [--json]\n"
"       ramsrv recover [--ctrl PATH] --id N [--foreground]\n"
"       ramsrv features [--ctrl PATH]\n"
"       ramsrv --help\n"
"\n"
"A ublk-protocol server for RAM and null block devices.\n"
"\n"
"add  creates a device, prints \"ID /dev/...bID\" and returns once the block\n"
"     device is live, leaving the server in the background (--foreground: stay).\n"
"  -t, --target null|ram  null completes every request without touching data;\n"
"                         ram keeps --size bytes (fresh store reads zeros)\n"
"  -s, --size SIZE        device size, a multiple of --bs (K/M/G/T suffixes;\n"
"                         default 1G, or the backing file's size)\n"
"  -q, --queues N         hardware queues, one pinned thread each (1-64, default 1)\n"
"  -d, --depth N          queue depth (1-4096, default 128)\n"
"  -b, --bs 512|4096      logical block size (default 512)\n"
"  -m, --max-io SIZE      largest request, 4K-32M (default 256K)\n"
"  -H, --hugepages MODE   io buffers on 2 MiB hugepages: auto (fall back to\n"
"                         normal pages with a warning; default), on (fail when\n"
"                         none are free), off\n"
"  -B, --backing PATH     ram store in this file on tmpfs or hugetlbfs, created or\n"
"                         reused; its data outlives the server\n"
"  -C, --copy MODE        how data moves (default classic): classic (the driver\n"
"                         copies to an io buffer, ram copies that to its store),\n"
"                         single (one copy: zublk's ZUBLK_F_STORE, the driver\n"
"                         copies to/from the registered store at commit; else\n"
"                         UBLK_F_USER_COPY, one pread/pwrite; no io buffers),\n"
"                         none (null only: no data moved; STORE or USER_COPY),\n"
"                         auto (the cheapest the driver offers)\n"
"  -P, --pin MODE         classic io buffers pinned once by zublk\n"
"                         (ZUBLK_F_PIN_BUF): auto (when offered; default), on\n"
"                         (fail if not), off (pinned per IO)\n"
"  -c, --ctrl PATH        control node (default /dev/zublk-control if present,\n"
"                         else /dev/ublk-control)\n"
"  -i, --id N             device id (default: the driver picks)\n"
"  -f, --foreground       serve in the foreground until SIGTERM/SIGINT\n"
"  -R, --recovery MODE    keep the device when the server dies, for `ramsrv\n"
"                         recover`: reissue (IO waits; requests the dead\n"
"                         server held are issued again), queue (IO waits;\n"
"                         those fail), fail (all IO fails until recovered).\n"
"                         -t ram needs --backing (the data must outlive the\n"
"                         server)\n"
"\n"
"Memory: in classic mode each queue's io buffers (depth x max-io) are allocated on the NUMA node\n"
"of the CPUs the queue serves and backed by 2 MiB hugepages. The ram store uses\n"
"hugepages when possible (else THP-advised pages) with an interleave policy\n"
"across the nodes of the device's queues (preferred node with one node).\n"
"\n"
"del  stops and deletes a device and waits for its server to exit (a backing\n"
"     file is synced when it returns). list and stats read /run/ramsrv/CTRL/ID/\n"
"     (CTRL: the control node's name, e.g. zublk-control). Each driver numbers\n"
"     its devices from 0: --ctrl picks the driver; without it --id must be\n"
"     unique across drivers, and list and del --all cover every driver.\n"
"\n"
"recover  starts a new server for a --recovery device whose server died,\n"
"     with the same configuration (START/END_USER_RECOVERY).\n"
"features  prints the driver's GET_FEATURES flags.\n"
"\n"
"Environment: RAMSRV_SPIN=N polls a queue ring N times before sleeping\n"
"(default 50, 0 = off). Manual: ramsrv(8).\n"
"\n"
"Exit status: 0 ok, 1 runtime error, 2 usage error.\n";

static void usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void usage_err(const char *fmt, ...)
{
	va_list ap;

	fputs("ramsrv: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see ramsrv --help)\n", stderr);
	exit(EXIT_USAGE);
}

static void bad_opt(int argc, char **argv, int optopt_c)
{
	const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "?";

	if (optopt_c && optopt_c != '?' && strncmp(arg, "--", 2))
		usage_err("unknown or incomplete option '-%c'", optopt_c);
	usage_err("unknown or incomplete option '%s'", arg);
}

static unsigned int opt_uint(const char *name, const char *v, unsigned long max)
{
	unsigned long n;

	if (rs_parse_uint(v, max, &n) < 0)
		usage_err("%s '%s': not a number in range 0-%lu", name, v, max);
	return (unsigned int)n;
}

static uint64_t opt_size(const char *name, const char *v)
{
	uint64_t n;

	if (rs_parse_size(v, &n) < 0)
		usage_err("%s '%s': not a size (e.g. 4096, 64K, 1G)", name, v);
	return n;
}

/* auto|on|off -> 0|1|2, the order of enum rs_huge and enum rs_pin */
static int opt_auto_on_off(const char *name, const char *v)
{
	static const char *const w[] = { "auto", "on", "off" };
	int i;

	for (i = 0; i < 3; i++)
		if (!strcmp(v, w[i]))
			return i;
	usage_err("%s '%s': use auto, on or off", name, v);
}

static const char *default_ctrl(void)
{
	return access("/dev/zublk-control", F_OK) == 0 ? "/dev/zublk-control" :
							 "/dev/ublk-control";
}

static bool pid_alive(int pid)
{
	char path[64], buf[256], *p;
	FILE *f;
	bool alive = false;

	if (pid <= 0 || kill(pid, 0) < 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (fgets(buf, sizeof(buf), f)) {
		p = strrchr(buf, ')');
		alive = strstr(buf, "(ramsrv)") && p && p[1] == ' ' &&
			p[2] != 'Z' && p[2] != 'X';
	}
	fclose(f);
	return alive;
}

static const char *state_name(const struct rs_state *st)
{
	if (!pid_alive(st->pid))
		return "dead";
	switch (st->state) {
	case RS_ST_STARTING: return "starting";
	case RS_ST_LIVE: return "live";
	case RS_ST_STOPPING: return "stopping";
	case RS_ST_STOPPED: return "stopped";
	}
	return "unknown";
}

/* "zublk-control" -> "zublk": the driver column of list */
static void driver_name(const char *ctrl, char *buf, size_t len)
{
	const char *b = rs_ctrl_base(ctrl);
	size_t l = strlen(b);

	if (l > 8 && !strcmp(b + l - 8, "-control"))
		l -= 8;
	snprintf(buf, len, "%.*s", (int)l, b);
}

/* --ctrl for del/list/stats: a control node path or name */
static void opt_ctrl(char *dst, size_t len, const char *v)
{
	if (strlen(v) >= len)
		usage_err("--ctrl: path too long");
	if (rs_dev_paths(v, 0, NULL, 0, NULL, 0) < 0)
		usage_err("--ctrl %s: expected a path ending in -control", v);
	strcpy(dst, v);
}

/*
 * The device --id @id names, under @ctrl or (empty @ctrl) under any control
 * node as long as only one has that id. 0, or 1 after an error line.
 */
static int find_dev(const char *ctrl, int id, struct rs_ent *out)
{
	static struct rs_ent ents[RS_MAX_ENTS];
	char names[256] = "";
	int n, i, found = 0;

	n = rs_state_list(ctrl[0] ? ctrl : NULL, ents, RS_MAX_ENTS);
	for (i = 0; i < n; i++) {
		if (ents[i].id != id)
			continue;
		if (found++)
			strncat(names, ", ", sizeof(names) - strlen(names) - 1);
		strncat(names, ents[i].ctrl, sizeof(names) - strlen(names) - 1);
		*out = ents[i];
	}
	if (found == 1)
		return 0;
	if (!found)
		fprintf(stderr, "ramsrv: no ramsrv device %d%s%s\n", id,
			ctrl[0] ? " on " : "", ctrl[0] ? ctrl : "");
	else
		fprintf(stderr, "ramsrv: device id %d exists on %d control nodes (%s): give --ctrl\n",
			id, found, names);
	return 1;
}

/* find_dev(), then the device's state (read-only). 0, or 1 after an error line. */
static int open_dev(const char *ctrl, int id, struct rs_ent *e, struct rs_state **st)
{
	if (find_dev(ctrl, id, e))
		return 1;
	if (rs_state_open(e->ctrl, id, st) < 0) {
		fprintf(stderr, "ramsrv: no ramsrv device %d on %s\n", id, e->ctrl);
		return 1;
	}
	return 0;
}

/*
 * Run the server for @dev: in the foreground, or forked into the background
 * once it reports the device live (or its one-line error) through a pipe.
 */
static int launch(struct rs_dev *dev)
{
	struct rs_opts *o = &dev->opts;
	char buf[600];
	int pfd[2], status;
	pid_t pid;
	ssize_t n, got = 0;

	if (o->foreground)
		return rs_serve(dev, -1) < 0 ? 1 : 0;

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		perror("ramsrv: pipe");
		return 1;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("ramsrv: fork");
		return 1;
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);

		close(pfd[0]);
		setsid();
		if (chdir("/") < 0)
			_exit(1);
		if (nul >= 0) {
			dup2(nul, STDIN_FILENO);
			dup2(nul, STDOUT_FILENO);
			close(nul);
		}
		rs_quiet = true;	/* errors travel through the pipe */
		_exit(rs_serve(dev, pfd[1]) < 0 ? 1 : 0);
	}
	close(pfd[1]);
	while (got < (ssize_t)sizeof(buf) - 1) {
		n = read(pfd[0], buf + got, sizeof(buf) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += n;
		if (memchr(buf, '\n', (size_t)got))
			break;
	}
	close(pfd[0]);
	buf[got] = '\0';
	if (!strncmp(buf, "OK ", 3)) {
		fputs(buf + 3, stdout);
		return 0;
	}
	waitpid(pid, &status, 0);
	if (!strncmp(buf, "E ", 2)) {
		fprintf(stderr, "ramsrv: %s", buf + 2);
		if (!strchr(buf, '\n'))
			fputc('\n', stderr);
	} else {
		fprintf(stderr, "ramsrv: server exited during setup (status %d)\n",
			status);
	}
	return 1;
}

/* ---------------- add ---------------- */
static int cmd_add(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "target", required_argument, NULL, 't' },
		{ "size", required_argument, NULL, 's' },
		{ "queues", required_argument, NULL, 'q' },
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
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct rs_dev dev;
	struct rs_opts *o = &dev.opts;
	char msg[256];
	uint64_t v;
	int c;

	rs_opts_default(o);
	opterr = 0;
	while ((c = getopt_long(argc, argv, "t:s:q:d:b:m:H:B:c:C:i:fR:P:h", lo, NULL)) != -1) {
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
		case 'h': fputs(usage_text, stdout); return 0;
		default: bad_opt(argc, argv, optopt);
		}
	}
	if (optind < argc)
		usage_err("add: unexpected argument '%s'", argv[optind]);
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

	/* runtime checks that need no device: fail before creating anything */
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

	return launch(&dev);
}

/* ---------------- del ---------------- */
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

static int cmd_del(int argc, char **argv)
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

/* ---------------- list / stats ---------------- */

/*
 * The driver's state of device @id (GET_DEV_INFO on its control node):
 * "LIVE", "QUIESCED", "FAIL_IO", "DEAD", or "-" when it cannot be asked
 * (no such device, control node not accessible). Control nodes stay open
 * for the rest of the command.
 */
static const char *dev_state(const char *ctrl_path, int id)
{
	static struct { char path[128]; struct rs_ctrl c; int ok; } cache[4];
	static int ncache;
	struct ublksrv_ctrl_dev_info info;
	int i;

	for (i = 0; i < ncache && strcmp(cache[i].path, ctrl_path); i++)
		;
	if (i == ncache) {
		if (ncache == 4)
			return "-";
		snprintf(cache[i].path, sizeof(cache[i].path), "%s", ctrl_path);
		rs_quiet = true;
		cache[i].ok = rs_ctrl_open(&cache[i].c, ctrl_path) == 0;
		rs_quiet = false;
		ncache++;
	}
	if (!cache[i].ok || rs_ctrl_get_info(&cache[i].c, id, &info) < 0)
		return "-";
	return rs_dev_state_name(info.state);
}

static void copy_label(const struct rs_state *st, char *buf, size_t len)
{
	if (st->copy_path[0])
		snprintf(buf, len, "%s/%s", st->copy_mode, st->copy_path);
	else
		snprintf(buf, len, "%s", st->copy_mode);
}

static void print_list(const struct rs_ent *e, const struct rs_state *st,
		       bool json, bool first)
{
	char drv[64], copy[40];
	const char *dst = dev_state(st->ctrl, st->dev_id);
	unsigned int i;

	driver_name(e->ctrl, drv, sizeof(drv));
	copy_label(st, copy, sizeof(copy));
	if (!json) {
		printf("%-6s %-4d %-5s %14llu %6u %5u %-14s %-7s %7d %-8s %-8s %s\n",
		       drv, st->dev_id, st->target, (unsigned long long)st->size,
		       st->nr_queues, st->depth, copy, st->recovery, st->pid,
		       state_name(st), dst, st->bdev);
		for (i = 0; i < st->nr_queues && i < RS_MAX_QUEUES; i++) {
			if (!st->q[i].buf_len)	/* single/none: nothing allocated */
				printf("            q%-3u cpus %-8s no io buffers\n",
				       i, st->q[i].cpus);
			else
				printf("            q%-3u cpus %-8s node %d buf %s\n", i,
				       st->q[i].cpus, st->q[i].node,
				       st->q[i].huge ? "hugepage" : "normal");
		}
		return;
	}
	printf("%s\n  {\"id\": %d, \"driver\": \"%s\", \"target\": \"%s\", \"size\": %llu, \"queues\": %u, "
	       "\"depth\": %u, \"bs\": %u, \"max_io\": %u, \"pid\": %d, "
	       "\"state\": \"%s\", \"bdev\": \"%s\", \"ctrl\": \"%s\", "
	       "\"backing\": \"%s\", \"store\": \"%s\", \"store_policy\": \"%s\", \"copy\": \"%s\", "
	       "\"copy_mode\": \"%s\", \"copy_path\": \"%s\", \"recovery\": \"%s\", "
	       "\"recoveries\": %u, \"dev_state\": \"%s\", \"flags\": \"0x%llx\",\n"
	       "   \"queue\": [",
	       first ? "" : ",", st->dev_id, drv, st->target,
	       (unsigned long long)st->size, st->nr_queues, st->depth, st->bs,
	       st->max_io, st->pid, state_name(st), st->bdev, st->ctrl,
	       st->backing, st->store_huge ? "hugepage" : "normal",
	       st->store_policy, st->copy, st->copy_mode, st->copy_path,
	       st->recovery, st->recoveries, dst, (unsigned long long)st->dev_flags);
	for (i = 0; i < st->nr_queues && i < RS_MAX_QUEUES; i++)
		printf("%s\n     {\"q\": %u, \"cpus\": \"%s\", \"node\": %d, "
		       "\"want_node\": %d, \"buf\": \"%s\", \"buf_addr\": \"0x%llx\", "
		       "\"buf_len\": %llu, \"tid\": %u}", i ? "," : "", i,
		       st->q[i].cpus, st->q[i].node, st->q[i].want_node,
		       !st->q[i].buf_len ? "none" : st->q[i].huge ? "hugepage" : "normal",
		       (unsigned long long)st->q[i].buf_addr,
		       (unsigned long long)st->q[i].buf_len, st->q[i].tid);
	printf("]}");
}

static int cmd_list(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "ctrl", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct rs_ent ents[RS_MAX_ENTS];
	int n, i, c, shown = 0;
	char ctrl[128] = "";
	bool json = false;
	struct rs_state *st;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "jc:h", lo, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'c': opt_ctrl(ctrl, sizeof(ctrl), optarg); break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: bad_opt(argc, argv, optopt);
		}
	}
	if (optind < argc)
		usage_err("list: unexpected argument '%s'", argv[optind]);
	n = rs_state_list(ctrl[0] ? ctrl : NULL, ents, RS_MAX_ENTS);
	if (json)
		printf("[");
	else
		printf("%-6s %-4s %-5s %14s %6s %5s %-14s %-7s %7s %-8s %-8s %s\n",
		       "DRIVER", "ID", "TGT", "SIZE", "QUEUES", "DEPTH", "COPY",
		       "RECOV", "PID", "STATE", "DEV", "BDEV");
	for (i = 0; i < n; i++) {
		if (rs_state_open(ents[i].ctrl, ents[i].id, &st) < 0)
			continue;
		print_list(&ents[i], st, json, !shown++);
		rs_state_close(st);
	}
	if (json)
		printf("%s]\n", shown ? "\n" : "");
	return 0;
}

/* zublk's counters for queue @q of char node @cdev; false when absent */
static bool read_drvq(const char *cdev, unsigned int q, struct rs_drvq *dq)
{
	char path[RS_PATH_MAX], buf[2048];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/queue%u", ZUBLK_DEBUGFS_DIR,
		 rs_ctrl_base(cdev), q);
	f = fopen(path, "r");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return rs_drv_parse(buf, dq) > 0;
}

/* the driver's figures: a JSON object (null when absent) or a text line */
static void print_drvq(const struct rs_drvq *dq, bool json)
{
	int k, n = 0;

	if (json && !dq) {
		printf("null");
		return;
	}
	printf(json ? "{" : "     driver:");
	for (k = 0; k < RS_DRV_NR; k++) {
		if (!(dq->seen & (1U << k)))
			continue;
		printf(json ? "%s\"%s\": %llu" : "%s %s %llu", json && n++ ? ", " : "",
		       rs_drv_names[k], (unsigned long long)dq->v[k]);
	}
	if (!json && dq->v[RS_DRV_TW_BATCHES])
		printf(" (%.2f requests per task-work run)",
		       (double)dq->v[RS_DRV_TW_REQUESTS] / (double)dq->v[RS_DRV_TW_BATCHES]);
	printf(json ? "}" : "\n");
}

static int cmd_stats(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "id", required_argument, NULL, 'i' },
		{ "json", no_argument, NULL, 'j' },
		{ "ctrl", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct rs_state *st;
	struct rs_ent e;
	char ctrl[128] = "", drv[64], copy[40], cdev[64];
	bool json = false;
	int id = -1, c;
	unsigned int i;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "i:jc:h", lo, NULL)) != -1) {
		switch (c) {
		case 'i': id = (int)opt_uint("--id", optarg, RS_MAX_DEV_ID); break;
		case 'c': opt_ctrl(ctrl, sizeof(ctrl), optarg); break;
		case 'j': json = true; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: bad_opt(argc, argv, optopt);
		}
	}
	if (optind < argc)
		usage_err("stats: unexpected argument '%s'", argv[optind]);
	if (id < 0)
		usage_err("stats: --id N is required");
	if (open_dev(ctrl, id, &e, &st))
		return 1;
	driver_name(e.ctrl, drv, sizeof(drv));
	copy_label(st, copy, sizeof(copy));
	if (rs_dev_paths(st->ctrl, id, cdev, sizeof(cdev), NULL, 0) < 0)
		cdev[0] = '\0';
	if (json)
		printf("{\"id\": %d, \"driver\": \"%s\", \"state\": \"%s\", \"target\": \"%s\", "
		       "\"copy_mode\": \"%s\", \"copy_path\": \"%s\", \"queues\": [", id, drv,
		       state_name(st), st->target, st->copy_mode, st->copy_path);
	else
		printf("%s dev %d (%s, copy %s, %s)\n%-4s %12s %14s %10s %10s %10s %12s %10s %14s %10s %14s\n",
		       drv, id, st->target, copy, state_name(st), "Q", "REQS",
		       "BYTES", "ENTERS", "CQE/ENTER", "CQE/SLEEP", "HANDLE_NS/IO",
		       "COPIES", "COPY_BYTES", "UCOPIES", "UCOPY_BYTES");
	for (i = 0; i < st->nr_queues && i < RS_MAX_QUEUES; i++) {
		const struct rs_qstate *q = &st->q[i];
		uint64_t reqs = q->reqs, enters = q->enters, cqes = q->cqes;
		double per = enters ? (double)cqes / (double)enters : 0;
		double ns = reqs ? (double)q->handle_ns / (double)reqs : 0;
		double persl = q->sleeps ? (double)cqes / (double)q->sleeps : 0;
		struct rs_drvq dq;
		bool have = cdev[0] && read_drvq(cdev, i, &dq);

		if (json) {
			printf("%s\n  {\"q\": %u, \"requests\": %llu, \"bytes\": %llu, "
			       "\"enters\": %llu, \"sleeps\": %llu, \"cqes\": %llu, "
			       "\"copies\": %llu, \"copy_bytes\": %llu, \"handle_ns\": %llu, "
			       "\"ucopies\": %llu, \"ucopy_bytes\": %llu, "
			       "\"cqes_per_enter\": %.2f, \"cqes_per_sleep\": %.2f, "
			       "\"handle_ns_per_io\": %.1f, \"driver\": ", i ? "," : "", i,
			       (unsigned long long)reqs,
			       (unsigned long long)q->bytes,
			       (unsigned long long)enters,
			       (unsigned long long)q->sleeps,
			       (unsigned long long)cqes,
			       (unsigned long long)q->copies,
			       (unsigned long long)q->copy_bytes,
			       (unsigned long long)q->handle_ns,
			       (unsigned long long)q->ucopies,
			       (unsigned long long)q->ucopy_bytes, per, persl, ns);
			print_drvq(have ? &dq : NULL, true);
			printf("}");
		} else {
			printf("%-4u %12llu %14llu %10llu %10.2f %10.2f %12.1f %10llu %14llu %10llu %14llu\n", i,
			       (unsigned long long)reqs,
			       (unsigned long long)q->bytes,
			       (unsigned long long)enters, per, persl, ns,
			       (unsigned long long)q->copies,
			       (unsigned long long)q->copy_bytes,
			       (unsigned long long)q->ucopies,
			       (unsigned long long)q->ucopy_bytes);
			if (have)
				print_drvq(&dq, false);
		}
	}
	if (json)
		printf("\n]}\n");
	rs_state_close(st);
	return 0;
}

/* ---------------- recover ---------------- */
static int cmd_recover(int argc, char **argv)
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

/* ---------------- features ---------------- */
static int cmd_features(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "ctrl", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const names[64] = {
		[0] = "zero_copy", [1] = "comp_in_task", [2] = "need_get_data",
		[3] = "user_recovery", [4] = "user_recovery_reissue",
		[5] = "unprivileged_dev", [6] = "cmd_ioctl_encode",
		[7] = "user_copy", [8] = "zoned", [9] = "user_recovery_fail_io",
		[62] = "zublk_store", [63] = "zublk_pin_buf",
	};
	char ctrl[128] = "";
	struct rs_ctrl rc;
	int c, b;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "c:h", lo, NULL)) != -1) {
		switch (c) {
		case 'c': opt_ctrl(ctrl, sizeof(ctrl), optarg); break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: bad_opt(argc, argv, optopt);
		}
	}
	if (optind < argc)
		usage_err("features: unexpected argument '%s'", argv[optind]);
	if (!ctrl[0])
		strcpy(ctrl, default_ctrl());
	if (rs_ctrl_open(&rc, ctrl) < 0)
		return 1;
	if (!rc.features) {
		printf("0x0 (no GET_FEATURES)\n");
	} else {
		printf("0x%llx", (unsigned long long)rc.features);
		for (b = 0; b < 64; b++)
			if (rc.features & (1ULL << b)) {
				if (names[b])
					printf(" %s", names[b]);
				else
					printf(" bit%d", b);
			}
		printf("\n");
	}
	rs_ctrl_close(&rc);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd;

	if (argc < 2)
		usage_err("missing command (add, del, list, stats, recover, features)");
	cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(usage_text, stdout);
		return 0;
	}
	argv++;
	argc--;
	if (!strcmp(cmd, "add"))
		return cmd_add(argc, argv);
	if (!strcmp(cmd, "del"))
		return cmd_del(argc, argv);
	if (!strcmp(cmd, "list"))
		return cmd_list(argc, argv);
	if (!strcmp(cmd, "stats"))
		return cmd_stats(argc, argv);
	if (!strcmp(cmd, "recover"))
		return cmd_recover(argc, argv);
	if (!strcmp(cmd, "features"))
		return cmd_features(argc, argv);
	usage_err("unknown command '%s'", cmd);
}
