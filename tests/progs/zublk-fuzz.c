// SPDX-License-Identifier: GPL-2.0
/*
 * zublk-fuzz: send random and mutated ublk control and io commands.
 *
 *   zublk-fuzz [--ctrl PATH] [--duration S] [--seed N] [--workers N]
 *
 * Worker processes issue commands through io_uring (128-byte SQEs on the
 * control node, io commands on the char nodes), open and mmap char nodes,
 * pread/pwrite them, close them, and now and then _exit() right after a
 * submission without reaping it.  Their rings are plain or
 * SINGLE_ISSUER|DEFER_TASKRUN; any command may carry IOSQE_ASYNC.  A third
 * of the workers are servers instead (server() below): they add a device
 * with edge-case parameters (tiny or huge max_sectors, odd chunks, any
 * shift, DMA_ALIGN/SEGMENT and unknown param types; up to 4096 tags on
 * every CPU), fetch every tag (addr 0 on NEED_GET_DATA devices), send
 * START_DEV from themselves or a child and then die, serve IO with
 * changing buffer addresses, or park and never reap.  The parent SIGKILLs
 * workers (each a process group, so with their children) at random times
 * and starts new ones; workers that exit are replaced too.  Afterwards
 * every process is reaped and every device is stopped and deleted.  The
 * seed is printed first: worker i of generation g runs on seed ^ hash(i,
 * g), so a failure's command stream can be replayed (kill timing aside).
 *
 * Exit status: 0 when the run completed, every process it started was
 * reaped and every device could be deleted, 1 otherwise.  What the kernel thought of it is for dmesg to tell.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glob.h>
#include <liburing.h>
#include <linux/ublk_cmd.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../include/zublk.h"
#include "../../lib/uring_cmd.h"

#define MAX_WORKERS	16
#define MAX_DEV_ID	8	/* ids the fuzzer aims at: 0..7 */

/*
 * Param types newer than the 6.12 <linux/ublk_cmd.h> (6.14 added them
 * after the zoned params): the fuzzer sends them, zublk must refuse them.
 */
#ifndef UBLK_PARAM_TYPE_DMA_ALIGN
#define UBLK_PARAM_TYPE_DMA_ALIGN	(1 << 4)
#endif
#ifndef UBLK_PARAM_TYPE_SEGMENT
#define UBLK_PARAM_TYPE_SEGMENT		(1 << 5)
#endif
struct fz_params_tail {
	__u32 dma_alignment;
	__u8 dma_pad[4];
	__u64 seg_boundary_mask;
	__u32 seg_max_segment_size;
	__u16 seg_max_segments;
	__u8 seg_pad[2];
};
#define FZ_PARAMS_612_LEN	(offsetof(struct ublk_params, zoned) + sizeof(struct ublk_param_zoned))

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	/* xorshift64*: small, fast, and reproducible from the seed. */
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 2685821657736338717ULL;
}

static uint32_t below(struct rng *r, uint32_t n)
{
	return n ? (uint32_t)(rnd(r) % n) : 0;
}

static uint64_t mix(uint64_t a, uint64_t b)
{
	uint64_t x = a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));

	return x ? x : 1;
}

static const char *ctrl_path = "/dev/zublk-control";
static char node_prefix[64];	/* "/dev/zublk" from "/dev/zublk-control" */

/* Opcodes worth sending most of the time; random ones now and then. */
static const uint32_t ctrl_ops[] = {
	UBLK_U_CMD_GET_QUEUE_AFFINITY, UBLK_U_CMD_GET_DEV_INFO,
	UBLK_U_CMD_ADD_DEV, UBLK_U_CMD_ADD_DEV, UBLK_U_CMD_ADD_DEV,
	UBLK_U_CMD_DEL_DEV, UBLK_U_CMD_START_DEV, UBLK_U_CMD_STOP_DEV,
	UBLK_U_CMD_SET_PARAMS, UBLK_U_CMD_SET_PARAMS, UBLK_U_CMD_GET_PARAMS,
	UBLK_U_CMD_START_USER_RECOVERY, UBLK_U_CMD_END_USER_RECOVERY,
	UBLK_U_CMD_GET_DEV_INFO2, UBLK_U_CMD_GET_FEATURES,
	UBLK_U_CMD_DEL_DEV_ASYNC,
	UBLK_CMD_GET_QUEUE_AFFINITY, UBLK_CMD_GET_DEV_INFO, UBLK_CMD_ADD_DEV,
	UBLK_CMD_DEL_DEV, UBLK_CMD_START_DEV, UBLK_CMD_STOP_DEV,
	UBLK_CMD_SET_PARAMS, UBLK_CMD_GET_PARAMS, UBLK_CMD_GET_DEV_INFO2,
};

static const uint32_t io_ops[] = {
	UBLK_U_IO_FETCH_REQ, UBLK_U_IO_COMMIT_AND_FETCH_REQ,
	UBLK_U_IO_NEED_GET_DATA, UBLK_IO_FETCH_REQ,
	UBLK_IO_COMMIT_AND_FETCH_REQ, UBLK_IO_NEED_GET_DATA,
	ZUBLK_U_IO_REGISTER_STORE,
};

