// SPDX-License-Identifier: GPL-2.0
/*
 * ramsrv: null target: completes every request and keeps no data. Its READs
 * and WRITEs still go through the data path, which for a target without
 * data moves nothing (classic, none) or, in single mode, moves each request
 * once to or from a scratch buffer or store: the cost of the single copy
 * without a store (copy.c).
 */
#include <errno.h>
#include "ramsrv.h"

static int null_init(struct rs_dev *d)
{
	d->attrs = 0;
	return 0;
}

static int null_handle(struct rs_queue *q, unsigned int tag,
		       const struct ublksrv_io_desc *iod)
{
	size_t len = (size_t)iod->nr_sectors << 9;
	int r;

	if ((iod->start_sector << 9) + len > q->dev->size)
		return -EIO;
	switch (ublksrv_get_op(iod)) {
	case UBLK_IO_OP_READ:
		r = rs_path_to_req(q, tag, NULL, len);
		return r < 0 ? r : (int)len;
	case UBLK_IO_OP_WRITE:
		r = rs_path_from_req(q, tag, NULL, len);
		return r < 0 ? r : (int)len;
	case UBLK_IO_OP_FLUSH:
	case UBLK_IO_OP_DISCARD:
	case UBLK_IO_OP_WRITE_ZEROES:
		return 0;
	}
	return -EOPNOTSUPP;
}

const struct target_ops tgt_null_ops = {
	.name = "null",
	.caps = 0,
	.init = null_init,
	.handle = null_handle,
};
