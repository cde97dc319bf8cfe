// SPDX-License-Identifier: GPL-2.0
/*
 * ramsrv: null target: completes every request. In classic and none modes it
 * touches no data. In single mode (user copy) it still moves each request's
 * data once, to or from a per-queue scratch buffer (@buf is NULL then and
 * q->buf holds max-io bytes): the cost of the single copy without a store.
 */
#include <errno.h>
#include <stdio.h>
#include "ramsrv.h"

static int null_init(struct rs_dev *d)
{
	d->attrs = 0;
	snprintf(d->st->copy, sizeof(d->st->copy), "%s",
		 d->copy == RS_COPY_SINGLE ? "pread/pwrite scratch" : "none");
	return 0;
}

static int null_handle(struct rs_queue *q, unsigned int tag,
		       const struct ublksrv_io_desc *iod, void *buf)
{
	struct rs_dev *d = q->dev;
	size_t len = (size_t)iod->nr_sectors << 9;
	int r = 0;

	(void)buf;
	if ((iod->start_sector << 9) + len > d->size)
		return -EIO;
	switch (ublksrv_get_op(iod)) {
	case UBLK_IO_OP_READ:
		if (d->copy == RS_COPY_SINGLE)
			r = rs_ucopy_to_req(q, tag, q->buf.addr, len);
		return r < 0 ? r : (int)len;
	case UBLK_IO_OP_WRITE:
		if (d->copy == RS_COPY_SINGLE)
			r = rs_ucopy_from_req(q, tag, q->buf.addr, len);
		return r < 0 ? r : (int)len;
	case UBLK_IO_OP_FLUSH:
	case UBLK_IO_OP_DISCARD:
	case UBLK_IO_OP_WRITE_ZEROES:
		return 0;
	}
	return -EOPNOTSUPP;
}

static void null_fini(struct rs_dev *d)
{
	(void)d;
}

const struct target_ops tgt_null_ops = {
	.name = "null",
	.init = null_init,
	.handle = null_handle,
	.fini = null_fini,
};