/* A value that is usually plausible and sometimes hostile. */
static uint32_t pick_u32(struct rng *r, const uint32_t *good, unsigned int n)
{
	switch (below(r, 8)) {
	case 0:
		return (uint32_t)rnd(r);
	case 1:
		return 0;
	case 2:
		return UINT32_MAX;
	default:
		return good[below(r, n)];
	}
}

static uint32_t pick_dev_id(struct rng *r)
{
	static const uint32_t ids[] = { 0, 1, 2, 3, 4, 5, 6, 7, UINT32_MAX };

	if (!below(r, 16))
		return (uint32_t)rnd(r);
	return ids[below(r, sizeof(ids) / sizeof(ids[0]))];
}

static void fill_dev_info(struct rng *r, struct ublksrv_ctrl_dev_info *info, uint32_t dev_id)
{
	static const uint32_t depths[] = { 1, 2, 32, 128, 4096, 4097, 0 };
	static const uint32_t bufs[] = { 4096, 65536, 512 << 10, 32 << 20, 64 << 20, 0, 1 };

	memset(info, 0, sizeof(*info));
	info->nr_hw_queues = (uint16_t)(below(r, 8) ? 1 + below(r, 4) : rnd(r));
	info->queue_depth = (uint16_t)pick_u32(r, depths, 7);
	info->max_io_buf_bytes = pick_u32(r, bufs, 7);
	info->dev_id = dev_id;
	info->ublksrv_pid = below(r, 2) ? (int32_t)getpid() : (int32_t)rnd(r);
	/* Mostly known feature bits (upstream's and zublk's PIN_BUF/STORE at
	 * the top), sometimes anything. */
	info->flags = below(r, 4) ? (rnd(r) & (0x3ffULL | ZUBLK_F_PIN_BUF | ZUBLK_F_STORE))
				  : rnd(r);
}

/* Params a device with @buf_bytes io buffers accepts. */
static void params_sane(struct ublk_params *p, uint32_t buf_bytes)
{
	memset(p, 0, FZ_PARAMS_612_LEN + sizeof(struct fz_params_tail));
	p->len = sizeof(*p);
	p->types = UBLK_PARAM_TYPE_BASIC;
	zu_params_basic(&p->basic, buf_bytes, 1ULL << 30);
}

/*
 * One to three edge cases on @p (of a device with @buf_bytes io buffers):
 * max_sectors 0, 1..8 or huge, any shift 0..31, odd chunks, the param
 * types 6.14 added (DMA_ALIGN, SEGMENT: random contents after the 6.12
 * struct, which the caller's buffer must have room for), unknown types,
 * odd discard limits.
 */
static void params_edge(struct rng *r, struct ublk_params *p, uint32_t buf_bytes)
{
	static const uint32_t maxs[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, UINT32_MAX, 1U << 31 };
	struct fz_params_tail *t = (void *)((char *)p + FZ_PARAMS_612_LEN);
	uint8_t *shifts[] = { &p->basic.logical_bs_shift, &p->basic.physical_bs_shift,
			      &p->basic.io_min_shift, &p->basic.io_opt_shift };

	for (unsigned int n = 1 + below(r, 3); n; n--) {
		switch (below(r, 6)) {
		case 0:
			p->basic.max_sectors = below(r, 4) ? maxs[below(r, 11)] : buf_bytes / 512 + 1;
			break;
		case 1:
			*shifts[below(r, 4)] = (uint8_t)below(r, 32);
			break;
		case 2:
			p->basic.chunk_sectors = below(r, 2) ? 1 + 2 * below(r, 1024) : 1U << below(r, 32);
			break;
		case 3:
			p->types |= below(r, 3) ? UBLK_PARAM_TYPE_DMA_ALIGN : UBLK_PARAM_TYPE_SEGMENT;
			if (below(r, 2))
				p->types |= UBLK_PARAM_TYPE_SEGMENT;
			t->dma_alignment = below(r, 2) ? (1U << below(r, 16)) - 1 : (uint32_t)rnd(r);
			t->seg_boundary_mask = below(r, 2) ? (1ULL << below(r, 64)) - 1 : rnd(r);
			t->seg_max_segment_size = (uint32_t)rnd(r) >> below(r, 32);
			t->seg_max_segments = (uint16_t)below(r, 3);
			p->len = FZ_PARAMS_612_LEN + sizeof(*t);
			break;
		case 4:
			p->types |= 1U << (6 + below(r, 26));
			break;
		default:
			p->types |= UBLK_PARAM_TYPE_DISCARD;
			p->discard.discard_granularity = below(r, 2) ? 1U << below(r, 32) : 0;
			p->discard.max_discard_sectors = (uint32_t)rnd(r) >> below(r, 32);
			p->discard.max_discard_segments = (uint16_t)below(r, 3);
			p->discard.max_write_zeroes_sectors = (uint32_t)rnd(r) >> below(r, 32);
			break;
		}
	}
}

