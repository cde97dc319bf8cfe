// SPDX-License-Identifier: GPL-2.0
/* ramsrv: list, stats and features: what the state files and the driver say. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include "ramsrv.h"
#include "cli.h"

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

/* more threads than queues: the tags are spread over them (per-io) */
static bool per_io(const struct rs_state *st)
{
	return st->nr_threads > st->nr_queues && st->nr_threads <= RS_MAX_THREADS;
}

/* the threads' layout: "queues" (whole queues) or "tags" (spread, per-io) */
static const char *layout(const struct rs_state *st)
{
	return per_io(st) ? "tags" : "queues";
}

static void copy_label(const struct rs_state *st, char *buf, size_t len)
{
	const char *batch = st->dev_flags & UBLK_F_BATCH_IO ? "+batch" : "";

	if (st->copy_path[0])
		snprintf(buf, len, "%s/%s%s", st->copy_mode, st->copy_path, batch);
	else
		snprintf(buf, len, "%s%s", st->copy_mode, batch);
}

/* --batch: requests per fetch CQE and per commit command, JSON or a line */
static void print_batch(const struct rs_qstate *q, bool json)
{
	double pf = q->batch_fetches ? (double)q->reqs / (double)q->batch_fetches : 0;
	double pc = q->batch_commits ? (double)q->reqs / (double)q->batch_commits : 0;

	if (json)
		printf("\"batch_fetches\": %llu, \"batch_commits\": %llu, "
		       "\"reqs_per_fetch\": %.2f, \"reqs_per_commit\": %.2f, ",
		       (unsigned long long)q->batch_fetches,
		       (unsigned long long)q->batch_commits, pf, pc);
	else if (q->batch_fetches || q->batch_commits)
		printf("     batch: %llu fetch CQEs (%.2f requests each), %llu commits (%.2f requests each)\n",
		       (unsigned long long)q->batch_fetches, pf,
		       (unsigned long long)q->batch_commits, pc);
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
		printf("%-6s %-4d %-5s %14llu %6u %7u %5u %-14s %-7s %7d %-8s %-8s %s\n",
		       drv, st->dev_id, st->target, (unsigned long long)st->size,
		       st->nr_queues, st->nr_threads, st->depth, copy, st->recovery, st->pid,
		       state_name(st), dst, st->bdev);
		if (per_io(st))
			printf("            tags: tag t of queue q served by thread (q * %u + t) mod %u\n",
			       st->depth, st->nr_threads);
		for (i = 0; per_io(st) && i < st->nr_threads; i++)
			printf("            t%-3u cpus %-8s tid %u\n", i, st->thr[i].cpus,
			       st->thr[i].tid);
		for (i = 0; i < st->nr_queues && i < RS_MAX_QUEUES; i++) {
			if (!st->q[i].buf_len)	/* single/none/zc: nothing allocated */
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
	       "\"threads\": %u, \"depth\": %u, \"bs\": %u, \"max_io\": %u, \"pid\": %d, "
	       "\"state\": \"%s\", \"bdev\": \"%s\", \"ctrl\": \"%s\", "
	       "\"backing\": \"%s\", \"store\": \"%s\", \"store_policy\": \"%s\", \"copy\": \"%s\", "
	       "\"copy_mode\": \"%s\", \"copy_path\": \"%s\", \"recovery\": \"%s\", "
	       "\"recoveries\": %u, \"dev_state\": \"%s\", \"flags\": \"0x%llx\", \"layout\": \"%s\",\n"
	       "   \"queue\": [",
	       first ? "" : ",", st->dev_id, drv, st->target,
	       (unsigned long long)st->size, st->nr_queues, st->nr_threads, st->depth, st->bs,
	       st->max_io, st->pid, state_name(st), st->bdev, st->ctrl,
	       st->backing, st->store_huge ? "hugepage" : "normal",
	       st->store_policy, st->copy, st->copy_mode, st->copy_path,
	       st->recovery, st->recoveries, dst, (unsigned long long)st->dev_flags,
	       layout(st));
	for (i = 0; i < st->nr_queues && i < RS_MAX_QUEUES; i++)
		printf("%s\n     {\"q\": %u, \"cpus\": \"%s\", \"node\": %d, "
		       "\"want_node\": %d, \"buf\": \"%s\", \"buf_addr\": \"0x%llx\", "
		       "\"buf_len\": %llu, \"tid\": %u}", i ? "," : "", i,
		       st->q[i].cpus, st->q[i].node, st->q[i].want_node,
		       !st->q[i].buf_len ? "none" : st->q[i].huge ? "hugepage" : "normal",
		       (unsigned long long)st->q[i].buf_addr,
		       (unsigned long long)st->q[i].buf_len, st->q[i].tid);
	printf("]");
	if (per_io(st)) {
		printf(",\n   \"thread\": [");
		for (i = 0; i < st->nr_threads; i++)
			printf("%s\n     {\"thread\": %u, \"cpus\": \"%s\", \"tid\": %u}",
			       i ? "," : "", i, st->thr[i].cpus, st->thr[i].tid);
		printf("]");
	}
	printf("}");
}

