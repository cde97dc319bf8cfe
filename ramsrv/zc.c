// SPDX-License-Identifier: GPL-2.0
/*
 * ramsrv: the data op of upstream zero copy (--copy zc, zc-explicit), shared
 * by the per-tag queue loop (queue.c) and --batch (batch.c).
 *
 * handle() names the op in q->zc_op/zc_len/zc_off; it runs on the request's
 * slot in the serving ring's sparse buffer table against the store, fixed
 * file 1 (the char node is fixed file 0).  zc-explicit links it between
 * REGISTER_IO_BUF and UNREGISTER_IO_BUF of that slot.  Its CQE
 * (RS_UD_OP_DATA) carries handle()'s result in sectors, and whoever reaps it
 * commits that result (rs_zc_result).
 */
#include <errno.h>
#include <string.h>
#include <liburing.h>
#include "ramsrv.h"
#include "../lib/uring_cmd.h"

/* zc-explicit: REGISTER_IO_BUF or UNREGISTER_IO_BUF @op of @q's @tag at @slot */
static struct io_uring_sqe *zc_bufreg(struct io_uring *ring, struct rs_queue *q,
				      unsigned int tag, unsigned int slot,
				      unsigned int op)
{
	struct io_uring_sqe *sqe = zu_get_sqe(ring);
	struct ublksrv_io_cmd *cmd;

	if (!sqe)
		return NULL;
	cmd = (struct ublksrv_io_cmd *)sqe->cmd;
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = 0;			/* the char node, registered file 0 */
	sqe->flags = IOSQE_FIXED_FILE | IOSQE_CQE_SKIP_SUCCESS;
	sqe->cmd_op = op;
	cmd->q_id = (uint16_t)q->q_id;
	cmd->tag = (uint16_t)tag;
	cmd->addr = slot;
	sqe->user_data = rs_ud_pack((unsigned int)q->q_id, tag, RS_UD_OP_BUFREG);
	q->st->buf_cmds++;
	q->st->cmds++;
	return sqe;
}

bool rs_zc_submit(struct io_uring *ring, struct rs_queue *q, unsigned int tag,
		  unsigned int slot, int res)
{
	bool reg = q->dev->zc_reg;
	struct io_uring_sqe *sqe;

	if (!q->zc_op || res < 0)
		return false;
	/* a link chain must not be cut by zu_get_sqe's submit when full */
	if (io_uring_sq_space_left(ring) < (reg ? 3U : 1U)) {
		io_uring_submit(ring);
		q->st->enters++;
	}
	if (reg) {	/* the data op runs only if this succeeded */
		sqe = zc_bufreg(ring, q, tag, slot, UBLK_U_IO_REGISTER_IO_BUF);
		if (!sqe)
			return false;
		sqe->flags |= IOSQE_IO_LINK;
	}
	sqe = zu_get_sqe(ring);
	if (!sqe)
		return false;
	if (q->zc_op == IORING_OP_READ_FIXED)
		io_uring_prep_read_fixed(sqe, 1, NULL, q->zc_len, q->zc_off, (int)slot);
	else
		io_uring_prep_write_fixed(sqe, 1, NULL, q->zc_len, q->zc_off, (int)slot);
	sqe->flags |= IOSQE_FIXED_FILE;
	/* the commit result rides along in sectors: up to RS_MAX_MAX_IO */
	sqe->user_data = rs_ud_pack((unsigned int)q->q_id, tag, RS_UD_OP_DATA) |
			 (uint64_t)((uint32_t)res >> 9) << RS_UD_RES_SHIFT;
	q->st->data_ops++;
	q->st->data_op_bytes += q->zc_len;
	if (reg) {	/* unregister whatever the data op did */
		sqe->flags |= IOSQE_IO_HARDLINK;
		zc_bufreg(ring, q, tag, slot, UBLK_U_IO_UNREGISTER_IO_BUF);
	}
	return true;
}

int rs_zc_result(const struct io_uring_cqe *cqe, const char *who)
{
	int res = (int)((cqe->user_data >> RS_UD_RES_SHIFT) << 9);

	if (cqe->res < 0 || (uint32_t)cqe->res != (uint32_t)res) {
		rs_warn("%s tag %u: fixed-buffer read/write of %d bytes: %s",
			who, rs_ud_tag(cqe->user_data), res,
			cqe->res < 0 ? strerror(-cqe->res) : "short");
		return cqe->res < 0 ? cqe->res : -EIO;
	}
	return res;
}