/* Ring set-up flags: plain, SINGLE_ISSUER, or SINGLE_ISSUER|DEFER_TASKRUN. */
static unsigned int ring_flags(struct rng *r)
{
	switch (below(r, 4)) {
	case 0:
		return IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	case 1:
		return IORING_SETUP_SINGLE_ISSUER;
	default:
		return 0;
	}
}

static int ring_init(struct rng *r, unsigned int entries, struct io_uring *ring,
		     unsigned int flags)
{
	if (io_uring_queue_init(entries, ring, flags | ring_flags(r)) == 0)
		return 0;
	return io_uring_queue_init(entries, ring, flags);	/* kernel without them */
}

/* A well-formed control command, waited for: its result. */
static int ctrl_sync(struct io_uring *ring, int fd, uint32_t op, uint32_t dev_id,
		     void *buf, uint16_t len, uint8_t sqe_flags, uint64_t data0)
{
	struct io_uring_sqe *sqe = zu_prep_ctrl(ring, fd, op, dev_id, buf, len, data0);

	if (!sqe)
		return -EBUSY;
	sqe->flags |= sqe_flags;
	return zu_submit_wait(ring, NULL);
}

static void fill_params(struct rng *r, struct ublk_params *p)
{
	memset(p, 0, sizeof(*p));
	p->len = below(r, 8) ? sizeof(*p) : (uint32_t)below(r, 256);
	p->types = below(r, 4) ? UBLK_PARAM_TYPE_BASIC | (rnd(r) & 0xe) : (uint32_t)rnd(r);
	p->basic.logical_bs_shift = (uint8_t)(below(r, 4) ? 9 + below(r, 4) : rnd(r));
	p->basic.physical_bs_shift = (uint8_t)(below(r, 4) ? 9 + below(r, 4) : rnd(r));
	p->basic.io_min_shift = (uint8_t)below(r, 16);
	p->basic.io_opt_shift = (uint8_t)below(r, 16);
	p->basic.max_sectors = below(r, 4) ? 1024 : (uint32_t)rnd(r);
	p->basic.dev_sectors = below(r, 4) ? (1ULL << 21) : rnd(r);
	p->basic.attrs = (uint32_t)below(r, 16);
	p->basic.chunk_sectors = below(r, 2) ? 0 : (uint32_t)rnd(r);
	p->discard.discard_granularity = (uint32_t)rnd(r);
	p->discard.max_discard_sectors = (uint32_t)rnd(r);
	p->discard.max_discard_segments = (uint16_t)rnd(r);
	p->devt.char_major = (uint32_t)rnd(r);
	if (!below(r, 4))
		params_edge(r, p, 64 << 10);
}

static uint64_t pick_addr(struct rng *r, void *buf)
{
	switch (below(r, 10)) {
	case 0:
		return 0;
	case 1:
		return (uint64_t)(uintptr_t)buf + 1;
	case 2:
		return 0xffff888000000000ULL;	/* a kernel address */
	case 3:
		return rnd(r);
	default:
		return (uint64_t)(uintptr_t)buf;
	}
}

/* Issue one control command; the result is not checked, only survived. */
static void ctrl_cmd(struct io_uring *ring, int fd, struct rng *r)
{
	static char buf[8192] __attribute__((aligned(4096)));
	static const uint32_t lens[] = { 0, 8, sizeof(struct ublksrv_ctrl_dev_info),
		sizeof(struct ublk_params), 4096, 8192, 64 };
	uint32_t op = below(r, 16) ? ctrl_ops[below(r, sizeof(ctrl_ops) / sizeof(ctrl_ops[0]))]
				   : (uint32_t)rnd(r);
	uint32_t dev_id = pick_dev_id(r);
	struct ublksrv_ctrl_cmd *c;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;

	for (unsigned int i = 0; i < sizeof(buf) / 8; i++)
		((uint64_t *)buf)[i] = below(r, 4) ? 0 : rnd(r);
	if ((op & 0xff) == UBLK_CMD_ADD_DEV)
		fill_dev_info(r, (void *)buf, dev_id);
	else if ((op & 0xff) == UBLK_CMD_SET_PARAMS)
		fill_params(r, (void *)buf);

	sqe = zu_prep_ctrl(ring, fd, op, dev_id, NULL, 0, 0);	/* SQE128 */
	if (!sqe)
		return;
	if (!below(r, 8))
		sqe->flags |= IOSQE_ASYNC;	/* run from io-wq */
	c = (struct ublksrv_ctrl_cmd *)sqe->cmd;
	if (!below(r, 4))
		c->queue_id = (uint16_t)below(r, 8);
	c->len = (uint16_t)pick_u32(r, lens, sizeof(lens) / sizeof(lens[0]));
	c->addr = pick_addr(r, buf);
	c->data[0] = below(r, 2) ? (uint64_t)getpid() : rnd(r);
	c->dev_path_len = (uint16_t)below(r, 64);
	if (io_uring_submit(ring) < 0)
		return;
	if (io_uring_wait_cqe(ring, &cqe) == 0)
		io_uring_cqe_seen(ring, cqe);
}

