// SPDX-License-Identifier: GPL-2.0
/*
 * ublk-check: drive a ublk control node directly (zublk or ublk_drv).
 *
 *   ublk-check [--ctrl PATH] badinput
 *       every bad-input case with the errno it must fail with; cases where
 *       ublk_drv (6.12) behaves differently are checked against its
 *       behaviour when PATH is /dev/ublk-control (see ERRNO_DIFFS below)
 *   ublk-check [--ctrl PATH] data [copy|user_copy|get_data]
 *       start a 4 MiB RAM device served by this program in the given data
 *       mode, write and read it back through the block node from a child
 *   ublk-check [--ctrl PATH] cycles N
 *       N add/delete cycles (no server)
 *   ublk-check [--ctrl PATH] data MODE sg [-- CMD ARGS...]
 *       the same with the DMA_ALIGN and SEGMENT params a Linux 6.18 kublk
 *       null device sends; with CMD, the child runs CMD (ZU_DEV names the
 *       block node) instead of its own write and read-back
 *   ublk-check [--ctrl PATH] features | extfeatures
 *       print GET_FEATURES (GET_EXT_FEATURES, zublk's) as hex
 *   ublk-check [--ctrl PATH] limits
 *       SET_PARAMS refuses max_sectors outside a page .. the io buffer and
 *       block-size shifts above 28, and accepts the edges
 *   ublk-check [--ctrl PATH] params
 *       DMA_ALIGN and SEGMENT params are validated and kept (masked off
 *       by ublk_drv 6.12), unknown types masked, DEVT/ZONED refused
 *   ublk-check [--ctrl PATH] startfail
 *       START_DEV of a served device must fail (the test took its disk
 *       name), then STOP_DEV and DEL_DEV must return
 *   ublk-check [--ctrl PATH] addonly
 *       add a device with params and leave it (prints its id)
 *   ublk-check [--ctrl PATH] del ID
 *       DEL_DEV
 *   ublk-check [--ctrl PATH] race N [async]
 *       N rounds of STOP_DEV racing START_DEV and the FETCHes (submitted
 *       with IOSQE_ASYNC with "async"); every command must return and the
 *       device must delete cleanly
 *   ublk-check deadtw store|pin|plain
 *       a server exits with an IOSQE_ASYNC REGISTER_STORE / FETCH (PIN_BUF
 *       or plain) unreaped on a DEFER_TASKRUN ring; the device deletes
 *   ublk-check startexit N
 *       N rounds of START_DEV while the server that fetched every tag exits
 *   ublk-check selfstart N
 *       N rounds of a server that sends START_DEV through its own io-wq and
 *       exits without serving: it must exit, the device must delete
 *   ublk-check selfstop N
 *       N rounds of a server that holds a request, sends STOP_DEV through
 *       its own io-wq and exits: it must exit, the device must delete
 *   ublk-check exitwait N
 *       N rounds of a process that sends START_DEV (of a device nobody
 *       serves) or DEL_DEV (of a device whose char node it holds) through
 *       io-wq and exits at once: it must exit
 *   ublk-check park QUEUES DEPTH
 *       a killed server with QUEUES x DEPTH parked commands; prints the
 *       teardown times
 *   ublk-check stopfetch N [recover]
 *       N rounds of STOP_DEV/DEL_DEV racing FETCHes (of a new server after
 *       START_USER_RECOVERY with "recover"); every FETCH must complete
 *
 * Exit status: 0 all checks passed, 1 a check failed, 2 usage/setup error.
 *
 * ERRNO_DIFFS (zublk vs ublk_drv 6.12):
 *   ADD_DEV unknown flag bits: zublk -EINVAL; ublk_drv masks them off.
 *   ADD_DEV depth > 4096: zublk -EINVAL; ublk_drv creates the device.
 *   ADD_DEV queues > 4096: zublk -EINVAL; ublk_drv caps to the CPU count.
 *   mprotect(PROT_WRITE) of the descriptors: zublk -EACCES; ublk_drv allows.
 *   SET_PARAMS physical_bs_shift, io_min_shift or io_opt_shift above 28:
 *       zublk -EINVAL (as upstream from 6.19); ublk_drv 6.12 accepts them.
 *   SET_PARAMS DMA_ALIGN, SEGMENT: zublk validates and applies them;
 *       ublk_drv 6.12 does not know them and masks them off.
 *   FETCH from a second task before all tags of the queue are fetched:
 *       zublk -EINVAL (the first FETCH binds the queue); ublk_drv accepts
 *       it (it binds the queue once all tags are fetched).
 * ublk_drv of 7.3 (told from 6.12's by UBLK_F_UPDATE_SIZE, which 6.16
 * added) answers as zublk does where 6.12's differs above for the shifts
 * above 28 and DMA_ALIGN/SEGMENT, and differs from zublk (which follows
 * 6.12) in two checks:
 *   UPDATE_SIZE: implemented (on a device never started: -ENODEV); zublk
 *       and ublk_drv 6.12 answer -EOPNOTSUPP.
 *   FETCH of an already fetched tag: -EINVAL; zublk and 6.12 -EBUSY.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <liburing.h>
#include <linux/ublk_cmd.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../include/zublk.h"	/* the 6.13 FAIL_IO bits 6.12 lacks */
#include "../../lib/uring_cmd.h"
#include "check.h"

/* upstream 6.16 commands, and the feature flag of the first */
#define U_CMD_UPDATE_SIZE	_IOWR('u', 0x15, struct ublksrv_ctrl_cmd)
#define U_CMD_QUIESCE_DEV	_IOWR('u', 0x16, struct ublksrv_ctrl_cmd)
#define U_F_UPDATE_SIZE		(1ULL << 10)

#define DEPTH		4
#define DEV_BYTES	(4u << 20)
#define MAX_IO		(64u << 10)

static const char *ctrl_path = "/dev/zublk-control";
static bool upstream;		/* checking ublk_drv */
static bool drv612;		/* ublk_drv without UBLK_F_UPDATE_SIZE (6.12's) */

/* ---- control commands -------------------------------------------------- */

static int ctrl_open(struct zu_ctrl *c, bool sqe128)
{
	int ret = zu_ctrl_open(c, ctrl_path, 8, sqe128 ? IORING_SETUP_SQE128 : 0);

	if (ret < 0 && c->fd < 0)
		fprintf(stderr, "open %s: %s\n", ctrl_path, strerror(-ret));
	else if (ret < 0)
		fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-ret));
	if (ret < 0)
		zu_ctrl_close(c);
	return ret;
}

/* Control command @op for @dev_id with data[0] @data0, queued on @ring. */
static struct io_uring_sqe *ctrl_prep(struct io_uring *ring, int fd, unsigned int op,
				      uint32_t dev_id, uint64_t data0)
{
	return sqe_or_exit(zu_prep_ctrl(ring, fd, op, dev_id, NULL, 0, data0));
}

static int add_dev(struct zu_ctrl *c, uint32_t id, uint16_t queues, uint16_t depth,
		   uint64_t flags, struct ublksrv_ctrl_dev_info *out)
{
	struct ublksrv_ctrl_dev_info info = {
		.nr_hw_queues = queues,
		.queue_depth = depth,
		.max_io_buf_bytes = MAX_IO,
		.dev_id = id,
		.flags = flags,
	};
	int ret = zu_ctrl_cmd(c, UBLK_U_CMD_ADD_DEV, id, &info, sizeof(info), 0);

	if (out)
		*out = info;
	return ret < 0 ? ret : (int)info.dev_id;
}

static int del_dev(struct zu_ctrl *c, uint32_t id)
{
	return zu_ctrl_cmd(c, UBLK_U_CMD_DEL_DEV, id, NULL, 0, 0);
}

static int set_params(struct zu_ctrl *c, uint32_t id, struct zublk_params *p)
{
	p->len = sizeof(*p);
	return zu_ctrl_cmd(c, UBLK_U_CMD_SET_PARAMS, id, p, sizeof(*p), 0);
}

static int get_params(struct zu_ctrl *c, uint32_t id, struct zublk_params *p)
{
	memset(p, 0, sizeof(*p));
	p->len = sizeof(*p);
	return zu_ctrl_cmd(c, UBLK_U_CMD_GET_PARAMS, id, p, sizeof(*p), 0);
}

/* The DMA_ALIGN and SEGMENT params of a Linux 6.18 kublk null device. */
static void kublk_null_sg(struct zublk_params *p)
{
	p->types |= UBLK_PARAM_TYPE_DMA_ALIGN | UBLK_PARAM_TYPE_SEGMENT;
	p->dma.alignment = 4095;
	p->seg.seg_boundary_mask = 4095;
	p->seg.max_segment_size = 32 << 10;
	p->seg.max_segments = 32;
}

static bool sg_params;		/* srv_setup adds kublk_null_sg() */
static char **child_cmd;	/* data: the child runs this */

static void good_params(struct zublk_params *p)
{
	memset(p, 0, sizeof(*p));
	p->types = UBLK_PARAM_TYPE_BASIC;
	zu_params_basic(&p->basic, MAX_IO, DEV_BYTES);
}

