// SPDX-License-Identifier: GPL-2.0
/*
 * ramsrv: null target: completes every request. In classic and none modes it
 * touches no data. In single mode (user copy) it still moves each request's
 * data once, to or from a per-queue scratch buffer (@buf is NULL then and
 * q->buf holds max-io bytes): the cost of the single copy without a store.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include "ramsrv.h"

static int null_init(struct rs_dev *d)
{
	d->attrs = 0;
	snprintf(d->st->copy, sizeof(d->st->copy), "%s",
		 d->copy != RS_COPY_SINGLE ? "none" :
		 d->store_mode ? "driver, scratch store" : "pread/pwrite scratch");
	if (!d->store_mode)
		return 0;
	/*
	 * ZUBLK_F_STORE needs a registered region: single copies every
	 * request to/from its start (max-io bytes), none registers one page
	 * and never names it.
	 */
	d->store_len = d->copy == RS_COPY_SINGLE ? d->max_io : 4096;
	d->store = mmap(NULL, d->store_len, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (d->store == MAP_FAILED) {
		d->store = NULL;
		rs_err("dev %d: scratch store: %s", d->info.dev_id, strerror(errno));
		return -ENOMEM;
	}
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
	case UBLK_IO_OP_WRITE:
		if (d->copy != RS_COPY_SINGLE)
			return (int)len;
		if (d->store_mode) {	/* the driver copies at commit */
			q->store_off = 0;
			return (int)len;
		}
		r = ublksrv_get_op(iod) == UBLK_IO_OP_READ ?
		    rs_ucopy_to_req(q, tag, q->buf.addr, len) :
		    rs_ucopy_from_req(q, tag, q->buf.addr, len);
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
	if (d->store)
		munmap(d->store, d->store_len);
	d->store = NULL;
}

const struct target_ops tgt_null_ops = {
	.name = "null",
	.caps = 0,
	.init = null_init,
	.handle = null_handle,
	.fini = null_fini,
};