/* Char-node state of one worker. */
struct cdev {
	int fd;
	int dev_id;
	void *map;
	size_t map_len;
};

static void cdev_close(struct cdev *cd)
{
	if (cd->map)
		munmap(cd->map, cd->map_len);
	if (cd->fd >= 0)
		close(cd->fd);
	cd->map = NULL;
	cd->fd = -1;
}

static void cdev_op(struct io_uring *ring, struct cdev *cd, struct rng *r)
{
	static char iobuf[1 << 20] __attribute__((aligned(4096)));
	static const uint32_t tags[] = { 0, 1, 2, 31, 127, 4095, 4096 };
	uint16_t q_id, tag;
	struct io_uring_sqe *sqe;
	int32_t result;
	uint32_t op;
	bool async;
	struct io_uring_cqe *cqe;
	char path[96];
	off_t off;

	switch (below(r, 8)) {
	case 0:		/* (re)open a char node */
		cdev_close(cd);
		cd->dev_id = (int)below(r, MAX_DEV_ID);
		snprintf(path, sizeof(path), "%sc%d", node_prefix, cd->dev_id);
		cd->fd = open(path, O_RDWR | O_CLOEXEC);
		return;
	case 1:		/* mmap a queue's descriptors, sometimes badly */
		if (cd->fd < 0)
			return;
		if (cd->map)
			munmap(cd->map, cd->map_len);
		cd->map_len = below(r, 4) ? 4096 * (1 + below(r, 32)) : 1 + below(r, 1 << 22);
		off = (off_t)below(r, 4) * 24 * UBLK_MAX_QUEUE_DEPTH;
		if (!below(r, 8))
			off = (off_t)rnd(r) & ~4095LL;
		cd->map = mmap(NULL, cd->map_len, below(r, 4) ? PROT_READ : PROT_READ | PROT_WRITE,
			       MAP_SHARED, cd->fd, off);
		if (cd->map == MAP_FAILED) {
			cd->map = NULL;
		} else if (below(r, 4) == 0) {
			/* Upgrading to writable must be refused. */
			mprotect(cd->map, cd->map_len, PROT_READ | PROT_WRITE);
		}
		return;
	case 2:		/* user copy at a random position */
		if (cd->fd < 0)
			return;
		off = (off_t)(UBLKSRV_IO_BUF_OFFSET + (rnd(r) & ((1ULL << 40) - 1)));
		if (below(r, 2))
			(void)!pread(cd->fd, iobuf, below(r, sizeof(iobuf)), off);
		else
			(void)!pwrite(cd->fd, iobuf, below(r, sizeof(iobuf)), off);
		return;
	case 3:
		cdev_close(cd);
		return;
	default:	/* an io command */
		break;
	}
	if (cd->fd < 0)
		return;
	/* the values in this order: a seed replays the same stream */
	op = below(r, 16) ? io_ops[below(r, sizeof(io_ops) / sizeof(io_ops[0]))] : (uint32_t)rnd(r);
	async = !below(r, 8);
	q_id = (uint16_t)(below(r, 8) ? below(r, 4) : rnd(r));
	tag = (uint16_t)pick_u32(r, tags, sizeof(tags) / sizeof(tags[0]));
	result = below(r, 2) ? 4096 : (int32_t)rnd(r);
	sqe = zu_prep_io(ring, cd->fd, op, q_id, tag, result, pick_addr(r, iobuf));
	if (!sqe)
		return;
	if (async)
		sqe->flags |= IOSQE_ASYNC;
	if (op == ZUBLK_U_IO_REGISTER_STORE) {
		/* the store's payload overlays the io command */
		static const uint64_t lens[] = { 4096, sizeof(iobuf), 0, 4095, 1ULL << 40 };
		struct zublk_store_reg *s = (struct zublk_store_reg *)sqe->cmd;

		s->addr = pick_addr(r, iobuf);
		s->len = lens[below(r, sizeof(lens) / sizeof(lens[0]))];
	}
	if (io_uring_submit(ring) < 0)
		return;
	/* FETCH completes only with a request; do not wait for it. */
	if (io_uring_peek_cqe(ring, &cqe) == 0)
		io_uring_cqe_seen(ring, cqe);
}

/* fork() a child that dies with its parent: its pid, 0 in the child. */
static pid_t fork_child(void)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);	/* the parent died before the prctl */
	}
	return pid;
}

/* ---- servers: a device brought up far enough to start, then abused ---- */

#define MAX_QUEUES	64
#define SRV_BUF_BYTES	(64 << 10)	/* max_io_buf_bytes of server devices */

/* Two sets of 16 io buffers: COMMIT_AND_FETCH flips between them. */
static char srv_buf[2][16 * SRV_BUF_BYTES] __attribute__((aligned(4096)));

