// SPDX-License-Identifier: GPL-2.0
/*
 * recsrv: a minimal ublk server that can take over a device after its
 * previous server died (user recovery), for the recovery and timeout tests.
 * Its store is a file (on tmpfs, say) mapped shared, so data outlives a
 * kill -9 of the server.  One thread and one ring per queue; copy mode.
 *
 *   recsrv add [--ctrl P] --file F --size BYTES [--queues N] [--depth D]
 *              [--recovery none|plain|reissue|fail_io] [--hang-at SECTOR]
 *       ADD_DEV, SET_PARAMS, serve, START_DEV; prints "ID BDEV PID" once
 *       the device is live and keeps serving in the background
 *   recsrv recover [--ctrl P] --id N --file F [--die-after K]
 *       START_USER_RECOVERY, open, mmap, FETCH every tag,
 *       END_USER_RECOVERY; prints "ID BDEV PID".  --die-after K: SIGKILL
 *       itself after submitting K FETCHes (a server dying mid-recovery)
 *   recsrv state [--ctrl P] --id N
 *       prints GET_DEV_INFO's state: DEAD, LIVE, QUIESCED or FAIL_IO
 *   recsrv del [--ctrl P] --id N
 *       STOP_DEV + DEL_DEV
 *   recsrv start-recovery [--ctrl P] --id N
 *       one START_USER_RECOVERY; prints its result (0 or -errno)
 *
 * --hang-at SECTOR: never answer a request that covers SECTOR (a hung
 * server, for the timeout tests); everything else is served.
 *
 * Exit status: 0 done, 1 a command failed, 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/ublk_cmd.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../include/zublk.h"	/* the 6.13 FAIL_IO bits 6.12 lacks */
#include "../../lib/uring_cmd.h"

#define MAX_IO		(128u << 10)
#define MAX_DEPTH	4096

static const char *ctrl_path = "/dev/zublk-control";
static struct zu_ctrl ctrl = { .fd = -1 };
static int cfd = -1;			/* char node */
static char *store;			/* the device's bytes */
static uint64_t dev_bytes;
static struct ublksrv_ctrl_dev_info info;
static long hang_at = -1;		/* sector never answered, or -1 */
static long die_after = -1;		/* FETCHes before SIGKILL, or -1 */

struct queue {
	int q_id;
	struct io_uring ring;
	struct ublksrv_io_desc *descs;
	char *bufs;			/* depth x MAX_IO */
	pthread_t thread;
	int err;
};

static struct queue *queues;

/* ---- control ------------------------------------------------------------- */

static int ctrl_init(void)
{
	int ret = zu_ctrl_open(&ctrl, ctrl_path, 4, IORING_SETUP_SQE128);

	if (ret < 0 && ctrl.fd < 0)
		fprintf(stderr, "recsrv: open %s: %s\n", ctrl_path, strerror(-ret));
	else if (ret < 0)
		fprintf(stderr, "recsrv: io_uring_queue_init: %s\n", strerror(-ret));
	return ret;
}

static const char *node_prefix(void)
{
	return strstr(ctrl_path, "zublk") ? "/dev/zublk" : "/dev/ublk";
}

/* ---- serving ---------------------------------------------------------------- */

static void io_prep(struct queue *q, unsigned int op, uint16_t tag, int32_t res)
{
	if (!zu_prep_io(&q->ring, cfd, op, (uint16_t)q->q_id, tag, res,
			(uintptr_t)(q->bufs + (size_t)tag * MAX_IO)))
		abort();	/* the ring holds 2 x depth: cannot happen */
}

