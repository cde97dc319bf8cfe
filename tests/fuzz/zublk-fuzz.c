// SPDX-License-Identifier: GPL-2.0
/*
 * zublk-fuzz: send random and mutated ublk control and io commands.
 *
 *   zublk-fuzz [--ctrl PATH] [--duration S] [--seed N] [--workers N]
 *
 * Worker processes issue commands through io_uring (128-byte SQEs on the
 * control node, io commands on the char nodes), open and mmap char nodes,
 * pread/pwrite them, close them; the parent SIGKILLs workers at random times
 * (which also interrupts commands that block, such as START_DEV) and starts
 * new ones.  Afterwards every device is stopped and deleted.  The seed is
 * printed first: worker i of generation g runs on seed ^ hash(i, g), so a
 * failure's command stream can be replayed (kill timing aside).
 *
 * Exit status: 0 when the run completed and every device could be deleted,
 * 1 otherwise.  What the kernel thought of it is for dmesg to tell.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <liburing.h>
#include <linux/ublk_cmd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../include/zublk.h"

#define MAX_WORKERS	16
#define MAX_DEV_ID	8	/* ids the fuzzer aims at: 0..7 */

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

	sqe = io_uring_get_sqe(ring);
	if (!sqe)
		return;
	memset(sqe, 0, 2 * sizeof(*sqe));	/* SQE128 */
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = fd;
	sqe->cmd_op = op;
	c = (struct ublksrv_ctrl_cmd *)sqe->cmd;
	c->dev_id = dev_id;
	c->queue_id = below(r, 4) ? (uint16_t)-1 : (uint16_t)below(r, 8);
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
	struct ublksrv_io_cmd *c;
	struct io_uring_sqe *sqe;
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
	sqe = io_uring_get_sqe(ring);
	if (!sqe)
		return;
	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = cd->fd;
	sqe->cmd_op = below(r, 16) ? io_ops[below(r, sizeof(io_ops) / sizeof(io_ops[0]))]
				   : (uint32_t)rnd(r);
	if (!below(r, 8))
		sqe->flags |= IOSQE_ASYNC;
	c = (struct ublksrv_io_cmd *)sqe->cmd;
	c->q_id = (uint16_t)(below(r, 8) ? below(r, 4) : rnd(r));
	c->tag = (uint16_t)pick_u32(r, tags, sizeof(tags) / sizeof(tags[0]));
	c->result = below(r, 2) ? 4096 : (int32_t)rnd(r);
	c->addr = pick_addr(r, iobuf);
	if (sqe->cmd_op == ZUBLK_U_IO_REGISTER_STORE) {
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

static void worker(uint64_t seed)
{
	struct rng r = { .s = seed };
	struct io_uring ctrl_ring, io_ring;
	struct cdev cd = { .fd = -1 };
	int ctrl_fd;

	ctrl_fd = open(ctrl_path, O_RDWR | O_CLOEXEC);
	if (ctrl_fd < 0)
		_exit(2);
	if (io_uring_queue_init(8, &ctrl_ring, IORING_SETUP_SQE128) < 0 ||
	    io_uring_queue_init(64, &io_ring, 0) < 0)
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
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static pid_t spawn(uint64_t seed)
{
	pid_t pid = fork();

	if (pid == 0) {
		worker(seed);
		_exit(0);
	}
	return pid;
}

/* Stop and delete every device the run may have left; returns leftovers. */
static int cleanup_devices(void)
{
	struct io_uring ring;
	int fd, left = 0;
	char path[96];

	fd = open(ctrl_path, O_RDWR | O_CLOEXEC);
	if (fd < 0 || io_uring_queue_init(4, &ring, IORING_SETUP_SQE128) < 0) {
		fprintf(stderr, "zublk-fuzz: cannot open %s for cleanup: %s\n", ctrl_path, strerror(errno));
		return -1;
	}
	for (uint32_t id = 0; id < 1024; id++) {
		static const uint32_t ops[] = { UBLK_U_CMD_STOP_DEV, UBLK_U_CMD_DEL_DEV };

		snprintf(path, sizeof(path), "%sc%u", node_prefix, id);
		if (id >= MAX_DEV_ID && access(path, F_OK))
			continue;
		for (unsigned int i = 0; i < 2; i++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			struct io_uring_cqe *cqe;
			struct ublksrv_ctrl_cmd *c;

			if (!sqe)
				break;
			memset(sqe, 0, 2 * sizeof(*sqe));
			sqe->opcode = IORING_OP_URING_CMD;
			sqe->fd = fd;
			sqe->cmd_op = ops[i];
			c = (struct ublksrv_ctrl_cmd *)sqe->cmd;
			c->dev_id = id;
			c->queue_id = (uint16_t)-1;
			io_uring_submit(&ring);
			if (io_uring_wait_cqe(&ring, &cqe) == 0)
				io_uring_cqe_seen(&ring, cqe);
		}
		if (!access(path, F_OK)) {
			fprintf(stderr, "zublk-fuzz: %s still exists after DEL_DEV\n", path);
			left++;
		}
	}
	io_uring_queue_exit(&ring);
	close(fd);
	return left;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: zublk-fuzz [--ctrl PATH] [--duration S] [--seed N] [--workers N]\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ctrl", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, 'd' },
		{ "seed", required_argument, NULL, 's' },
		{ "workers", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	pid_t pids[MAX_WORKERS];
	double deadline, next_kill;
	unsigned long duration = 60, workers = 4, spawned = 0, kills = 0, gen = 0;
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
	struct rng parent;
	char *end;
	int opt, left;
	size_t n;

	while ((opt = getopt_long(argc, argv, "c:d:s:w:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			ctrl_path = optarg;
			break;
		case 'd':
			duration = strtoul(optarg, &end, 0);
			if (*end || !duration) {
				fprintf(stderr, "zublk-fuzz: --duration must be a positive number of seconds\n");
				return 2;
			}
			break;
		case 's':
			seed = strtoull(optarg, &end, 0);
			if (*end) {
				fprintf(stderr, "zublk-fuzz: --seed must be a number\n");
				return 2;
			}
			break;
		case 'w':
			workers = strtoul(optarg, &end, 0);
			if (*end || !workers || workers > MAX_WORKERS) {
				fprintf(stderr, "zublk-fuzz: --workers must be 1..%d\n", MAX_WORKERS);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
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

	printf("zublk-fuzz: seed %llu, %lu workers, %lu s on %s\n",
	       (unsigned long long)seed, workers, duration, ctrl_path);
	fflush(stdout);
	parent.s = mix(seed, 0xfeed);
	for (unsigned long i = 0; i < workers; i++, spawned++)
		pids[i] = spawn(mix(seed, mix(i, gen)));

	deadline = now() + (double)duration;
	next_kill = now();
	while (now() < deadline) {
		unsigned long i = below(&parent, (uint32_t)workers);

		next_kill += 0.05 + below(&parent, 500) / 1000.0;
		while (now() < next_kill && now() < deadline)
			usleep(10000);
		kill(pids[i], SIGKILL);
		waitpid(pids[i], NULL, 0);
		kills++;
		gen++;
		pids[i] = spawn(mix(seed, mix(i, gen)));
		spawned++;
	}
	for (unsigned long i = 0; i < workers; i++) {
		kill(pids[i], SIGKILL);
		waitpid(pids[i], NULL, 0);
	}
	left = cleanup_devices();
	printf("zublk-fuzz: done: %lu workers run, %lu killed, %d devices left\n",
	       spawned, kills, left < 0 ? -1 : left);
	return left == 0 ? 0 : 1;
}