/* ---- a tiny in-process server -------------------------------------------- */

enum mode { M_COPY, M_USER_COPY, M_GET_DATA };

struct srv {
	struct zu_ctrl *c;
	int id;
	enum mode mode;
	int cfd;
	struct io_uring ring;		/* SQE128: io and control commands */
	struct ublksrv_io_desc *descs;
	size_t descs_len;
	char *bufs;			/* DEPTH x MAX_IO */
	char *store;			/* DEV_BYTES */
	int inflight;			/* parked io commands */
};

#define UD_CTRL		(1ULL << 63)

/* An io command on char node @cfd; user_data is the tag. */
static struct io_uring_sqe *io_sqe(struct io_uring *ring, int cfd, unsigned int op,
				   uint16_t q, uint16_t tag, int32_t res, uint64_t addr)
{
	return sqe_or_exit(zu_prep_io(ring, cfd, op, q, tag, res, addr));
}

static struct io_uring_sqe *io_prep(struct srv *s, unsigned int op, uint16_t q, uint16_t tag,
		    int32_t res, uint64_t addr)
{
	return io_sqe(&s->ring, s->cfd, op, q, tag, res, addr);
}

/* Open the char node of device @id (udev may still be creating it). */
static int cdev_open(int id)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/dev/%s%d", upstream ? "ublkc" : "zublkc", id);
	fd = zu_open_wait(path, O_RDWR, 50, false);
	if (fd < 0)
		fprintf(stderr, "open %s: %s\n", path, strerror(-fd));
	return fd;
}

static uint64_t buf_of(struct srv *s, uint16_t tag)
{
	return s->mode == M_USER_COPY ? 0 : (uintptr_t)(s->bufs + (size_t)tag * MAX_IO);
}

/* Add a device in @mode (plus @extra flags) and open its char node. */
static int srv_setup_flags(struct srv *s, struct zu_ctrl *c, enum mode mode, uint64_t extra)
{
	uint64_t flags = extra | (mode == M_USER_COPY ? UBLK_F_USER_COPY :
				  mode == M_GET_DATA ? UBLK_F_NEED_GET_DATA : 0);
	struct zublk_params p;
	int ret;

	memset(s, 0, sizeof(*s));
	s->c = c;
	s->mode = mode;
	s->id = add_dev(c, (uint32_t)-1, 1, DEPTH, flags, NULL);
	if (s->id < 0) {
		fprintf(stderr, "ADD_DEV: %s\n", strerror(-s->id));
		return s->id;
	}
	good_params(&p);
	if (sg_params)
		kublk_null_sg(&p);
	ret = set_params(c, s->id, &p);
	if (ret < 0) {
		fprintf(stderr, "SET_PARAMS: %s\n", strerror(-ret));
		return ret;
	}
	s->cfd = cdev_open(s->id);
	if (s->cfd < 0)
		return s->cfd;
	s->descs_len = zu_descs_len(DEPTH);
	s->descs = zu_map_descs(s->cfd, 0, DEPTH, 0);
	if (s->descs == MAP_FAILED) {
		fprintf(stderr, "mmap: %s\n", strerror(errno));
		return -errno;
	}
	s->bufs = aligned_alloc(4096, DEPTH * MAX_IO);
	s->store = calloc(1, DEV_BYTES);
	ret = io_uring_queue_init(64, &s->ring, IORING_SETUP_SQE128);
	if (ret < 0 || !s->bufs || !s->store)
		return ret < 0 ? ret : -ENOMEM;
	return 0;
}

static int srv_setup(struct srv *s, struct zu_ctrl *c, enum mode mode)
{
	return srv_setup_flags(s, c, mode, 0);
}

static int srv_fetch_all(struct srv *s)
{
	for (uint16_t t = 0; t < DEPTH; t++)
		io_prep(s, UBLK_U_IO_FETCH_REQ, 0, t, -1, buf_of(s, t));
	s->inflight = DEPTH;
	return io_uring_submit(&s->ring);
}

/* Serve one request (tag's descriptor); returns the COMMIT result. */
static int srv_handle(struct srv *s, uint16_t tag, int cqe_res)
{
	const struct ublksrv_io_desc *d = &s->descs[tag];
	uint64_t off = d->start_sector << 9;
	size_t len = (size_t)d->nr_sectors << 9;
	char *buf = s->bufs + (size_t)tag * MAX_IO;
	uint64_t pos = UBLKSRV_IO_BUF_OFFSET + ((uint64_t)tag << UBLK_TAG_OFF);
	unsigned int op = ublksrv_get_op(d);

	if (cqe_res == UBLK_IO_RES_NEED_GET_DATA) {
		io_prep(s, UBLK_U_IO_NEED_GET_DATA, 0, tag, 0, (uintptr_t)buf);
		return INT32_MIN;	/* no commit yet */
	}
	if (off + len > DEV_BYTES || len > MAX_IO)
		return -EIO;
	switch (op) {
	case UBLK_IO_OP_READ:
		if (s->mode == M_USER_COPY)
			return pwrite(s->cfd, s->store + off, len, (off_t)pos) == (ssize_t)len ?
				(int)len : -EIO;
		memcpy(buf, s->store + off, len);
		return (int)len;
	case UBLK_IO_OP_WRITE:
		if (s->mode == M_USER_COPY)
			return pread(s->cfd, s->store + off, len, (off_t)pos) == (ssize_t)len ?
				(int)len : -EIO;
		memcpy(s->store + off, buf, len);
		return (int)len;
	default:
		return (int)len;
	}
}

/*
 * Reap completions: io commands are served; a CQE tagged UD_CTRL is a
 * control command's result, stored in *ctrl_res.  Returns when stop()
 * says so or the ring fails.
 */
static int srv_loop(struct srv *s, bool (*stop)(struct srv *, void *), void *arg,
		    int *ctrl_res)
{
	while (!stop(s, arg)) {
		struct io_uring_cqe *cqe;
		struct __kernel_timespec ts = { .tv_nsec = 100000000 };
		int ret = io_uring_submit_and_wait_timeout(&s->ring, &cqe, 1, &ts, NULL);

		if (ret < 0 && ret != -ETIME && ret != -EINTR)
			return ret;
		while (io_uring_peek_cqe(&s->ring, &cqe) == 0) {
			uint64_t ud = cqe->user_data;
			int res = cqe->res;

			io_uring_cqe_seen(&s->ring, cqe);
			if (ud & UD_CTRL) {
				*ctrl_res = res;
				continue;
			}
			if (res == UBLK_IO_RES_ABORT || res < 0) {
				s->inflight--;
				continue;
			}
			res = srv_handle(s, (uint16_t)ud, res);
			if (res != INT32_MIN)
				io_prep(s, UBLK_U_IO_COMMIT_AND_FETCH_REQ, 0, (uint16_t)ud,
					res, buf_of(s, (uint16_t)ud));
		}
	}
	return 0;
}

static bool ctrl_done(struct srv *s, void *arg)
{
	(void)s;
	return *(int *)arg != INT32_MIN;
}

/* Issue a control command through the server's ring and serve until done. */
static int srv_ctrl(struct srv *s, unsigned int op, uint64_t data0)
{
	struct io_uring_sqe *sqe = ctrl_prep(&s->ring, s->c->fd, op, (uint32_t)s->id, data0);
	int res = INT32_MIN;
	int ret;

	sqe->user_data = UD_CTRL;
	ret = srv_loop(s, ctrl_done, &res, &res);
	return ret < 0 ? ret : res;
}

static bool no_inflight(struct srv *s, void *arg)
{
	(void)arg;
	return s->inflight <= 0;
}

/* STOP_DEV, reap the aborted fetches, close everything, DEL_DEV. */
static int srv_teardown(struct srv *s)
{
	int ret = srv_ctrl(s, UBLK_U_CMD_STOP_DEV, 0);
	int dummy = 0;

	if (ret < 0)
		fprintf(stderr, "STOP_DEV: %s\n", strerror(-ret));
	srv_loop(s, no_inflight, NULL, &dummy);
	io_uring_queue_exit(&s->ring);
	munmap(s->descs, s->descs_len);
	close(s->cfd);
	free(s->bufs);
	free(s->store);
	return del_dev(s->c, s->id);
}

/* ---- bad input ---------------------------------------------------------- */

struct thr_arg {
	struct srv *s;
	uint16_t tag;
	unsigned int op;
	int res;
};

static void *other_task_fetch(void *p)
{
	struct thr_arg *a = p;
	struct io_uring ring;

	a->res = io_uring_queue_init(4, &ring, IORING_SETUP_SQE128);
	if (a->res < 0)
		return NULL;
	io_sqe(&ring, a->s->cfd, a->op, 0, a->tag, 0, (uintptr_t)a->s->bufs);
	io_uring_submit(&ring);
	{
		struct __kernel_timespec ts = { .tv_sec = 2 };
		struct io_uring_cqe *cqe;

		if (io_uring_wait_cqe_timeout(&ring, &cqe, &ts) == 0) {
			a->res = cqe->res;
			io_uring_cqe_seen(&ring, cqe);
		} else {
			a->res = 1;	/* accepted and parked */
		}
	}
	io_uring_queue_exit(&ring);
	return NULL;
}