struct server {
	struct rng *r;
	struct io_uring ctrl, io;	/* SQE128 control ring; io ring */
	struct ublksrv_ctrl_dev_info info;
	int ctrl_fd, cfd;
	uint32_t id;
	unsigned int flip;		/* which srv_buf set the next address names */
	const struct ublksrv_io_desc *iod[MAX_QUEUES];
};

static uint64_t srv_addr(const struct server *s, unsigned int tag)
{
	return (uint64_t)(uintptr_t)srv_buf[s->flip & 1] + (tag % 16) * SRV_BUF_BYTES;
}

/* ADD_DEV: 1..2 queues of 1..128 tags, or (@big) 4096 tags on up to every CPU. */
static int srv_add(struct server *s, bool big)
{
	static const uint16_t depths[] = { 1, 2, 32, 128 };
	struct ublksrv_ctrl_dev_info *info = &s->info;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct rng *r = s->r;

	ncpu = ncpu < 1 ? 1 : ncpu > MAX_QUEUES ? MAX_QUEUES : ncpu;
	memset(info, 0, sizeof(*info));
	s->id = below(r, MAX_DEV_ID);
	info->dev_id = s->id;
	info->nr_hw_queues = (uint16_t)(big ? 1 + below(r, (uint32_t)ncpu) : 1 + below(r, 2));
	info->queue_depth = big ? 4096 : depths[below(r, 4)];
	info->max_io_buf_bytes = SRV_BUF_BYTES;
	info->ublksrv_pid = getpid();
	info->flags = UBLK_F_CMD_IOCTL_ENCODE |
		(rnd(r) & (UBLK_F_NEED_GET_DATA | UBLK_F_URING_CMD_COMP_IN_TASK |
			   UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_REISSUE | ZUBLK_F_PIN_BUF));
	/* whatever has the id goes first, whoever serves it */
	ctrl_sync(&s->ctrl, s->ctrl_fd, UBLK_U_CMD_DEL_DEV, s->id, NULL, 0, 0, 0);
	if (ctrl_sync(&s->ctrl, s->ctrl_fd, UBLK_U_CMD_ADD_DEV, s->id, info, sizeof(*info),
		      below(r, 4) ? 0 : IOSQE_ASYNC, 0) < 0)
		return -1;
	s->id = info->dev_id;
	return 0;
}

/* SET_PARAMS, sane or with edge cases; the device may well refuse them. */
static void srv_params(struct server *s)
{
	static char buf[4096] __attribute__((aligned(8)));
	struct ublk_params *p = (struct ublk_params *)buf;

	params_sane(p, s->info.max_io_buf_bytes);
	if (below(s->r, 2))
		params_edge(s->r, p, s->info.max_io_buf_bytes);
	ctrl_sync(&s->ctrl, s->ctrl_fd, UBLK_U_CMD_SET_PARAMS, s->id, p, (uint16_t)p->len,
		  below(s->r, 4) ? 0 : IOSQE_ASYNC, 0);
}

/* Open the char node, map every queue's descriptors, set up the io ring. */
static int srv_open(struct server *s)
{
	unsigned int nq = s->info.nr_hw_queues, depth = s->info.queue_depth;
	char path[96];

	snprintf(path, sizeof(path), "%sc%u", node_prefix, s->id);
	s->cfd = open(path, O_RDWR | O_CLOEXEC);
	if (s->cfd < 0 || nq > MAX_QUEUES)
		return -1;
	for (unsigned int q = 0; q < nq; q++) {
		struct ublksrv_io_desc *m = zu_map_descs(s->cfd, q, depth, 0);

		s->iod[q] = m == MAP_FAILED ? NULL : m;
	}
	return ring_init(s->r, nq * depth < 4096 ? nq * depth : 4096, &s->io, 0);
}

/* Queue an io command (IOSQE_ASYNC now and then); submits when the SQ is full. */
static void srv_queue(struct server *s, uint32_t op, unsigned int q, unsigned int tag,
		      uint64_t addr, int32_t result)
{
	struct io_uring_sqe *sqe = zu_prep_io(&s->io, s->cfd, op, (uint16_t)q, (uint16_t)tag,
					      result, addr);

	if (!sqe)
		return;
	if (!below(s->r, 4))
		sqe->flags |= IOSQE_ASYNC;
	sqe->user_data = (uint64_t)q << 16 | tag;
}

/* FETCH every tag; on NEED_GET_DATA devices often with no buffer (addr 0). */
static void srv_fetch_all(struct server *s)
{
	bool ngd = s->info.flags & UBLK_F_NEED_GET_DATA;

	for (unsigned int q = 0; q < s->info.nr_hw_queues; q++)
		for (unsigned int t = 0; t < s->info.queue_depth; t++)
			srv_queue(s, UBLK_U_IO_FETCH_REQ, q, t,
				  ngd && below(s->r, 2) ? 0 : srv_addr(s, t), -1);
	io_uring_submit(&s->io);
}

