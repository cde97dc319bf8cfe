// SPDX-License-Identifier: GPL-2.0
/* ramsrv: null target: completes every request, touches no data. */
#include <errno.h>
#include "ramsrv.h"

static int null_init(struct rs_dev *d)
{
	d->attrs = 0;
	return 0;
}

static int null_handle(struct rs_dev *d, int q, const struct ublksrv_io_desc *iod,
		       void *buf)
{
	(void)q;
	(void)buf;
	if ((iod->start_sector << 9) + ((uint64_t)iod->nr_sectors << 9) > d->size)
		return -EIO;
	switch (ublksrv_get_op(iod)) {
	case UBLK_IO_OP_READ:
	case UBLK_IO_OP_WRITE:
		return (int)(iod->nr_sectors << 9);
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