/* FETCH/COMMIT of @tag from a new thread with its own ring. */
static int other_task(struct srv *s, uint16_t tag, unsigned int op)
{
	struct thr_arg a = { .s = s, .tag = tag, .op = op };
	pthread_t t;

	pthread_create(&t, NULL, other_task_fetch, &a);
	pthread_join(t, NULL);
	return a.res;
}

/* submit one io command on the server ring, return its result */
static int io_once(struct srv *s, unsigned int op, uint16_t q, uint16_t tag,
		   uint64_t addr)
{
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = { .tv_nsec = 200000000 };
	int ret;

	io_uring_sqe_set_data64(io_prep(s, op, q, tag, 0, addr), 0xbad);
	ret = io_uring_submit_and_wait_timeout(&s->ring, &cqe, 1, &ts, NULL);
	if (ret < 0)
		return 1;	/* still parked: not what any check wants */
	ret = cqe->res;
	io_uring_cqe_seen(&s->ring, cqe);
	return ret;
}

/* ADD_DEV and SET_PARAMS refusals; 1 when no device could be added. */
static int bad_add_params(struct zu_ctrl *c)
{
	struct ublksrv_ctrl_dev_info info;
	struct zublk_params p;
	int id;

	check("GET_DEV_INFO on a missing device",
	      zu_ctrl_cmd(c, UBLK_U_CMD_GET_DEV_INFO, 4242, &info, sizeof(info), 0),
	      -ENODEV);
	check("ADD_DEV dev_id out of range",
	      add_dev(c, 1u << 20, 1, DEPTH, 0, NULL), -EINVAL);
	check("ADD_DEV depth 0", add_dev(c, (uint32_t)-1, 1, 0, 0, NULL), -EINVAL);
	check("ADD_DEV queues 0", add_dev(c, (uint32_t)-1, 0, DEPTH, 0, NULL), -EINVAL);
	if (!upstream) {
		check("ADD_DEV depth 4097",
		      add_dev(c, (uint32_t)-1, 1, 4097, 0, NULL), -EINVAL);
		check("ADD_DEV queues 4097",
		      add_dev(c, (uint32_t)-1, 4097, DEPTH, 0, NULL), -EINVAL);
		check("ADD_DEV unknown flag bit 40",
		      add_dev(c, (uint32_t)-1, 1, DEPTH, 1ULL << 40, NULL), -EINVAL);
	}

	id = add_dev(c, (uint32_t)-1, 1, DEPTH, 0, NULL);
	check("ADD_DEV good", id >= 0, 1);
	if (id < 0)
		return 1;
	check("ADD_DEV dev_id in use", add_dev(c, (uint32_t)id, 1, DEPTH, 0, NULL),
	      -EEXIST);

	good_params(&p);
	p.types = UBLK_PARAM_TYPE_DISCARD;
	p.discard.discard_granularity = 4096;
	p.discard.max_discard_sectors = 8;
	p.discard.max_discard_segments = 1;
	check("SET_PARAMS without basic", set_params(c, id, &p), -EINVAL);
	good_params(&p);
	p.basic.logical_bs_shift = 12;
	p.basic.physical_bs_shift = 9;
	check("SET_PARAMS logical > physical", set_params(c, id, &p), -EINVAL);
	good_params(&p);
	p.basic.logical_bs_shift = 8;
	check("SET_PARAMS shift 8", set_params(c, id, &p), -EINVAL);
	good_params(&p);
	p.basic.logical_bs_shift = 13;
	p.basic.physical_bs_shift = 13;
	check("SET_PARAMS shift 13", set_params(c, id, &p), -EINVAL);
	good_params(&p);
	p.basic.max_sectors = (MAX_IO >> 9) + 8;
	check("SET_PARAMS max_sectors above io buffer", set_params(c, id, &p), -EINVAL);
	good_params(&p);
	check("SET_PARAMS good", set_params(c, id, &p), 0);
	check("DEL_DEV", del_dev(c, id), 0);
	return 0;
}

/* User recovery and commands zublk does not implement. */
static void bad_recovery(struct zu_ctrl *c, bool newer)
{
	int id;

	id = add_dev(c, (uint32_t)-1, 1, DEPTH, 0, NULL);
	check("ADD_DEV for the recovery checks", id >= 0, 1);
	check("START_USER_RECOVERY without the flag",
	      zu_ctrl_cmd(c, UBLK_U_CMD_START_USER_RECOVERY, id, NULL, 0, 0), -EINVAL);
	/* 6.16 commands: neither ublk_drv 6.12 nor zublk has them */
	if (!newer)
		check("UPDATE_SIZE (6.16, not implemented)",
		      zu_ctrl_cmd(c, U_CMD_UPDATE_SIZE, id, NULL, 0, 1 << 20), -EOPNOTSUPP);
	check("QUIESCE_DEV (6.16, not implemented)",
	      zu_ctrl_cmd(c, U_CMD_QUIESCE_DEV, id, NULL, 0, 0), -EOPNOTSUPP);
	check("DEL_DEV", del_dev(c, id), 0);
	id = add_dev(c, (uint32_t)-1, 1, DEPTH, UBLK_F_USER_RECOVERY, NULL);
	check("ADD_DEV with USER_RECOVERY", id >= 0, 1);
	/* ublk_drv 6.12 waits forever for the fetches of a never-started device */
	if (!upstream) {
		check("END_USER_RECOVERY on a never-started device",
		      zu_ctrl_cmd(c, UBLK_U_CMD_END_USER_RECOVERY, id, NULL, 0, getpid()),
		      -EBUSY);
		check("END_USER_RECOVERY legacy opcode, pid 0",
		      zu_ctrl_cmd(c, UBLK_CMD_END_USER_RECOVERY, id, NULL, 0, 0), -EINVAL);
		check("START_USER_RECOVERY on a never-started device",
		      zu_ctrl_cmd(c, UBLK_U_CMD_START_USER_RECOVERY, id, NULL, 0, 0), -EBUSY);
		check("START_USER_RECOVERY legacy opcode, never started",
		      zu_ctrl_cmd(c, UBLK_CMD_START_USER_RECOVERY, id, NULL, 0, 0), -EBUSY);
	}
	check("DEL_DEV", del_dev(c, id), 0);
	if (!upstream) {
		check("ADD_DEV REISSUE without USER_RECOVERY",
		      add_dev(c, (uint32_t)-1, 1, DEPTH, UBLK_F_USER_RECOVERY_REISSUE, NULL),
		      -EINVAL);
		check("ADD_DEV FAIL_IO without USER_RECOVERY",
		      add_dev(c, (uint32_t)-1, 1, DEPTH, UBLK_F_USER_RECOVERY_FAIL_IO, NULL),
		      -EINVAL);
		check("ADD_DEV REISSUE with FAIL_IO",
		      add_dev(c, (uint32_t)-1, 1, DEPTH, UBLK_F_USER_RECOVERY |
			      UBLK_F_USER_RECOVERY_REISSUE | UBLK_F_USER_RECOVERY_FAIL_IO,
			      NULL), -EINVAL);
	}
}