int cmd_list(int argc, char **argv)
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
		printf("%-6s %-4s %-5s %14s %6s %7s %5s %-14s %-7s %7s %-8s %-8s %s\n",
		       "DRIVER", "ID", "TGT", "SIZE", "QUEUES", "THREADS", "DEPTH", "COPY",
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

/* one queue's line(s) of stats: the server's counters, then the driver's */
static void print_stats_queue(unsigned int i, const struct rs_qstate *q,
			      const char *cdev, bool json, const char *key)
{
	uint64_t reqs = q->reqs, enters = q->enters, cqes = q->cqes;
	double per = enters ? (double)cqes / (double)enters : 0;
	double ns = reqs ? (double)q->handle_ns / (double)reqs : 0;
	double persl = q->sleeps ? (double)cqes / (double)q->sleeps : 0;
	struct rs_drvq dq;
	bool have = cdev[0] && read_drvq(cdev, i, &dq);

	if (json) {
		printf("%s\n  {\"%s\": %u, \"requests\": %llu, \"bytes\": %llu, "
		       "\"enters\": %llu, \"sleeps\": %llu, \"cqes\": %llu, "
		       "\"copies\": %llu, \"copy_bytes\": %llu, \"handle_ns\": %llu, "
		       "\"ucopies\": %llu, \"ucopy_bytes\": %llu, \"data_ops\": %llu, \"data_op_bytes\": %llu, \"buf_cmds\": %llu, \"cmds\": %llu, "
		       "\"cqes_per_enter\": %.2f, \"cqes_per_sleep\": %.2f, "
		       "\"handle_ns_per_io\": %.1f, ", i ? "," : "", key, i,
		       (unsigned long long)reqs,
		       (unsigned long long)q->bytes,
		       (unsigned long long)enters,
		       (unsigned long long)q->sleeps,
		       (unsigned long long)cqes,
		       (unsigned long long)q->copies,
		       (unsigned long long)q->copy_bytes,
		       (unsigned long long)q->handle_ns,
		       (unsigned long long)q->ucopies,
		       (unsigned long long)q->ucopy_bytes,
		       (unsigned long long)q->data_ops,
		       (unsigned long long)q->data_op_bytes,
		       (unsigned long long)q->buf_cmds,
		       (unsigned long long)q->cmds, per, persl, ns);
		print_batch(q, true);
		printf("\"driver\": ");
		print_drvq(have ? &dq : NULL, true);
		printf("}");
		return;
	}
	printf("%-4u %12llu %14llu %10llu %10.2f %10.2f %12.1f %10llu %14llu %10llu %14llu %10llu %10llu %10llu\n", i,
	       (unsigned long long)reqs,
	       (unsigned long long)q->bytes,
	       (unsigned long long)enters, per, persl, ns,
	       (unsigned long long)q->copies,
	       (unsigned long long)q->copy_bytes,
	       (unsigned long long)q->ucopies,
	       (unsigned long long)q->ucopy_bytes,
	       (unsigned long long)q->data_ops,
	       (unsigned long long)q->buf_cmds,
	       (unsigned long long)q->cmds);
	print_batch(q, false);
	if (have)
		print_drvq(&dq, false);
}

static void print_stats(int id, const struct rs_ent *e, const struct rs_state *st,
			bool json)
{
	char drv[64], copy[40], cdev[64];
	unsigned int i;

	driver_name(e->ctrl, drv, sizeof(drv));
	copy_label(st, copy, sizeof(copy));
	if (rs_dev_paths(st->ctrl, id, cdev, sizeof(cdev), NULL, 0) < 0)
		cdev[0] = '\0';
	if (json)
		printf("{\"id\": %d, \"driver\": \"%s\", \"state\": \"%s\", \"target\": \"%s\", "
		       "\"copy_mode\": \"%s\", \"copy_path\": \"%s\", \"threads\": %u, "
		       "\"layout\": \"%s\", \"queues\": [",
		       id, drv, state_name(st), st->target, st->copy_mode, st->copy_path,
		       st->nr_threads, layout(st));
	else
		printf("%s dev %d (%s, copy %s, %s, %u server thread%s%s)\n%-4s %12s %14s %10s %10s %10s %12s %10s %14s %10s %14s %10s %10s %10s\n",
		       drv, id, st->target, copy, state_name(st), st->nr_threads,
		       st->nr_threads == 1 ? "" : "s",
		       per_io(st) ? ", tags spread over them" : "",
		       per_io(st) ? "T" : "Q", "REQS",
		       "BYTES", "ENTERS", "CQE/ENTER", "CQE/SLEEP", "HANDLE_NS/IO",
		       "COPIES", "COPY_BYTES", "UCOPIES", "UCOPY_BYTES", "DATA_OPS", "BUF_CMDS", "CMDS");
	/* per-io: the threads count, not the queues (the driver's still per queue) */
	for (i = 0; i < st->nr_queues && i < RS_MAX_QUEUES && !per_io(st); i++)
		print_stats_queue(i, &st->q[i], cdev, json, "q");
	for (i = 0; per_io(st) && i < st->nr_threads; i++)
		print_stats_queue(i, &st->thr[i], "", json, "thread");
	if (json)
		printf("\n]}\n");
}

int cmd_stats(int argc, char **argv)
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
	char ctrl[128] = "";
	bool json = false;
	int id = -1, c;

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
	print_stats(id, &e, st, json);
	rs_state_close(st);
	return 0;
}

/* ---------------- features ---------------- */
int cmd_features(int argc, char **argv)
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
		[11] = "auto_buf_reg", [13] = "per_io_daemon",
		[15] = "batch_io",
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