/* The result to commit for @tag's request, or INT32_MIN to hang it. */
static int32_t handle(struct queue *q, uint16_t tag)
{
	const struct ublksrv_io_desc *d = &q->descs[tag];
	uint64_t off = d->start_sector << 9;
	size_t len = (size_t)d->nr_sectors << 9;
	char *buf = q->bufs + (size_t)tag * MAX_IO;

	if (hang_at >= 0 && (uint64_t)hang_at >= d->start_sector &&
	    (uint64_t)hang_at < d->start_sector + d->nr_sectors)
		return INT32_MIN;
	if (len > MAX_IO || off + len > dev_bytes)
		return -EIO;
	switch (ublksrv_get_op(d)) {
	case UBLK_IO_OP_READ:
		memcpy(buf, store + off, len);
		return (int32_t)len;
	case UBLK_IO_OP_WRITE:
		memcpy(store + off, buf, len);
		return (int32_t)len;
	case UBLK_IO_OP_FLUSH:
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}

static void *queue_main(void *arg)
{
	struct queue *q = arg;
	unsigned int depth = info.queue_depth;
	int outstanding = 0;

	for (uint16_t t = 0; t < depth; t++) {
		io_prep(q, UBLK_U_IO_FETCH_REQ, t, -1);
		outstanding++;
		if (die_after >= 0 && q->q_id == 0 && t + 1 >= die_after) {
			io_uring_submit(&q->ring);
			kill(getpid(), SIGKILL);
		}
	}
	io_uring_submit(&q->ring);

	while (outstanding > 0) {
		struct io_uring_cqe *cqe;
		unsigned int head, n = 0;
		int ret = io_uring_submit_and_wait(&q->ring, 1);

		if (ret < 0 && ret != -EINTR) {
			q->err = ret;
			break;
		}
		io_uring_for_each_cqe(&q->ring, head, cqe) {
			uint16_t tag = (uint16_t)cqe->user_data;
			int32_t res;

			n++;
			outstanding--;
			if (cqe->res == UBLK_IO_RES_ABORT)
				continue;	/* device stopping or aborted */
			if (cqe->res < 0) {
				/* refused: this server cannot serve; let the
				 * driver see it go rather than wait for it */
				fprintf(stderr, "recsrv: dev %u queue %d tag %u: io command failed: %s\n",
					info.dev_id, q->q_id, tag, strerror(-cqe->res));
				_exit(1);
			}
			res = handle(q, tag);
			if (res == INT32_MIN)
				continue;	/* hung on purpose */
			io_prep(q, UBLK_U_IO_COMMIT_AND_FETCH_REQ, tag, res);
			outstanding++;
		}
		io_uring_cq_advance(&q->ring, n);
	}
	return NULL;
}

/* Open the char node (retrying while the old holder lets go), map, fetch. */
static int serve(uint32_t id)
{
	char path[64];

	snprintf(path, sizeof(path), "%sc%u", node_prefix(), id);
	cfd = zu_open_wait(path, O_RDWR, 100, true);
	if (cfd < 0) {
		fprintf(stderr, "recsrv: dev %u: open %s: %s\n", id, path, strerror(-cfd));
		return cfd;
	}
	queues = calloc(info.nr_hw_queues, sizeof(*queues));
	if (!queues)
		return -ENOMEM;
	for (int i = 0; i < info.nr_hw_queues; i++) {
		struct queue *q = &queues[i];
		int ret;

		q->q_id = i;
		q->descs = zu_map_descs(cfd, (unsigned int)i, info.queue_depth, MAP_POPULATE);
		if (q->descs == MAP_FAILED) {
			fprintf(stderr, "recsrv: dev %u queue %d: mmap: %s\n", id, i,
				strerror(errno));
			return -errno;
		}
		q->bufs = aligned_alloc(4096, (size_t)info.queue_depth * MAX_IO);
		if (!q->bufs)
			return -ENOMEM;
		ret = io_uring_queue_init(info.queue_depth * 2, &q->ring, 0);
		if (ret < 0) {
			fprintf(stderr, "recsrv: dev %u queue %d: io_uring: %s\n", id, i,
				strerror(-ret));
			return ret;
		}
		pthread_create(&q->thread, NULL, queue_main, q);
	}
	return 0;
}

static int map_store(const char *file, bool create)
{
	int fd = open(file, O_RDWR | (create ? O_CREAT : 0), 0600);

	if (fd < 0) {
		fprintf(stderr, "recsrv: open %s: %s\n", file, strerror(errno));
		return -errno;
	}
	if (create && ftruncate(fd, (off_t)dev_bytes)) {
		fprintf(stderr, "recsrv: ftruncate %s: %s\n", file, strerror(errno));
		close(fd);
		return -errno;
	}
	store = mmap(NULL, dev_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (store == MAP_FAILED) {
		fprintf(stderr, "recsrv: mmap %s: %s\n", file, strerror(errno));
		return -errno;
	}
	return 0;
}

/* Wait for the queue threads (they end once the device stops). */
static int join_all(void)
{
	int err = 0;

	for (int i = 0; i < info.nr_hw_queues; i++) {
		pthread_join(queues[i].thread, NULL);
		if (queues[i].err)
			err = 1;
	}
	return err;
}

/* ---- commands ------------------------------------------------------------- */

/*
 * Fork; the child does @setup and reports "ID BDEV PID" (or nothing, on
 * failure) through a pipe to the parent, which prints it and exits.
 */
static int daemonize(int (*setup)(void *), void *arg)
{
	int p[2];
	pid_t pid;
	char line[128];
	ssize_t n;

	if (pipe(p))
		return 1;
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid > 0) {
		close(p[1]);
		n = read(p[0], line, sizeof(line) - 1);
		if (n <= 0)
			return 1;
		line[n] = 0;
		fputs(line, stdout);
		return 0;
	}
	close(p[0]);
	setsid();
	if (setup(arg)) {
		_exit(1);
	}
	snprintf(line, sizeof(line), "%u %sb%u %d\n", info.dev_id, node_prefix(),
		 info.dev_id, getpid());
	if (write(p[1], line, strlen(line)) < 0)
		_exit(1);
	close(p[1]);
	/* detach from the caller's output */
	if (!freopen("/dev/null", "w", stdout))
		_exit(1);
	_exit(join_all());
}

struct add_args {
	const char *file;
	int queues, depth;
	uint64_t flags;
};

static int add_setup(void *p)
{
	struct add_args *a = p;
	struct ublk_params prm = { 0 };
	int ret;

	if (ctrl_init() || map_store(a->file, true))
		return 1;
	info = (struct ublksrv_ctrl_dev_info){
		.nr_hw_queues = (uint16_t)a->queues,
		.queue_depth = (uint16_t)a->depth,
		.max_io_buf_bytes = MAX_IO,
		.dev_id = (uint32_t)-1,
		.flags = a->flags,
	};
	ret = zu_ctrl_cmd(&ctrl, UBLK_U_CMD_ADD_DEV, (uint32_t)-1, &info, sizeof(info), 0);
	if (ret < 0) {
		fprintf(stderr, "recsrv: ADD_DEV: %s\n", strerror(-ret));
		return 1;
	}
	prm.len = sizeof(prm);
	prm.types = UBLK_PARAM_TYPE_BASIC;
	zu_params_basic(&prm.basic, MAX_IO, dev_bytes);
	ret = zu_ctrl_cmd(&ctrl, UBLK_U_CMD_SET_PARAMS, info.dev_id, &prm, sizeof(prm), 0);
	if (ret < 0) {
		fprintf(stderr, "recsrv: dev %u: SET_PARAMS: %s\n", info.dev_id, strerror(-ret));
		goto out_del;
	}
	if (serve(info.dev_id))
		goto out_del;
	ret = zu_ctrl_cmd(&ctrl, UBLK_U_CMD_START_DEV, info.dev_id, NULL, 0, (uint64_t)getpid());
	if (ret < 0) {
		fprintf(stderr, "recsrv: dev %u: START_DEV: %s\n", info.dev_id, strerror(-ret));
		goto out_del;
	}
	return 0;
out_del:
	zu_ctrl_cmd(&ctrl, UBLK_U_CMD_STOP_DEV, info.dev_id, NULL, 0, 0);
	zu_ctrl_cmd(&ctrl, UBLK_U_CMD_DEL_DEV_ASYNC, info.dev_id, NULL, 0, 0);
	return 1;
}

struct rec_args {
	const char *file;
	uint32_t id;
};

static int get_info(uint32_t id)
{
	int ret = zu_ctrl_cmd(&ctrl, UBLK_U_CMD_GET_DEV_INFO, id, &info, sizeof(info), 0);

	if (ret < 0)
		fprintf(stderr, "recsrv: dev %u: GET_DEV_INFO: %s\n", id, strerror(-ret));
	return ret;
}

static int recover_setup(void *p)
{
	struct rec_args *a = p;
	struct ublk_params prm = { .len = sizeof(prm) };
	int ret;

	if (ctrl_init() || get_info(a->id))
		return 1;
	ret = zu_ctrl_cmd(&ctrl, UBLK_U_CMD_GET_PARAMS, a->id, &prm, sizeof(prm), 0);
	if (ret < 0) {
		fprintf(stderr, "recsrv: dev %u: GET_PARAMS: %s\n", a->id, strerror(-ret));
		return 1;
	}
	dev_bytes = prm.basic.dev_sectors << 9;
	if (map_store(a->file, false))
		return 1;
	/* the old server's char node may take a moment to be released */
	for (int i = 0; i < 100; i++) {
		ret = zu_ctrl_cmd(&ctrl, UBLK_U_CMD_START_USER_RECOVERY, a->id, NULL, 0, 0);
		if (ret != -EBUSY)
			break;
		usleep(100000);
	}
	if (ret < 0) {
		fprintf(stderr, "recsrv: dev %u: START_USER_RECOVERY: %s\n", a->id,
			strerror(-ret));
		return 1;
	}
	if (serve(a->id))
		return 1;
	ret = zu_ctrl_cmd(&ctrl, UBLK_U_CMD_END_USER_RECOVERY, a->id, NULL, 0, (uint64_t)getpid());
	if (ret < 0) {
		fprintf(stderr, "recsrv: dev %u: END_USER_RECOVERY: %s\n", a->id,
			strerror(-ret));
		return 1;
	}
	return 0;
}

/* "16M" and the like: bytes. */
static uint64_t parse_size(const char *v)
{
	char *end;
	uint64_t n = strtoull(v, &end, 0);

	switch (*end) {
	case 'G': return n << 30;
	case 'M': return n << 20;
	case 'K': return n << 10;
	default: return n;
	}
}

static int usage(void)
{
	fprintf(stderr,
		"usage: recsrv add [--ctrl P] --file F --size BYTES [--queues N] [--depth D]\n"
		"                  [--recovery none|plain|reissue|fail_io] [--hang-at SECTOR]\n"
		"       recsrv recover [--ctrl P] --id N --file F [--die-after K]\n"
		"       recsrv state [--ctrl P] --id N\n"
		"       recsrv del [--ctrl P] --id N\n"
		"       recsrv start-recovery [--ctrl P] --id N\n");
	return 2;
}

/* --recovery @v into @flags; false when @v names no mode. */
static bool recovery_flags(const char *v, uint64_t *flags)
{
	if (!strcmp(v, "none"))
		*flags = 0;
	else if (!strcmp(v, "plain"))
		*flags = UBLK_F_USER_RECOVERY;
	else if (!strcmp(v, "reissue"))
		*flags = UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_REISSUE;
	else if (!strcmp(v, "fail_io"))
		*flags = UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_FAIL_IO;
	else
		return false;
	return true;
}

/* The options after the command; false on a bad one. */
static bool parse_opts(int argc, char **argv, struct add_args *add, const char **file,
		       long *id)
{
	for (int i = 2; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			return false;
		i++;
		if (!strcmp(o, "--ctrl")) {
			ctrl_path = v;
		} else if (!strcmp(o, "--file")) {
			*file = v;
		} else if (!strcmp(o, "--size")) {
			dev_bytes = parse_size(v);
		} else if (!strcmp(o, "--queues")) {
			add->queues = atoi(v);
		} else if (!strcmp(o, "--depth")) {
			add->depth = atoi(v);
		} else if (!strcmp(o, "--id")) {
			*id = strtol(v, NULL, 0);
		} else if (!strcmp(o, "--hang-at")) {
			hang_at = strtol(v, NULL, 0);
		} else if (!strcmp(o, "--die-after")) {
			die_after = strtol(v, NULL, 0);
		} else if (!strcmp(o, "--recovery")) {
			if (!recovery_flags(v, &add->flags))
				return false;
		} else {
			return false;
		}
	}
	return true;
}

int main(int argc, char **argv)
{
	struct add_args add = { .queues = 1, .depth = 64,
				.flags = UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_REISSUE };
	const char *cmd, *file = NULL;
	long id = -1;
	int ret;

	if (argc < 2 || !parse_opts(argc, argv, &add, &file, &id))
		return usage();
	cmd = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (!strcmp(cmd, "add")) {
		if (!file || !dev_bytes || dev_bytes % 4096 || add.queues < 1 ||
		    add.depth < 1 || add.depth > MAX_DEPTH)
			return usage();
		add.file = file;
		return daemonize(add_setup, &add);
	}
	if (id < 0)
		return usage();
	if (!strcmp(cmd, "recover")) {
		struct rec_args r = { .file = file, .id = (uint32_t)id };

		if (!file)
			return usage();
		return daemonize(recover_setup, &r);
	}
	if (ctrl_init())
		return 1;
	if (!strcmp(cmd, "state")) {
		static const char *const names[] = { "DEAD", "LIVE", "QUIESCED", "FAIL_IO" };

		if (get_info((uint32_t)id))
			return 1;
		if (info.state < 4)
			printf("%s\n", names[info.state]);
		else
			printf("%u\n", info.state);
		return 0;
	}
	if (!strcmp(cmd, "start-recovery")) {
		ret = zu_ctrl_cmd(&ctrl, UBLK_U_CMD_START_USER_RECOVERY, (uint32_t)id, NULL, 0, 0);
		printf("%d\n", ret);
		return ret < 0;
	}
	if (!strcmp(cmd, "del")) {
		ret = zu_ctrl_cmd(&ctrl, UBLK_U_CMD_STOP_DEV, (uint32_t)id, NULL, 0, 0);
		if (ret < 0 && ret != -ENODEV)
			fprintf(stderr, "recsrv: dev %ld: STOP_DEV: %s\n", id, strerror(-ret));
		ret = zu_ctrl_cmd(&ctrl, UBLK_U_CMD_DEL_DEV, (uint32_t)id, NULL, 0, 0);
		if (ret < 0) {
			fprintf(stderr, "recsrv: dev %ld: DEL_DEV: %s\n", id, strerror(-ret));
			return 1;
		}
		return 0;
	}
	return usage();
}