/* The char node and io commands of a device; 2 when it cannot be set up. */
static int bad_io(struct zu_ctrl *c, bool newer)
{
	struct zublk_params p;
	struct srv s;
	int ret;

	if (srv_setup(&s, c, M_COPY))
		return 2;
	{
		void *w = mmap(NULL, s.descs_len, PROT_READ | PROT_WRITE, MAP_SHARED,
			       s.cfd, 0);

		check("writable mmap of descriptors", w == MAP_FAILED ? -errno : 0, -EPERM);
		if (w != MAP_FAILED)
			munmap(w, s.descs_len);
		if (!upstream) {
			ret = mprotect(s.descs, s.descs_len, PROT_READ | PROT_WRITE);
			check("mprotect descriptors writable", ret ? -errno : 0, -EACCES);
		}
	}
	{
		char path[64];
		int fd2;

		snprintf(path, sizeof(path), "/dev/%s%d", upstream ? "ublkc" : "zublkc", s.id);
		fd2 = open(path, O_RDWR);
		check("second open of the char node", fd2 < 0 ? -errno : 0, -EBUSY);
		if (fd2 >= 0)
			close(fd2);
	}
	check("COMMIT of a tag never fetched",
	      io_once(&s, UBLK_U_IO_COMMIT_AND_FETCH_REQ, 0, 1, buf_of(&s, 1)), -EINVAL);
	check("FETCH bad q_id", io_once(&s, UBLK_U_IO_FETCH_REQ, 1, 0, buf_of(&s, 0)),
	      -EINVAL);
	check("FETCH bad tag", io_once(&s, UBLK_U_IO_FETCH_REQ, 0, DEPTH, buf_of(&s, 0)),
	      -EINVAL);
	check("FETCH without buffer", io_once(&s, UBLK_U_IO_FETCH_REQ, 0, 0, 0), -EINVAL);
	/* park tag 0 */
	io_prep(&s, UBLK_U_IO_FETCH_REQ, 0, 0, -1, buf_of(&s, 0));
	io_uring_submit(&s.ring);
	check("FETCH of an already fetched tag",
	      io_once(&s, UBLK_U_IO_FETCH_REQ, 0, 0, buf_of(&s, 0)), newer ? -EINVAL : -EBUSY);
	check("COMMIT of a tag not handed out",
	      io_once(&s, UBLK_U_IO_COMMIT_AND_FETCH_REQ, 0, 0, buf_of(&s, 0)), -EBUSY);
	/* ublk_drv binds a queue to its task only once all tags are fetched */
	if (!upstream)
		check("FETCH from another task",
		      other_task(&s, 1, UBLK_U_IO_FETCH_REQ), -EINVAL);
	/* fetch the rest, start, then SET_PARAMS must be refused */
	for (uint16_t t = 1; t < DEPTH; t++)
		io_prep(&s, UBLK_U_IO_FETCH_REQ, 0, t, -1, buf_of(&s, t));
	io_uring_submit(&s.ring);
	s.inflight = DEPTH;
	check("START_DEV", srv_ctrl(&s, UBLK_U_CMD_START_DEV, getpid()), 0);
	good_params(&p);
	check("SET_PARAMS after START_DEV", set_params(c, s.id, &p), -EACCES);
	check("START_DEV twice", srv_ctrl(&s, UBLK_U_CMD_START_DEV, getpid()), -EEXIST);
	check("COMMIT from another task",
	      other_task(&s, 0, UBLK_U_IO_COMMIT_AND_FETCH_REQ), -EINVAL);
	check("teardown (STOP, DEL)", srv_teardown(&s), 0);
	return 0;
}

static int badinput(void)
{
	bool newer = upstream && !drv612;	/* see ERRNO_DIFFS */
	struct zu_ctrl c, c64;

	if (ctrl_open(&c, true) < 0)
		return 2;
	if (bad_add_params(&c))
		return 1;
	bad_recovery(&c, newer);
	/* control command on a 64-byte SQE ring */
	if (ctrl_open(&c64, false) == 0) {
		uint64_t feat = 0;

		check("GET_FEATURES on a 64-byte SQE",
		      zu_ctrl_cmd(&c64, UBLK_U_CMD_GET_FEATURES, 0, &feat, 8, 0), -EINVAL);
		zu_ctrl_close(&c64);
	}
	/* io commands: need a device with a char node */
	if (bad_io(&c, newer))
		return 2;
	zu_ctrl_close(&c);
	return failures ? 1 : 0;
}

/* ---- data ------------------------------------------------------------------ */

static bool child_done(struct srv *s, void *arg)
{
	pid_t *pid = arg;
	int st;

	(void)s;
	if (*pid > 0 && waitpid(*pid, &st, WNOHANG) == *pid) {
		*pid = WIFEXITED(st) ? -WEXITSTATUS(st) : -100;
		return true;
	}
	return *pid <= 0;
}

static int data_child(int id, int go)
{
	char path[64];
	char *w, *r;
	char c;
	int fd;

	/* the parent says when START_DEV has returned */
	if (read(go, &c, 1) != 1)
		return 1;
	snprintf(path, sizeof(path), "/dev/%s%d", upstream ? "ublkb" : "zublkb", id);
	for (int i = 0; i < 50 && access(path, F_OK); i++)
		usleep(100000);
	if (child_cmd) {
		setenv("ZU_DEV", path, 1);
		execvp(child_cmd[0], child_cmd);
		fprintf(stderr, "exec %s: %s\n", child_cmd[0], strerror(errno));
		return 1;
	}
	fd = open(path, O_RDWR | O_DIRECT);
	if (fd < 0) {
		fprintf(stderr, "open %s: %s\n", path, strerror(errno));
		return 1;
	}
	w = aligned_alloc(4096, 1 << 20);
	r = aligned_alloc(4096, 1 << 20);
	for (unsigned int i = 0; i < (1u << 20); i++)
		w[i] = (char)(i * 7 + (i >> 12));
	for (off_t off = 0; off < DEV_BYTES; off += 1 << 20) {
		if (pwrite(fd, w, 1 << 20, off) != 1 << 20 ||
		    pread(fd, r, 1 << 20, off) != 1 << 20 || memcmp(w, r, 1 << 20)) {
			fprintf(stderr, "data mismatch or IO error at %lld\n",
				(long long)off);
			return 1;
		}
	}
	/* small unaligned-to-page but sector-aligned IO */
	if (pwrite(fd, w, 4096, 512 * 3) != 4096 || pread(fd, r, 4096, 512 * 3) != 4096 ||
	    memcmp(w, r, 4096))
		return 1;
	close(fd);
	return 0;
}

