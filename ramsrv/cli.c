// SPDX-License-Identifier: GPL-2.0
/* ramsrv: options, usage and the device a command names. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ramsrv.h"
#include "cli.h"

const char usage_text[] =
"usage: ramsrv add -t null|ram [--size SIZE] [--queues N] [--threads N] [--depth N]\n"
"                  [--bs 512|4096] [--max-io SIZE] [--hugepages auto|on|off]\n"
"                  [--backing PATH]"
" [--copy auto|classic|single|none|zc|zc-explicit]\n"
"                  [--ctrl PATH] [--id N]"
" [--pin auto|on|off] [--recovery reissue|queue|fail]\n"
"                  [--batch] [--foreground]\n"
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
"  -T, --threads N        N server threads instead of one per queue: up to\n"
"                         --queues, thread i serves queues i, i+N, ...\n"
"                         through one io_uring, pinned to their CPUs; above\n"
"                         (UBLK_F_PER_IO_DAEMON, ublk_drv 6.16+), tag t of\n"
"                         queue q goes to thread (q*depth+t) mod N\n"
"  -d, --depth N          queue depth (1-4096, default 128)\n"
"  -b, --bs 512|4096      logical block size (default 512)\n"
"  -m, --max-io SIZE      largest request, 4K-32M (default 256K)\n"
"  -H, --hugepages MODE   io buffers on 2 MiB hugepages: auto (fall back to\n"
"                         normal pages with a warning; default), on (fail when\n"
"                         none are free), off\n"
"  -B, --backing PATH     ram store in this file on tmpfs or hugetlbfs, created or\n"
"                         reused; its data outlives the server\n"
"  -C, --copy MODE        how data moves: auto (default: the cheapest the driver\n"
"                         offers: for ram STORE, else zc (not over hugetlbfs),\n"
"                         else USER_COPY; none for null; classic when it offers\n"
"                         none of these, or --pin on),\n"
"                         classic (the driver copies to an io buffer, ram\n"
"                         copies that to its store),\n"
"                         single (one copy: zublk's ZUBLK_F_STORE, the driver\n"
"                         copies to/from the registered store at commit; else\n"
"                         UBLK_F_USER_COPY, one pread/pwrite; no io buffers),\n"
"                         none (null only: no data moved; STORE or USER_COPY),\n"
"                         zc (ublk_drv 6.16+ with UBLK_F_AUTO_BUF_REG: the\n"
"                         driver registers each request's pages in the queue's\n"
"                         io_uring; ram moves them once by an io_uring\n"
"                         READ/WRITE_FIXED on its store file, a memfd or\n"
"                         --backing on tmpfs: one more io_uring op per IO;\n"
"                         null touches nothing),\n"
"                         zc-explicit (6.15+, UBLK_F_SUPPORT_ZERO_COPY: the\n"
"                         same, the server registering and unregistering the\n"
"                         pages itself: two more io_uring commands per IO)\n"
"  -P, --pin MODE         classic io buffers pinned once by zublk\n"
"                         (ZUBLK_F_PIN_BUF): auto (when offered; default), on\n"
"                         (fail if not), off (pinned per IO)\n"
"      --batch            batched delivery and commit (UBLK_F_BATCH_IO, ublk_drv\n"
"                         of Linux 7.0+): one multishot fetch delivers many\n"
"                         requests, one command commits them, instead of a\n"
"                         command per request (stats: requests per each)\n"
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
"Environment: RAMSRV_SPIN=N polls a queue ring up to N times before sleeping\n"
"(default 50, 0 = off); RAMSRV_SPIN_POLICY=adaptive (default: poll while polls\n"
"find work) or fixed (always N). Manual: ramsrv(8).\n"
"\n"
"Exit status: 0 ok, 1 runtime error, 2 usage error.\n";

void usage_err(const char *fmt, ...)
{
	va_list ap;

	fputs("ramsrv: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see ramsrv --help)\n", stderr);
	exit(EXIT_USAGE);
}

void bad_opt(int argc, char **argv, int optopt_c)
{
	const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "?";

	if (optopt_c && optopt_c != '?' && strncmp(arg, "--", 2))
		usage_err("unknown or incomplete option '-%c'", optopt_c);
	usage_err("unknown or incomplete option '%s'", arg);
}

unsigned int opt_uint(const char *name, const char *v, unsigned long max)
{
	unsigned long n;

	if (rs_parse_uint(v, max, &n) < 0)
		usage_err("%s '%s': not a number in range 0-%lu", name, v, max);
	return (unsigned int)n;
}

uint64_t opt_size(const char *name, const char *v)
{
	uint64_t n;

	if (rs_parse_size(v, &n) < 0)
		usage_err("%s '%s': not a size (e.g. 4096, 64K, 1G)", name, v);
	return n;
}

/* auto|on|off -> 0|1|2, the order of enum rs_huge and enum rs_pin */
int opt_auto_on_off(const char *name, const char *v)
{
	static const char *const w[] = { "auto", "on", "off" };
	int i;

	for (i = 0; i < 3; i++)
		if (!strcmp(v, w[i]))
			return i;
	usage_err("%s '%s': use auto, on or off", name, v);
}

const char *default_ctrl(void)
{
	return access("/dev/zublk-control", F_OK) == 0 ? "/dev/zublk-control" :
							 "/dev/ublk-control";
}

bool pid_alive(int pid)
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

/* --ctrl for del/list/stats: a control node path or name */
void opt_ctrl(char *dst, size_t len, const char *v)
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
int find_dev(const char *ctrl, int id, struct rs_ent *out)
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
int open_dev(const char *ctrl, int id, struct rs_ent *e, struct rs_state **st)
{
	if (find_dev(ctrl, id, e))
		return 1;
	if (rs_state_open(e->ctrl, id, st) < 0) {
		fprintf(stderr, "ramsrv: no ramsrv device %d on %s\n", id, e->ctrl);
		return 1;
	}
	return 0;
}