/* Answer one io CQE: commit (at a changing address) or hand the data buffer. */
static void srv_answer(struct server *s, const struct io_uring_cqe *cqe)
{
	unsigned int q = (unsigned int)(cqe->user_data >> 16), tag = cqe->user_data & 0xffff;
	int32_t result;

	if (q >= s->info.nr_hw_queues || tag >= s->info.queue_depth)
		return;
	if (cqe->res == UBLK_IO_RES_NEED_GET_DATA) {
		srv_queue(s, UBLK_U_IO_NEED_GET_DATA, q, tag, srv_addr(s, tag), 0);
		return;
	}
	if (cqe->res != UBLK_IO_RES_OK)
		return;		/* aborted or refused: the tag is done */
	result = s->iod[q] ? (int32_t)(s->iod[q][tag].nr_sectors << 9) : 4096;
	if (!below(s->r, 16))
		result = below(s->r, 2) ? -EIO : (int32_t)rnd(s->r);
	s->flip += below(s->r, 2);
	srv_queue(s, UBLK_U_IO_COMMIT_AND_FETCH_REQ, q, tag,
		  below(s->r, 16) ? srv_addr(s, tag) : 0, result);
}

/* Serve for @rounds waits of up to 20 ms each. */
static void srv_serve(struct server *s, unsigned int rounds)
{
	struct __kernel_timespec ts = { .tv_nsec = 20 * 1000 * 1000 };
	struct io_uring_cqe *cqe;
	unsigned int head, n;

	while (rounds--) {
		io_uring_wait_cqe_timeout(&s->io, &cqe, &ts);
		n = 0;
		io_uring_for_each_cqe(&s->io, head, cqe) {
			srv_answer(s, cqe);
			n++;
		}
		io_uring_cq_advance(&s->io, n);
		io_uring_submit(&s->io);
	}
}

/* START_DEV from this process, not waited for. */
static void srv_start(struct server *s)
{
	struct io_uring_sqe *sqe = zu_prep_ctrl(&s->ctrl, s->ctrl_fd, UBLK_U_CMD_START_DEV, s->id,
						NULL, 0, (uint64_t)getpid());

	if (!sqe)
		return;
	if (!below(s->r, 4))
		sqe->flags |= IOSQE_ASYNC;
	io_uring_submit(&s->ctrl);
}

/* START_DEV from a child process, racing whatever the server does next. */
static void srv_start_from_child(struct server *s)
{
	pid_t server_pid = getpid();
	struct io_uring ring;

	if (fork_child())
		return;
	if (ring_init(s->r, 4, &ring, IORING_SETUP_SQE128) == 0)
		ctrl_sync(&ring, s->ctrl_fd, UBLK_U_CMD_START_DEV, s->id, NULL, 0,
			  below(s->r, 4) ? 0 : IOSQE_ASYNC, (uint64_t)server_pid);
	_exit(0);
}

/* A child reading the block device (once it appears), so requests flow. */
static void srv_reader(struct server *s)
{
	static char buf[4096] __attribute__((aligned(4096)));
	char path[96];
	int fd = -1;

	if (fork_child())
		return;
	snprintf(path, sizeof(path), "%sb%u", node_prefix, s->id);
	for (int i = 0; i < 100 && fd < 0; i++) {
		fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
		if (fd < 0)
			usleep(20000);
	}
	for (int i = 0; fd >= 0 && i < 256; i++)
		(void)!pread(fd, buf, sizeof(buf), (off_t)below(s->r, 1 << 18) * 4096);
	_exit(0);
}

/*
 * A worker that serves a device: add it, set params, fetch every tag, then
 * one of: START_DEV from a child while the server dies; START_DEV in
 * flight when it _exit()s; serve IO and go; park many tags (big) or park
 * and never reap, until killed or gone.  Never returns.
 */
static void server(struct rng *r, int ctrl_fd)
{
	struct server s = { .r = r, .ctrl_fd = ctrl_fd, .cfd = -1 };
	unsigned int mode = below(r, 5);

	if (ring_init(r, 8, &s.ctrl, IORING_SETUP_SQE128) || srv_add(&s, mode == 3))
		_exit(0);
	srv_params(&s);
	if (srv_open(&s))
		_exit(0);
	srv_fetch_all(&s);
	switch (mode) {
	case 0:
		srv_start_from_child(&s);
		srv_serve(&s, below(r, 4));
		_exit(0);
	case 1:
		srv_start(&s);
		if (below(r, 2))
			srv_serve(&s, below(r, 3));
		_exit(0);
	case 2:
		srv_start(&s);
		srv_reader(&s);
		srv_serve(&s, 10 + below(r, 200));
		if (below(r, 2))
			ctrl_sync(&s.ctrl, ctrl_fd, UBLK_U_CMD_STOP_DEV, s.id, NULL, 0, 0, 0);
		_exit(0);
	default:
		if (below(r, 2))
			srv_start(&s);
		if (below(r, 2))
			_exit(0);
		for (;;)
			pause();
	}
}

