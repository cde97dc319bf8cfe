// SPDX-License-Identifier: GPL-2.0
/* ublk commands over io_uring: see uring_cmd.h. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "uring_cmd.h"

int zu_ctrl_open(struct zu_ctrl *c, const char *path, unsigned int entries,
		 unsigned int ring_flags)
{
	int ret;

	memset(c, 0, sizeof(*c));
	c->fd = open(path, O_RDWR | O_CLOEXEC);
	if (c->fd < 0)
		return -errno;
	ret = io_uring_queue_init(entries, &c->ring, ring_flags);
	if (ret < 0)
		return ret;
	c->has_ring = true;
	return 0;
}

void zu_ctrl_close(struct zu_ctrl *c)
{
	if (c->has_ring)
		io_uring_queue_exit(&c->ring);
	c->has_ring = false;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

struct io_uring_sqe *zu_get_sqe(struct io_uring *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(r);

	if (!sqe) {
		io_uring_submit(r);
		sqe = io_uring_get_sqe(r);
		if (!sqe)
			return NULL;
	}
	memset(sqe, 0, sizeof(*sqe) * (r->flags & IORING_SETUP_SQE128 ? 2 : 1));
	return sqe;
}

/* @op on @fd in a fresh SQE, the rest zero. */
static struct io_uring_sqe *prep_cmd(struct io_uring *r, int fd, unsigned int op)
{
	struct io_uring_sqe *sqe = zu_get_sqe(r);

	if (!sqe)
		return NULL;
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = fd;
	sqe->cmd_op = op;
	return sqe;
}

struct io_uring_sqe *zu_prep_ctrl(struct io_uring *r, int fd, unsigned int op,
				  uint32_t dev_id, void *addr, uint16_t len,
				  uint64_t data0)
{
	struct io_uring_sqe *sqe = prep_cmd(r, fd, op);
	struct ublksrv_ctrl_cmd h = {
		.dev_id = dev_id,
		.queue_id = (uint16_t)-1,
		.len = len,
		.addr = (uint64_t)(uintptr_t)addr,
		.data = { data0 },
	};

	if (sqe)
		memcpy(sqe->cmd, &h, r->flags & IORING_SETUP_SQE128 ? sizeof(h) : 16);
	return sqe;
}

struct io_uring_sqe *zu_prep_io(struct io_uring *r, int fd, unsigned int op,
				uint16_t q, uint16_t tag, int32_t result,
				uint64_t addr)
{
	struct io_uring_sqe *sqe = prep_cmd(r, fd, op);
	struct ublksrv_io_cmd *cmd;

	if (!sqe)
		return NULL;
	sqe->user_data = tag;
	cmd = (struct ublksrv_io_cmd *)sqe->cmd;
	cmd->q_id = q;
	cmd->tag = tag;
	cmd->result = result;
	cmd->addr = addr;
	return sqe;
}

struct io_uring_sqe *zu_prep_store(struct io_uring *r, int fd, void *addr,
				   uint64_t len)
{
	struct io_uring_sqe *sqe = prep_cmd(r, fd, ZUBLK_U_IO_REGISTER_STORE);
	struct zublk_store_reg reg = { .addr = (uint64_t)(uintptr_t)addr, .len = len };

	if (sqe)
		memcpy(sqe->cmd, &reg, sizeof(reg));
	return sqe;
}

int zu_wait(struct io_uring *r, uint64_t *ud)
{
	struct io_uring_cqe *cqe;
	int ret;

	do {
		ret = io_uring_wait_cqe(r, &cqe);
	} while (ret == -EINTR);
	if (ret < 0)
		return ret;
	ret = cqe->res;
	if (ud)
		*ud = cqe->user_data;
	io_uring_cqe_seen(r, cqe);
	return ret;
}

int zu_submit_wait(struct io_uring *r, uint64_t *ud)
{
	int ret = io_uring_submit(r);

	return ret < 0 ? ret : zu_wait(r, ud);
}

int zu_ctrl_cmd(struct zu_ctrl *c, unsigned int op, uint32_t dev_id,
		void *addr, uint16_t len, uint64_t data0)
{
	if (!zu_prep_ctrl(&c->ring, c->fd, op, dev_id, addr, len, data0))
		return -EBUSY;
	return zu_submit_wait(&c->ring, NULL);
}

int zu_open_wait(const char *path, int flags, unsigned int tries, bool busy)
{
	for (unsigned int i = 1;; i++) {
		int fd = open(path, flags);

		if (fd >= 0)
			return fd;
		if (i >= tries || (errno != ENOENT && !(busy && errno == EBUSY)))
			return -errno;
		usleep(100000);
	}
}

size_t zu_descs_len(unsigned int depth)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return ((size_t)depth * sizeof(struct ublksrv_io_desc) + pg - 1) & ~(pg - 1);
}

struct ublksrv_io_desc *zu_map_descs(int fd, unsigned int q, unsigned int depth,
				     int mmap_flags)
{
	off_t off = UBLKSRV_CMD_BUF_OFFSET +
		    (off_t)q * zu_descs_len(UBLK_MAX_QUEUE_DEPTH);

	return mmap(NULL, zu_descs_len(depth), PROT_READ, MAP_SHARED | mmap_flags,
		    fd, off);
}

void zu_params_basic(struct ublk_param_basic *b, uint32_t max_io, uint64_t dev_bytes)
{
	b->logical_bs_shift = 9;
	b->physical_bs_shift = 12;
	b->io_min_shift = 9;
	b->io_opt_shift = 12;
	b->max_sectors = max_io >> 9;
	b->dev_sectors = dev_bytes >> 9;
}