static int data(enum mode mode)
{
	struct zu_ctrl c;
	struct srv s;
	pid_t pid;
	int dummy = 0, ret, go[2];

	if (ctrl_open(&c, true) < 0 || srv_setup(&s, &c, mode))
		return 2;
	if (pipe(go))
		return 2;
	srv_fetch_all(&s);
	pid = fork();
	if (pid == 0)
		_exit(data_child(s.id, go[0]));
	ret = srv_ctrl(&s, UBLK_U_CMD_START_DEV, getpid());
	check("START_DEV", ret, 0);
	if (ret == 0 && write(go[1], "g", 1) == 1) {
		srv_loop(&s, child_done, &pid, &dummy);
		check(child_cmd ? "child command" : "child wrote and read back 4 MiB",
		      pid, 0);
	} else {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	check("teardown (STOP, DEL)", srv_teardown(&s), 0);
	zu_ctrl_close(&c);
	return failures ? 1 : 0;
}

static int cycles(long n)
{
	struct zu_ctrl c;
	struct zublk_params p;

	if (ctrl_open(&c, true) < 0)
		return 2;
	good_params(&p);
	for (long i = 0; i < n; i++) {
		int id = add_dev(&c, (uint32_t)-1, 2, 64, 0, NULL);
		int r;

		if (id < 0) {
			check("ADD_DEV in cycle", id, 0);
			break;
		}
		r = set_params(&c, id, &p);
		if (r) {
			check("SET_PARAMS in cycle", r, 0);
			break;
		}
		r = del_dev(&c, id);
		if (r) {
			check("DEL_DEV in cycle", r, 0);
			break;
		}
	}
	zu_ctrl_close(&c);
	return failures ? 1 : 0;
}

/* Print the features word that command @op (named @name) reports. */
static int features(unsigned int op, const char *name)
{
	struct zu_ctrl c;
	uint64_t f = 0;
	int ret;

	if (ctrl_open(&c, true) < 0)
		return 2;
	ret = zu_ctrl_cmd(&c, op, 0, &f, 8, 0);
	zu_ctrl_close(&c);
	if (ret < 0) {
		fprintf(stderr, "%s: %s\n", name, strerror(-ret));
		return 1;
	}
	printf("%#" PRIx64 "\n", f);
	return 0;
}

/* ADD_DEV + SET_PARAMS, left for the caller to delete (or rmmod). */
static int addonly(void)
{
	struct zu_ctrl c;
	struct zublk_params p;
	int id;

	if (ctrl_open(&c, true) < 0)
		return 2;
	id = add_dev(&c, (uint32_t)-1, 1, 16, 0, NULL);
	if (id < 0) {
		fprintf(stderr, "ADD_DEV: %s\n", strerror(-id));
		zu_ctrl_close(&c);
		return 1;
	}
	good_params(&p);
	if (set_params(&c, id, &p) == 0)
		printf("%d\n", id);
	zu_ctrl_close(&c);
	return 0;
}

static int del(long id)
{
	struct zu_ctrl c;
	int ret;

	if (ctrl_open(&c, true) < 0)
		return 2;
	ret = del_dev(&c, (uint32_t)id);
	zu_ctrl_close(&c);
	if (ret < 0)
		fprintf(stderr, "DEL_DEV %ld: %s\n", id, strerror(-ret));
	return ret < 0;
}

/* Open the control node and add a device: its id, or -1. */
static int open_add(struct zu_ctrl *c)
{
	int id;

	if (ctrl_open(c, true) < 0)
		return -1;
	id = add_dev(c, (uint32_t)-1, 1, DEPTH, 0, NULL);
	check("ADD_DEV", id >= 0, 1);
	return id;
}

/* SET_PARAMS of good_params() with one basic field changed. */
static void check_basic(struct zu_ctrl *c, int id, const char *what, size_t off,
			unsigned int val, int want)
{
	struct zublk_params p;
	char name[96];

	good_params(&p);
	if (off == offsetof(struct ublk_param_basic, max_sectors))
		p.basic.max_sectors = val;
	else
		((uint8_t *)&p.basic)[off] = (uint8_t)val;
	snprintf(name, sizeof(name), "SET_PARAMS %s %u", what, val);
	check(name, set_params(c, id, &p), want);
}

static int limits(void)
{
	static const struct { const char *name; size_t off; } shifts[] = {
		{ "physical_bs_shift", offsetof(struct ublk_param_basic, physical_bs_shift) },
		{ "io_min_shift", offsetof(struct ublk_param_basic, io_min_shift) },
		{ "io_opt_shift", offsetof(struct ublk_param_basic, io_opt_shift) },
	};
	const size_t ms = offsetof(struct ublk_param_basic, max_sectors);
	struct zu_ctrl c;
	int id;

	id = open_add(&c);
	if (id < 0)
		return 2;
	/* below a page: blk_validate_limits WARNs at 1..7, 0 means 255 */
	check_basic(&c, id, "max_sectors", ms, 0, -EINVAL);
	check_basic(&c, id, "max_sectors", ms, 1, -EINVAL);
	check_basic(&c, id, "max_sectors", ms, 7, -EINVAL);
	check_basic(&c, id, "max_sectors", ms, 8, 0);
	check_basic(&c, id, "max_sectors", ms, MAX_IO >> 9, 0);
	check_basic(&c, id, "max_sectors", ms, (MAX_IO >> 9) + 1, -EINVAL);
	for (size_t i = 0; i < sizeof(shifts) / sizeof(shifts[0]); i++) {
		check_basic(&c, id, shifts[i].name, shifts[i].off, 28, 0);
		/* ublk_drv 6.12.95 accepts them; later upstream refuses */
		for (unsigned int v = 29; v <= 31; v++)
			check_basic(&c, id, shifts[i].name, shifts[i].off, v,
				    drv612 ? 0 : -EINVAL);
	}
	check("DEL_DEV", del_dev(&c, id), 0);

	/* a 4 KiB io buffer: one page is the only size */
	{
		struct ublksrv_ctrl_dev_info info = {
			.nr_hw_queues = 1, .queue_depth = DEPTH,
			.max_io_buf_bytes = 4096, .dev_id = (uint32_t)-1,
		};

		id = zu_ctrl_cmd(&c, UBLK_U_CMD_ADD_DEV, (uint32_t)-1, &info, sizeof(info), 0);
		check("ADD_DEV with a 4 KiB io buffer", id, 0);
		id = (int)info.dev_id;
		check_basic(&c, id, "max_sectors (4 KiB buffer)", ms, 0, -EINVAL);
		check_basic(&c, id, "max_sectors (4 KiB buffer)", ms, 9, -EINVAL);
		check_basic(&c, id, "max_sectors (4 KiB buffer)", ms, 8, 0);
		check("DEL_DEV", del_dev(&c, id), 0);
	}
	zu_ctrl_close(&c);
	return failures ? 1 : 0;
}

/* SET_PARAMS @p, then GET_PARAMS must show @types (DEVT aside). */
static void check_types(struct zu_ctrl *c, int id, const char *what,
			struct zublk_params *p, uint32_t types)
{
	struct zublk_params g;
	char name[96];

	snprintf(name, sizeof(name), "SET_PARAMS %s", what);
	check(name, set_params(c, id, p), 0);
	snprintf(name, sizeof(name), "GET_PARAMS types after %s", what);
	check(name, get_params(c, id, &g) ? -1 :
	      (long)(g.types & ~UBLK_PARAM_TYPE_DEVT), types);
}

static int params(void)
{
	/* ublk_drv 6.12 knows neither type: it masks them off */
	const uint32_t sg = drv612 ? 0 :
		UBLK_PARAM_TYPE_DMA_ALIGN | UBLK_PARAM_TYPE_SEGMENT;
	const int bad = drv612 ? 0 : -EINVAL;
	struct zublk_params p, g;
	struct zu_ctrl c;
	int id;

	id = open_add(&c);
	if (id < 0)
		return 2;
	good_params(&p);
	p.types |= 1u << 20;
	check_types(&c, id, "with unknown type bit 20", &p, UBLK_PARAM_TYPE_BASIC);
	good_params(&p);
	p.types |= UBLK_PARAM_TYPE_DEVT;
	check("SET_PARAMS with DEVT (read-only)", set_params(&c, id, &p), -EINVAL);
	good_params(&p);
	p.types |= UBLK_PARAM_TYPE_ZONED;
	check("SET_PARAMS with ZONED (not supported)", set_params(&c, id, &p), -EINVAL);

	good_params(&p);
	kublk_null_sg(&p);
	p.dma.alignment = 4096;
	check("SET_PARAMS dma alignment 4096", set_params(&c, id, &p), bad);
	p.dma.alignment = 1000;
	check("SET_PARAMS dma alignment 1000", set_params(&c, id, &p), bad);
	p.dma.alignment = 0;
	check("SET_PARAMS dma alignment 0", set_params(&c, id, &p), 0);
	kublk_null_sg(&p);
	p.seg.seg_boundary_mask = 2047;
	check("SET_PARAMS seg_boundary_mask 2047", set_params(&c, id, &p), bad);
	p.seg.seg_boundary_mask = 8190;
	check("SET_PARAMS seg_boundary_mask 8190", set_params(&c, id, &p), bad);
	kublk_null_sg(&p);
	p.seg.max_segment_size = 4095;
	check("SET_PARAMS max_segment_size 4095", set_params(&c, id, &p), bad);

	good_params(&p);
	kublk_null_sg(&p);
	check_types(&c, id, "kublk null DMA_ALIGN + SEGMENT", &p,
		    UBLK_PARAM_TYPE_BASIC | sg);
	if (!drv612 && !get_params(&c, id, &g)) {
		check("GET_PARAMS dma alignment", g.dma.alignment, 4095);
		check("GET_PARAMS seg_boundary_mask", (long)g.seg.seg_boundary_mask, 4095);
		check("GET_PARAMS max_segment_size", g.seg.max_segment_size, 32 << 10);
		check("GET_PARAMS max_segments", g.seg.max_segments, 32);
	}
	check("DEL_DEV", del_dev(&c, id), 0);
	zu_ctrl_close(&c);
	return failures ? 1 : 0;
}

/* START_DEV fails (the caller took the disk name); nothing may leak. */
static int startfail(void)
{
	struct zu_ctrl c;
	struct srv s;
	int ret;

	if (ctrl_open(&c, true) < 0 || srv_setup(&s, &c, M_COPY))
		return 2;
	srv_fetch_all(&s);
	ret = srv_ctrl(&s, UBLK_U_CMD_START_DEV, getpid());
	printf("%s START_DEV of device %d fails (%d %s)\n", ret < 0 ? "ok  " : "FAIL",
	       s.id, ret, ret < 0 ? strerror(-ret) : "-");
	if (ret >= 0)
		failures++;
	check("teardown (STOP, DEL) returns", srv_teardown(&s), 0);
	zu_ctrl_close(&c);
	return failures ? 1 : 0;
}

/* ---- STOP_DEV racing START_DEV and FETCH ------------------------------------ */

struct race_cmd {
	unsigned int op;
	int id;
	int delay_us;		/* before issuing */
	int res;
};

/* Issue one control command from its own thread and ring. */
static void *race_ctrl(void *p)
{
	struct race_cmd *r = p;
	struct zu_ctrl c;

	if (ctrl_open(&c, true) < 0) {
		r->res = 1;
		return NULL;
	}
	usleep(r->delay_us);
	r->res = zu_ctrl_cmd(&c, r->op, (uint32_t)r->id, NULL, 0, getpid());
	zu_ctrl_close(&c);
	return NULL;
}

struct race_stop {
	pthread_t thread;	/* issuing STOP_DEV */
	bool joined;
};

/* STOP_DEV has returned and every parked command came back. */
static bool race_done(struct srv *s, void *arg)
{
	struct race_stop *st = arg;

	if (!st->joined && pthread_tryjoin_np(st->thread, NULL) == 0)
		st->joined = true;
	return st->joined && s->inflight <= 0;
}

/* Submit the FETCHes of tags [from, to). */
static void race_fetch(struct srv *s, uint16_t from, uint16_t to, bool async)
{
	for (uint16_t t = from; t < to; t++) {
		struct io_uring_sqe *sqe = io_prep(s, UBLK_U_IO_FETCH_REQ, 0, t, -1,
						   buf_of(s, t));

		if (async)
			sqe->flags |= IOSQE_ASYNC;
	}
	s->inflight += to - from;
	io_uring_submit(&s->ring);
}

static int race(long n, bool async)
{
	struct zu_ctrl c;
	unsigned int seed = (unsigned int)getpid();

	if (ctrl_open(&c, true) < 0)
		return 2;
	for (long i = 0; i < n && !failures; i++) {
		struct race_cmd start = { .op = UBLK_U_CMD_START_DEV };
		struct race_cmd stop = { .op = UBLK_U_CMD_STOP_DEV };
		struct race_stop st = { 0 };
		pthread_t ts;
		struct srv s;
		int dummy = 0;
		uint16_t half = (uint16_t)(rand_r(&seed) % (DEPTH + 1));

		if (srv_setup(&s, &c, M_COPY))
			return 2;
		start.id = stop.id = s.id;
		stop.delay_us = (int)(rand_r(&seed) % 2000);
		/* some FETCHes before the race, the rest during it */
		race_fetch(&s, 0, half, async);
		pthread_create(&ts, NULL, race_ctrl, &start);
		pthread_create(&st.thread, NULL, race_ctrl, &stop);
		race_fetch(&s, half, DEPTH, async);
		/* serve (START's partition scan) until STOP has returned and
		 * every parked command came back */
		if (srv_loop(&s, race_done, &st, &dummy) < 0)
			check("serving during the race", -1, 0);
		pthread_join(ts, NULL);
		if (start.res != 0 && start.res != -ENODEV) {
			check("START_DEV racing STOP_DEV", start.res, 0);
		}
		if (stop.res != 0)
			check("STOP_DEV racing START_DEV", stop.res, 0);
		io_uring_queue_exit(&s.ring);
		munmap(s.descs, s.descs_len);
		close(s.cfd);
		free(s.bufs);
		free(s.store);
		{
			int r = del_dev(&c, s.id);

			if (r)
				check("DEL_DEV after the race", r, 0);
		}
	}
	zu_ctrl_close(&c);
	if (!failures)
		printf("ok   %ld rounds of STOP_DEV racing START_DEV and FETCH%s\n", n,
		       async ? " (IOSQE_ASYNC)" : "");
	return failures ? 1 : 0;
}

/* ---- teardown and races (tests/zublk/04x) ----------------------------------- */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ADD_DEV (@queues x @depth, @flags) + SET_PARAMS; the id or -errno. */
static int add_with_params(struct zu_ctrl *c, uint16_t queues, uint16_t depth, uint64_t flags,
			   struct ublksrv_ctrl_dev_info *info)
{
	struct zublk_params p;
	int id = add_dev(c, (uint32_t)-1, queues, depth, flags, info);
	int ret;

	if (id < 0) {
		fprintf(stderr, "ADD_DEV: %s\n", strerror(-id));
		return id;
	}
	good_params(&p);
	ret = set_params(c, id, &p);
	if (ret < 0) {
		fprintf(stderr, "SET_PARAMS: %s\n", strerror(-ret));
		del_dev(c, id);
		return ret;
	}
	return id;
}

/*
 * Child of deadtw: submit one io command with IOSQE_ASYNC on a
 * SINGLE_ISSUER|DEFER_TASKRUN ring and exit without ever entering the ring
 * again, so the command's task work runs from io_uring's fallback kworker.
 */
static int deadtw_child(int id, const char *kind)
{
	struct io_uring_params prm = {
		.flags = IORING_SETUP_SQE128 | IORING_SETUP_SINGLE_ISSUER |
			 IORING_SETUP_DEFER_TASKRUN,
	};
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	char *buf = aligned_alloc(4096, MAX_IO);
	int cfd = cdev_open(id);

	if (cfd < 0 || !buf || io_uring_queue_init_params(8, &ring, &prm) < 0)
		return 2;
	memset(buf, 1, MAX_IO);
	sqe = io_sqe(&ring, cfd, UBLK_U_IO_FETCH_REQ, 0, 0, -1, (uintptr_t)buf);
	if (!strcmp(kind, "store")) {
		struct zublk_store_reg *r = (struct zublk_store_reg *)sqe->cmd;

		sqe->cmd_op = ZUBLK_U_IO_REGISTER_STORE;
		r->addr = (uintptr_t)buf;
		r->len = MAX_IO;
	}
	sqe->flags |= IOSQE_ASYNC;
	if (io_uring_submit(&ring) != 1)
		return 2;
	usleep(200000);		/* io-wq hands the command back meanwhile */
	_exit(0);
}

/*
 * deadtw store|pin|plain: the command a dying server punted to io-wq must
 * complete without running (no pin without an mm, no queue bound to a
 * kworker); then the device deletes.
 */
static int deadtw(const char *kind)
{
	uint64_t flags = !strcmp(kind, "store") ? ZUBLK_F_STORE :
			 !strcmp(kind, "pin") ? ZUBLK_F_PIN_BUF : 0;
	struct zu_ctrl c;
	int id, st;
	pid_t pid;

	if (strcmp(kind, "store") && strcmp(kind, "pin") && strcmp(kind, "plain")) {
		fprintf(stderr, "deadtw: kind must be store, pin or plain, not '%s'\n", kind);
		return 2;
	}
	if (ctrl_open(&c, true) < 0)
		return 2;
	for (int round = 0; round < 4 && !failures; round++) {
		id = add_with_params(&c, 1, DEPTH, flags, NULL);
		if (id < 0)
			return 2;
		pid = fork();
		if (pid == 0)
			_exit(deadtw_child(id, kind));
		waitpid(pid, &st, 0);
		check("server exited with its command unreaped",
		      WIFEXITED(st) ? WEXITSTATUS(st) : 100, 0);
		check("DEL_DEV after the server died", del_dev(&c, id), 0);
	}
	zu_ctrl_close(&c);
	return failures ? 1 : 0;
}

/* Queue a FETCH of every tag of queue 0, each with its slot of @bufs. */
static void fetch_all(struct io_uring *ring, int cfd, char *bufs)
{
	for (uint16_t t = 0; t < DEPTH; t++)
		io_sqe(ring, cfd, UBLK_U_IO_FETCH_REQ, 0, t, -1,
		       (uintptr_t)(bufs + (size_t)t * MAX_IO));
}

/* Did child @pid exit with status 0 within 60 s?  (It is reaped if so.) */
static bool exits_in_time(pid_t pid)
{
	int st = 0, w = 0;

	for (int t = 0; t < 6000 && (w = waitpid(pid, &st, WNOHANG)) == 0; t++)
		usleep(10000);
	return w == pid && WIFEXITED(st) && !WEXITSTATUS(st);
}

/* Child of startexit: fetch every tag of device @id, say so, exit. */
static int startexit_child(int id, int go)
{
	struct io_uring ring;
	char *bufs = aligned_alloc(4096, DEPTH * MAX_IO);
	int cfd = cdev_open(id);

	if (cfd < 0 || !bufs || io_uring_queue_init(16, &ring, IORING_SETUP_SQE128) < 0)
		return 2;
	fetch_all(&ring, cfd, bufs);
	if (io_uring_submit(&ring) != DEPTH || write(go, "f", 1) != 1)
		return 2;
	_exit(0);
}

/*
 * startexit N: N rounds of a server that fetches every tag and exits at
 * once while START_DEV adds the disk; START_DEV succeeds or says -ENODEV,
 * the device deletes (the kernel log shows any unbalanced quiesce).
 */
static int startexit(long n)
{
	unsigned int seed = (unsigned int)getpid();
	long started = 0;
	struct zu_ctrl c;

	if (ctrl_open(&c, true) < 0)
		return 2;
	for (long i = 0; i < n && !failures; i++) {
		int id = add_with_params(&c, 1, DEPTH, 0, NULL);
		int go[2], ret;
		pid_t pid;
		char b;

		if (id < 0 || pipe(go))
			return 2;
		pid = fork();
		if (pid == 0)
			_exit(startexit_child(id, go[1]));
		if (read(go[0], &b, 1) != 1) {
			check("server fetched every tag", -1, 0);
			break;
		}
		usleep(rand_r(&seed) % 2000);
		ret = zu_ctrl_cmd(&c, UBLK_U_CMD_START_DEV, (uint32_t)id, NULL, 0, getpid());
		if (ret != 0 && ret != -ENODEV)
			check("START_DEV as the server exits", ret, 0);
		started += ret == 0;
		waitpid(pid, NULL, 0);
		close(go[0]);
		close(go[1]);
		ret = del_dev(&c, (uint32_t)id);
		if (ret)
			check("DEL_DEV after the server exited", ret, 0);
	}
	zu_ctrl_close(&c);
	if (!failures)
		printf("ok   %ld rounds of START_DEV as the server exits (%ld started)\n", n,
		       started);
	return failures ? 1 : 0;
}

/*
 * Child of selfstart: a server that fetches every tag of device @id, sends
 * START_DEV on its own ring through io-wq (IOSQE_ASYNC), and once the disk
 * exists (its partition scan may be reading now) exits without serving.
 */
/*
 * A child server's start: open device @id's char node, set up @ring and
 * queue FETCH_REQ for every tag (not submitted).  0, or 2 on failure.
 */
static int child_fetch_all(struct io_uring *ring, int id)
{
	char *bufs = aligned_alloc(4096, DEPTH * MAX_IO);
	int cfd = cdev_open(id);

	if (cfd < 0 || !bufs || io_uring_queue_init(16, ring, IORING_SETUP_SQE128) < 0)
		return 2;
	fetch_all(ring, cfd, bufs);
	return 0;
}

static int selfstart_child(int ctrl_fd, int id)
{
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	char sys[64];

	if (child_fetch_all(&ring, id))
		return 2;
	sqe = ctrl_prep(&ring, ctrl_fd, UBLK_U_CMD_START_DEV, (uint32_t)id,
			(uint64_t)getpid());
	sqe->flags |= IOSQE_ASYNC;
	if (io_uring_submit(&ring) != DEPTH + 1)
		return 2;
	snprintf(sys, sizeof(sys), "/sys/block/%s%d", upstream ? "ublkb" : "zublkb", id);
	for (int i = 0; i < 3000 && access(sys, F_OK); i++)
		usleep(10000);
	_exit(0);
}

/*
 * selfstart N: N rounds of selfstart_child.  The server must be able to
 * exit (within 60 s: its START_DEV, in its own io-wq, must not wait for
 * a partition scan only the exiting server could answer) and the device
 * must delete.
 */
static int selfstart(long n)
{
	struct zu_ctrl c;

	if (ctrl_open(&c, true) < 0)
		return 2;
	for (long i = 0; i < n && !failures; i++) {
		int id = add_with_params(&c, 1, DEPTH, 0, NULL);
		pid_t pid;

		if (id < 0)
			return 2;
		pid = fork();
		if (pid == 0)
			_exit(selfstart_child(c.fd, id));
		if (!exits_in_time(pid)) {
			check("server exits with its START_DEV in its io-wq", -1, 0);
			return 1;	/* a stuck server: leave the device be */
		}
		check("DEL_DEV after the server exited", del_dev(&c, (uint32_t)id), 0);
	}
	zu_ctrl_close(&c);
	if (!failures)
		printf("ok   %ld rounds of a server exiting with START_DEV in its io-wq\n", n);
	return failures ? 1 : 0;
}

/* Does a thread of this process (its io-wq included) run @fn? */
static bool self_in(const char *fn)
{
	char line[256];
	bool found = false;
	glob_t g;

	if (glob("/proc/self/task/*/stack", 0, NULL, &g))
		return false;
	for (size_t i = 0; i < g.gl_pathc && !found; i++) {
		FILE *f = fopen(g.gl_pathv[i], "r");

		while (f && !found && fgets(line, sizeof(line), f))
			found = strstr(line, fn) != NULL;
		if (f)
			fclose(f);
	}
	globfree(&g);
	return found;
}

/*
 * Child of selfstop: a server that fetches every tag of device @id, takes
 * one request and never answers it, sends STOP_DEV through its own io-wq
 * (IOSQE_ASYNC) and exits once STOP_DEV runs (waiting for that request).
 */
static int selfstop_child(int ctrl_fd, int id, int go)
{
	struct __kernel_timespec ts = { .tv_sec = 30 };
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	struct io_uring ring;

	if (child_fetch_all(&ring, id))
		return 2;
	if (io_uring_submit(&ring) != DEPTH || write(go, "f", 1) != 1)
		return 2;
	/* the first request (the partition scan's read, say): held */
	if (io_uring_wait_cqe_timeout(&ring, &cqe, &ts) || cqe->res != UBLK_IO_RES_OK)
		return 3;
	sqe = ctrl_prep(&ring, ctrl_fd, UBLK_U_CMD_STOP_DEV, (uint32_t)id, 0);
	sqe->flags |= IOSQE_ASYNC;
	if (io_uring_submit(&ring) != 1)
		return 2;
	for (int i = 0; i < 1000 && !self_in("zublk_stop"); i++)
		usleep(10000);
	_exit(0);
}

/*
 * selfstop N: N rounds of selfstop_child after START_DEV.  The server must
 * be able to exit (within 60 s: its STOP_DEV, in its own io-wq, waits for
 * the request it held) and the device must delete.
 */
static int selfstop(long n)
{
	struct zu_ctrl c;

	if (ctrl_open(&c, true) < 0)
		return 2;
	for (long i = 0; i < n && !failures; i++) {
		int id = add_with_params(&c, 1, DEPTH, 0, NULL), go[2];
		pid_t pid;
		char b;

		if (id < 0 || pipe(go))
			return 2;
		pid = fork();
		if (pid == 0)
			_exit(selfstop_child(c.fd, id, go[1]));
		if (read(go[0], &b, 1) != 1)
			return 2;
		check("START_DEV", zu_ctrl_cmd(&c, UBLK_U_CMD_START_DEV, (uint32_t)id, NULL, 0, pid), 0);
		close(go[0]);
		close(go[1]);
		if (!exits_in_time(pid)) {
			check("server exits with its STOP_DEV in its io-wq", -1, 0);
			return 1;	/* a stuck server: leave the device be */
		}
		check("DEL_DEV after the server exited", del_dev(&c, (uint32_t)id), 0);
	}
	zu_ctrl_close(&c);
	if (!failures)
		printf("ok   %ld rounds of a server exiting with STOP_DEV in its io-wq\n", n);
	return failures ? 1 : 0;
}

/*
 * Child of exitwait: send a control command that waits (START_DEV of a
 * device nobody serves, or DEL_DEV of a device whose char node this child
 * holds) through io-wq and exit at once.
 */
static int exitwait_child(int ctrl_fd, int id, bool del)
{
	struct io_uring_sqe *sqe;
	struct io_uring ring;

	if (del && cdev_open(id) < 0)
		return 2;
	if (io_uring_queue_init(4, &ring, IORING_SETUP_SQE128) < 0)
		return 2;
	sqe = ctrl_prep(&ring, ctrl_fd, del ? UBLK_U_CMD_DEL_DEV : UBLK_U_CMD_START_DEV,
			(uint32_t)id, (uint64_t)getpid());
	sqe->flags |= IOSQE_ASYNC;
	if (io_uring_submit(&ring) != 1)
		return 2;
	_exit(0);
}

/*
 * exitwait N: N rounds of exitwait_child, alternating START_DEV and
 * DEL_DEV.  The child must exit within 60 s: its io-wq, which its exit
 * waits for, must not stay in the command's wait.
 */
static int exitwait(long n)
{
	struct zu_ctrl c;

	if (ctrl_open(&c, true) < 0)
		return 2;
	for (long i = 0; i < n && !failures; i++) {
		int id = add_with_params(&c, 1, DEPTH, 0, NULL), st;
		bool del = i & 1, exited;
		pid_t pid;

		if (id < 0)
			return 2;
		pid = fork();
		if (pid == 0)
			_exit(exitwait_child(c.fd, id, del));
		exited = exits_in_time(pid);
		if (!exited)
			check(del ? "exit with DEL_DEV of its own device in io-wq" :
			      "exit with START_DEV of an unserved device in io-wq", -1, 0);
		/* ends the command the child left, if it is still waiting */
		if (del_dev(&c, (uint32_t)id) && !del)
			check("DEL_DEV after the child exited", -1, 0);
		if (!exited)
			waitpid(pid, &st, 0);
	}
	zu_ctrl_close(&c);
	if (!failures)
		printf("ok   %ld rounds of a process exiting with a waiting command in io-wq\n", n);
	return failures ? 1 : 0;
}

/* Child of park: one task and ring parks every tag of every queue. */
static int park_child(int id, unsigned int queues, unsigned int depth, int go)
{
	unsigned int n = queues * depth, entries = 1;
	struct io_uring ring;
	int cfd = cdev_open(id);

	while (entries < n)
		entries <<= 1;
	if (cfd < 0 || io_uring_queue_init(entries, &ring, IORING_SETUP_SQE128) < 0)
		return 2;
	for (unsigned int q = 0; q < queues; q++)
		for (unsigned int t = 0; t < depth; t++)
			io_sqe(&ring, cfd, UBLK_U_IO_FETCH_REQ, (uint16_t)q, (uint16_t)t, -1, 0);
	if (io_uring_submit(&ring) != (int)n || write(go, "p", 1) != 1)
		return 2;
	pause();
	return 0;
}

/*
 * park Q D: a server parks Q x D commands (USER_COPY: no buffers) and is
 * killed; prints how long its exit and the delete (DEL_DEV returns once
 * the char node is released) take.  Measures; asserts only that it works.
 */
static int park(long queues, long depth)
{
	struct ublksrv_ctrl_dev_info info;
	double t0, t1, t2;
	struct zu_ctrl c;
	int id, go[2], ret;
	pid_t pid;
	char b;

	if (queues < 1 || queues > 64 || depth < 1 || depth > 4096) {
		fprintf(stderr, "park: queues 1-64, depth 1-4096\n");
		return 2;
	}
	if (ctrl_open(&c, true) < 0 || pipe(go))
		return 2;
	id = add_with_params(&c, (uint16_t)queues, (uint16_t)depth, UBLK_F_USER_COPY, &info);
	if (id < 0)
		return 2;
	pid = fork();
	if (pid == 0)
		_exit(park_child(id, info.nr_hw_queues, info.queue_depth, go[1]));
	if (read(go[0], &b, 1) != 1) {
		check("server parked every tag", -1, 0);
		kill(pid, SIGKILL);
	}
	t0 = now_ms();
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	t1 = now_ms();
	ret = del_dev(&c, (uint32_t)id);
	t2 = now_ms();
	check("DEL_DEV after SIGKILL", ret, 0);
	printf("parked %u x %u: SIGKILL to exit %.1f ms, to DEL_DEV done %.1f ms\n",
	       info.nr_hw_queues, info.queue_depth, t1 - t0, t2 - t0);
	zu_ctrl_close(&c);
	return failures ? 1 : 0;
}

/*
 * FETCH tags [0, @depth) of queue 0 one submission at a time while
 * @stop (STOP_DEV or DEL_DEV, from its own thread) runs; every FETCH must
 * complete (within 10 s: a lost completion is a hang).  Closes @cfd.
 */
static void fetch_vs_stop(struct race_cmd *stop, int cfd, uint16_t depth, const char *buf,
			  bool del)
{
	struct __kernel_timespec ts = { .tv_sec = 10 };
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	pthread_t th;
	int done = 0;

	if (io_uring_queue_init(depth, &ring, IORING_SETUP_SQE128) < 0) {
		check("io_uring_queue_init", -1, 0);
		return;
	}
	pthread_create(&th, NULL, race_ctrl, stop);
	for (uint16_t t = 0; t < depth; t++) {
		io_sqe(&ring, cfd, UBLK_U_IO_FETCH_REQ, 0, t, -1,
		       (uintptr_t)(buf + (size_t)t * 4096));
		io_uring_submit(&ring);
	}
	while (done < depth && io_uring_wait_cqe_timeout(&ring, &cqe, &ts) == 0) {
		io_uring_cqe_seen(&ring, cqe);
		done++;
	}
	if (done < depth)
		check("FETCHes completed by STOP_DEV/DEL_DEV", done, depth);
	io_uring_queue_exit(&ring);
	close(cfd);
	pthread_join(th, NULL);
	if (stop->res != 0 && !(del && stop->res == -ENODEV))
		check(del ? "DEL_DEV racing FETCH" : "STOP_DEV racing FETCH", stop->res, 0);
}

/* A served recovery device whose server went away (QUIESCED): its id. */
static int quiesced_dev(struct zu_ctrl *c)
{
	struct srv s;
	int id, ret = -EBUSY;

	if (srv_setup_flags(&s, c, M_COPY, UBLK_F_USER_RECOVERY))
		return -1;
	srv_fetch_all(&s);
	if (srv_ctrl(&s, UBLK_U_CMD_START_DEV, getpid())) {
		check("START_DEV of the recovery device", -1, 0);
		return -1;
	}
	id = s.id;
	io_uring_queue_exit(&s.ring);
	munmap(s.descs, s.descs_len);
	close(s.cfd);
	free(s.bufs);
	free(s.store);
	/* -EBUSY until the char node is released */
	for (int i = 0; i < 100 && ret == -EBUSY; i++) {
		ret = zu_ctrl_cmd(c, UBLK_U_CMD_START_USER_RECOVERY, (uint32_t)id, NULL, 0, 0);
		if (ret == -EBUSY)
			usleep(50000);
	}
	if (ret)
		check("START_USER_RECOVERY", ret, 0);
	return ret ? -1 : id;
}

/*
 * stopfetch N [recover]: N rounds of STOP_DEV or DEL_DEV (alternating)
 * racing the FETCHes of a fresh device, or of a recovery device's new
 * server after START_USER_RECOVERY (old commands were freed).  Every
 * FETCH must complete and the device must delete.
 */
static int stopfetch(long n, bool recover)
{
	unsigned int seed = (unsigned int)getpid();
	uint16_t depth = recover ? DEPTH : 64;
	char *buf = aligned_alloc(4096, 64 * 4096);
	struct zu_ctrl c;

	if (!buf || ctrl_open(&c, true) < 0)
		return 2;
	for (long i = 0; i < n && !failures; i++) {
		bool del = i & 1;
		struct race_cmd stop = {
			.op = del ? UBLK_U_CMD_DEL_DEV : UBLK_U_CMD_STOP_DEV,
			.delay_us = (int)(rand_r(&seed) % 1500),
		};
		int cfd;

		stop.id = recover ? quiesced_dev(&c) : add_with_params(&c, 1, depth, 0, NULL);
		if (stop.id < 0)
			return 2;
		cfd = cdev_open(stop.id);
		if (cfd < 0)
			return 2;
		fetch_vs_stop(&stop, cfd, depth, buf, del);
		if (!del && del_dev(&c, (uint32_t)stop.id))
			check("DEL_DEV after the race", -1, 0);
	}
	zu_ctrl_close(&c);
	if (!failures)
		printf("ok   %ld rounds of STOP_DEV/DEL_DEV racing FETCH%s\n", n,
		       recover ? " after recovery" : "");
	return failures ? 1 : 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: ublk-check [--ctrl PATH] badinput | data [copy|user_copy|get_data] [sg] [-- CMD...] | cycles N | features | extfeatures | limits | params | startfail | addonly | del ID | race N [async] | deadtw store|pin|plain | startexit N | selfstart N | selfstop N | exitwait N | park QUEUES DEPTH | stopfetch N [recover]\n");
	return 2;
}

/* ublk_drv: is it 6.12's (drv612)?  0, or 2 when it cannot be asked. */
static int probe_upstream(void)
{
	struct zu_ctrl c;
	uint64_t f = 0;

	if (ctrl_open(&c, true) < 0)
		return 2;
	if (zu_ctrl_cmd(&c, UBLK_U_CMD_GET_FEATURES, 0, &f, 8, 0) < 0) {
		fprintf(stderr, "GET_FEATURES on %s failed\n", ctrl_path);
		return 2;
	}
	zu_ctrl_close(&c);
	drv612 = !(f & U_F_UPDATE_SIZE);
	return 0;
}

/* data MODE [sg] [-- CMD ARGS...], MODE at argv[@i] */
static int data_cmd(int argc, char **argv, int i)
{
	const char *m = i < argc ? argv[i] : "copy";
	int j = i + 1;

	if (j < argc && !strcmp(argv[j], "sg")) {
		sg_params = true;
		j++;
	}
	if (j + 1 < argc && !strcmp(argv[j], "--"))
		child_cmd = &argv[j + 1];
	else if (j < argc)
		return usage();

	if (!strcmp(m, "copy"))
		return data(M_COPY);
	if (!strcmp(m, "user_copy"))
		return data(M_USER_COPY);
	if (!strcmp(m, "get_data"))
		return data(M_GET_DATA);
	return usage();
}

int main(int argc, char **argv)
{
	int i = 1;

	if (argc > 2 && !strcmp(argv[1], "--ctrl")) {
		ctrl_path = argv[2];
		i = 3;
	}
	upstream = !strstr(ctrl_path, "zublk");
	if (i >= argc)
		return usage();
	if (upstream && probe_upstream())
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	alarm(300);	/* a hang is a failure, not a stuck test run */
	if (!strcmp(argv[i], "badinput"))
		return badinput();
	if (!strcmp(argv[i], "features"))
		return features(UBLK_U_CMD_GET_FEATURES, "GET_FEATURES");
	if (!strcmp(argv[i], "extfeatures"))
		return features(ZUBLK_U_CMD_GET_EXT_FEATURES, "GET_EXT_FEATURES");
	if (!strcmp(argv[i], "limits"))
		return limits();
	if (!strcmp(argv[i], "params"))
		return params();
	if (!strcmp(argv[i], "startfail"))
		return startfail();
	if (!strcmp(argv[i], "addonly"))
		return addonly();
	if (!strcmp(argv[i], "del") && i + 1 < argc)
		return del(strtol(argv[i + 1], NULL, 0));
	if (!strcmp(argv[i], "race") && i + 1 < argc)
		return race(strtol(argv[i + 1], NULL, 0),
			    i + 2 < argc && !strcmp(argv[i + 2], "async"));
	if (!strcmp(argv[i], "deadtw") && i + 1 < argc)
		return deadtw(argv[i + 1]);
	if (!strcmp(argv[i], "startexit") && i + 1 < argc)
		return startexit(strtol(argv[i + 1], NULL, 0));
	if (!strcmp(argv[i], "selfstart") && i + 1 < argc)
		return selfstart(strtol(argv[i + 1], NULL, 0));
	if (!strcmp(argv[i], "selfstop") && i + 1 < argc)
		return selfstop(strtol(argv[i + 1], NULL, 0));
	if (!strcmp(argv[i], "exitwait") && i + 1 < argc)
		return exitwait(strtol(argv[i + 1], NULL, 0));
	if (!strcmp(argv[i], "park") && i + 2 < argc)
		return park(strtol(argv[i + 1], NULL, 0), strtol(argv[i + 2], NULL, 0));
	if (!strcmp(argv[i], "stopfetch") && i + 1 < argc)
		return stopfetch(strtol(argv[i + 1], NULL, 0),
				 i + 2 < argc && !strcmp(argv[i + 2], "recover"));
	if (!strcmp(argv[i], "cycles") && i + 1 < argc)
		return cycles(strtol(argv[i + 1], NULL, 0));
	if (!strcmp(argv[i], "data"))
		return data_cmd(argc, argv, i + 1);
	return usage();
}