static void worker(uint64_t seed)
{
	struct rng r = { .s = seed };
	struct io_uring ctrl_ring, io_ring;
	struct cdev cd = { .fd = -1 };
	int ctrl_fd;

	ctrl_fd = open(ctrl_path, O_RDWR | O_CLOEXEC);
	if (ctrl_fd < 0)
		_exit(2);
	if (!below(&r, 3))
		server(&r, ctrl_fd);
	if (ring_init(&r, 8, &ctrl_ring, IORING_SETUP_SQE128) < 0 ||
	    ring_init(&r, 64, &io_ring, 0) < 0)
		_exit(2);
	for (;;) {
		if (below(&r, 3) == 0) {
			ctrl_cmd(&ctrl_ring, ctrl_fd, &r);
		} else {
			cdev_op(&io_ring, &cd, &r);
		}
		/* Now and then a control command on a 64-byte-SQE ring. */
		if (!below(&r, 64))
			ctrl_cmd(&io_ring, ctrl_fd, &r);
		/* Now and then gone right after a submission, nothing reaped. */
		if (!below(&r, 512))
			_exit(0);
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Workers run in a process group of their own (killing it kills their
 * children too), with output to /dev/null.
 */
static pid_t spawn(uint64_t seed)
{
	pid_t pid = fork_child();

	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		/* one stuck in the kernel must not hold our caller's output pipe open */
		if (null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		setpgid(0, 0);
		worker(seed);
		_exit(0);
	}
	if (pid > 0)
		setpgid(pid, pid);
	return pid;
}

struct pool {
	uint64_t seed;
	unsigned long n;		/* workers */
	unsigned long gen, spawned, kills;
	pid_t pids[MAX_WORKERS];
};

/* Worker @i of generation gen runs on seed ^ hash(i, gen). */
static void pool_spawn(struct pool *p, unsigned long i)
{
	p->pids[i] = spawn(mix(p->seed, mix(i, p->gen)));
	p->spawned++;
}

/* Print the kernel stack of every task in D state: where a hang is. */
static void dump_stuck(void)
{
	char line[512], path[300];
	glob_t g;

	if (glob("/proc/[0-9]*/task/[0-9]*/stat", 0, NULL, &g))
		return;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		FILE *f = fopen(g.gl_pathv[i], "r");
		char *end;

		if (!f)
			continue;
		end = fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
		fclose(f);
		if (!end || end[1] != ' ' || end[2] != 'D')
			continue;
		end[1] = 0;
		fprintf(stderr, "zublk-fuzz: stuck: %s\n", line);
		snprintf(path, sizeof(path), "%.*sstack",
			 (int)(strlen(g.gl_pathv[i]) - 4), g.gl_pathv[i]);
		f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f))
			fprintf(stderr, "    %s", line);
		if (f)
			fclose(f);
	}
	globfree(&g);
}

/* SIGKILL every worker's process group (each reaped later by pool_reap()). */
static void pool_kill_all(struct pool *p)
{
	for (unsigned long i = 0; i < p->n; i++) {
		if (p->pids[i] > 0) {
			kill(-p->pids[i], SIGKILL);
			kill(p->pids[i], SIGKILL);
		}
	}
}

/*
 * SIGKILL worker @i and its children and reap it.  A worker may wait, by
 * design, on another worker's live server (a control command queued behind
 * a START_DEV whose partition scan that server never answers, say): after
 * 10 s every worker is killed, so every server is gone.  One that still
 * does not die within a minute after that is stuck in the kernel: show
 * where, and end the run.
 */
static void pool_kill(struct pool *p, unsigned long i)
{
	double start = now(), end = start + 70;
	bool all = false;
	pid_t pid = p->pids[i];

	if (pid <= 0)
		return;
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, WNOHANG) == 0) {
		if (!all && now() > start + 10) {
			pool_kill_all(p);
			all = true;
		}
		if (now() > end) {
			fprintf(stderr, "zublk-fuzz: worker %d did not die within 60 s of SIGKILL to every worker (seed %llu)\n",
				pid, (unsigned long long)p->seed);
			dump_stuck();
			exit(1);
		}
		usleep(10000);
	}
	p->pids[i] = 0;
}

/* Reap what exited (workers, orphans that came to us); replace workers. */
static void pool_reap(struct pool *p)
{
	pid_t pid;

	while ((pid = waitpid(-1, NULL, WNOHANG)) > 0) {
		for (unsigned long i = 0; i < p->n; i++) {
			if (p->pids[i] != pid)
				continue;
			kill(-pid, SIGKILL);	/* its children go with it */
			p->gen++;
			pool_spawn(p, i);
		}
	}
}

/* Wait up to @secs for every process the run started; -1 if some never die. */
static int reap_all(double secs)
{
	double end = now() + secs;
	pid_t pid;

	while ((pid = waitpid(-1, NULL, WNOHANG)) >= 0) {
		if (pid > 0)
			continue;
		if (now() > end) {
			fprintf(stderr, "zublk-fuzz: processes still alive %.0f s after SIGKILL (stuck in the kernel?)\n",
				secs);
			dump_stuck();
			return -1;
		}
		usleep(10000);
	}
	return 0;
}

/* Stop and delete every device the run may have left; returns leftovers. */
static int cleanup_devices(void)
{
	struct zu_ctrl c;
	int ret, left = 0;
	char path[96];

	ret = zu_ctrl_open(&c, ctrl_path, 4, IORING_SETUP_SQE128);
	if (ret < 0) {
		fprintf(stderr, "zublk-fuzz: cannot open %s for cleanup: %s\n", ctrl_path, strerror(-ret));
		zu_ctrl_close(&c);
		return -1;
	}
	for (uint32_t id = 0; id < 1024; id++) {
		snprintf(path, sizeof(path), "%sc%u", node_prefix, id);
		if (id >= MAX_DEV_ID && access(path, F_OK))
			continue;
		zu_ctrl_cmd(&c, UBLK_U_CMD_STOP_DEV, id, NULL, 0, 0);
		zu_ctrl_cmd(&c, UBLK_U_CMD_DEL_DEV, id, NULL, 0, 0);
		if (!access(path, F_OK)) {
			fprintf(stderr, "zublk-fuzz: %s still exists after DEL_DEV\n", path);
			left++;
		}
	}
	zu_ctrl_close(&c);
	return left;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: zublk-fuzz [--ctrl PATH] [--duration S] [--seed N] [--workers N]\n");
}

/* Options into @duration, @p->n and @p->seed: 0, or the exit status. */
static int parse_args(int argc, char **argv, unsigned long *duration, struct pool *p)
{
	static const struct option longopts[] = {
		{ "ctrl", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, 'd' },
		{ "seed", required_argument, NULL, 's' },
		{ "workers", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	char *end;
	int opt;

	while ((opt = getopt_long(argc, argv, "c:d:s:w:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			ctrl_path = optarg;
			break;
		case 'd':
			*duration = strtoul(optarg, &end, 0);
			if (*end || !*duration) {
				fprintf(stderr, "zublk-fuzz: --duration must be a positive number of seconds\n");
				return 2;
			}
			break;
		case 's':
			p->seed = strtoull(optarg, &end, 0);
			if (*end) {
				fprintf(stderr, "zublk-fuzz: --seed must be a number\n");
				return 2;
			}
			break;
		case 'w':
			p->n = strtoul(optarg, &end, 0);
			if (*end || !p->n || p->n > MAX_WORKERS) {
				fprintf(stderr, "zublk-fuzz: --workers must be 1..%d\n", MAX_WORKERS);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return 2;
		}
	}
	return 0;
}

/* Run the workers for @duration seconds, killing one at random now and then. */
static void run(struct pool *p, unsigned long duration)
{
	struct rng parent = { .s = mix(p->seed, 0xfeed) };
	double deadline = now() + (double)duration, next_kill = now();

	for (unsigned long i = 0; i < p->n; i++)
		pool_spawn(p, i);
	while (now() < deadline) {
		unsigned long i = below(&parent, (uint32_t)p->n);

		next_kill += 0.05 + below(&parent, 500) / 1000.0;
		while (now() < next_kill && now() < deadline) {
			usleep(10000);
			pool_reap(p);
		}
		pool_kill(p, i);
		p->kills++;
		p->gen++;
		pool_spawn(p, i);
	}
	for (unsigned long i = 0; i < p->n; i++)
		pool_kill(p, i);
}

int main(int argc, char **argv)
{
	struct pool p = { .n = 4, .seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20) };
	unsigned long duration = 60;
	int ret, left;
	size_t n;

	ret = parse_args(argc, argv, &duration, &p);
	if (ret)
		return ret;
	n = strlen(ctrl_path);
	if (n < 9 || strcmp(ctrl_path + n - 8, "-control") || n - 8 >= sizeof(node_prefix)) {
		fprintf(stderr, "zublk-fuzz: --ctrl must name a /dev/<x>-control node\n");
		return 2;
	}
	memcpy(node_prefix, ctrl_path, n - 8);
	if (access(ctrl_path, R_OK | W_OK)) {
		fprintf(stderr, "zublk-fuzz: %s: %s (is the module loaded?)\n", ctrl_path, strerror(errno));
		return 1;
	}
	/* Orphans of dead workers come to us, so reap_all() sees them all. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	printf("zublk-fuzz: seed %llu, %lu workers, %lu s on %s\n",
	       (unsigned long long)p.seed, p.n, duration, ctrl_path);
	fflush(stdout);
	run(&p, duration);
	if (reap_all(60) < 0)
		return 1;	/* devices held by those cannot be deleted */
	left = cleanup_devices();
	printf("zublk-fuzz: done: %lu workers run, %lu killed, %d devices left\n",
	       p.spawned, p.kills, left < 0 ? -1 : left);
	return left == 0 ? 0 : 1;
}
