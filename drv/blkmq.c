// SPDX-License-Identifier: GPL-2.0
/*
 * Block side: blk-mq operations, the gendisk /dev/zublkbN, and delivery of
 * requests to the server.
 *
 * Delivery is batched: ->queue_rq puts the request on its queue's lockless
 * list and schedules task work only when the list was empty; the task work
 * (in the server task) drains the whole list, completing one parked command
 * per request, so one io_uring_enter() returns many requests.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/blkdev.h>
#include <linux/sched.h>

#include "zublk.h"

static inline struct zublk_rq *zublk_rq(struct request *rq)
{
	return blk_mq_rq_to_pdu(rq);
}

/* End @rq with the server's result @res (bytes done, or -errno). */
static void zublk_end_req(struct request *rq, int res)
{
	unsigned int bytes = blk_rq_bytes(rq);

	if (unlikely(res < 0)) {
		/* a dead server's request, kept for the next one */
		if (res == ZUBLK_RES_REQUEUE)
			blk_mq_requeue_request(rq, true);
		else
			blk_mq_end_request(rq, errno_to_blk_status(res));
		return;
	}
	if (req_op(rq) != REQ_OP_READ && req_op(rq) != REQ_OP_WRITE) {
		blk_mq_end_request(rq, BLK_STS_OK);
		return;
	}
	/* no progress on a data request would loop forever: fail it */
	if (unlikely(res == 0)) {
		blk_mq_end_request(rq, BLK_STS_IOERR);
		return;
	}
	if (likely((unsigned int)res >= bytes)) {
		blk_mq_end_request(rq, BLK_STS_OK);
		return;
	}
	/* short: complete what was done, send the rest again */
	if (blk_update_request(rq, BLK_STS_OK, res))
		blk_mq_requeue_request(rq, true);
	else
		__blk_mq_end_request(rq, BLK_STS_OK);
}

/* Drop a request reference; the last one ends the request with io->res. */
void zublk_put_req(struct zublk_queue *q, struct zublk_io *io,
		   struct request *rq)
{
	/* refcount_dec_and_test orders io->res stores before the read */
	if (!q->need_ref || refcount_dec_and_test(&io->ref))
		zublk_end_req(rq, io->res);
}

static u32 zublk_op_flags(struct request *rq, blk_status_t *st)
{
	u32 flags = 0;
	u32 op;

	switch (req_op(rq)) {
	case REQ_OP_READ:
		op = UBLK_IO_OP_READ;
		break;
	case REQ_OP_WRITE:
		op = UBLK_IO_OP_WRITE;
		break;
	case REQ_OP_FLUSH:
		op = UBLK_IO_OP_FLUSH;
		break;
	case REQ_OP_DISCARD:
		op = UBLK_IO_OP_DISCARD;
		break;
	case REQ_OP_WRITE_ZEROES:
		op = UBLK_IO_OP_WRITE_ZEROES;
		break;
	default:
		*st = BLK_STS_NOTSUPP;
		return 0;
	}
	if (rq->cmd_flags & REQ_FUA)
		flags |= UBLK_IO_F_FUA;
	if (rq->cmd_flags & REQ_NOUNMAP)
		flags |= UBLK_IO_F_NOUNMAP;
	if (rq->cmd_flags & REQ_FAILFAST_DEV)
		flags |= UBLK_IO_F_FAILFAST_DEV;
	if (rq->cmd_flags & REQ_FAILFAST_TRANSPORT)
		flags |= UBLK_IO_F_FAILFAST_TRANSPORT;
	if (rq->cmd_flags & REQ_FAILFAST_DRIVER)
		flags |= UBLK_IO_F_FAILFAST_DRIVER;
	*st = BLK_STS_OK;
	return op | flags;
}

/* Describe @rq to the server and mark its tag QUEUED; starts @rq. */
static blk_status_t zublk_prep_rq(struct zublk_queue *q, struct request *rq)
{
	struct zublk_io *io = &q->ios[rq->tag];
	struct ublksrv_io_desc *desc = &q->descs[rq->tag];
	blk_status_t st;
	u32 op_flags;

	op_flags = zublk_op_flags(rq, &st);
	if (unlikely(st))
		return st;
	/*
	 * DEAD is stable here: zublk_abort_dev() sets it with the tag set
	 * quiesced.  FAIL_IO: a recovery device without server (recovery.c).
	 */
	if (unlikely(READ_ONCE(q->dev->state) &
		     (BIT(ZDEV_DEAD) | BIT(ZDEV_FAIL_IO))))
		return BLK_STS_IOERR;
	/* no parked command: the device is stopping */
	if (unlikely(cmpxchg(&io->flags, ZIO_F_ARMED,
			     ZIO_F_ARMED | ZIO_F_QUEUED) != ZIO_F_ARMED))
		return BLK_STS_IOERR;

	desc->op_flags = op_flags;
	desc->nr_sectors = blk_rq_sectors(rq);
	desc->start_sector = blk_rq_pos(rq);
	desc->addr = io->addr;
	blk_mq_start_request(rq);
	return BLK_STS_OK;
}

static void zublk_deliver_tw(struct io_uring_cmd *cmd,
			     unsigned int issue_flags, bool cancel);

/* The task-work callback io_uring calls for zublk_deliver_tw(). */
ZUBLK_TW_CB(zublk_deliver_cb, zublk_deliver_tw)

/*
 * Put the chain @first..@last (newest first) of prepared requests of @q on
 * q->pending.  When the list was empty, nobody is going to drain it yet:
 * task work on the command of @first's tag does.
 */
static void zublk_kick(struct zublk_queue *q, struct request *first_rq,
		       struct llist_node *first, struct llist_node *last)
{
	struct zublk_io *io = &q->ios[first_rq->tag];

	if (llist_add_batch(first, last, &q->pending)) {
		/*
		 * Mark the command that carries the task work, so nobody but
		 * the task work completes it (zublk_fail_pending()).  No kill
		 * runs meanwhile: it quiesces the tag set first.  Visible to
		 * the task work: task work queueing is a full barrier.
		 */
		set_bit(ZIO_KICK, &io->flags);
		io_uring_cmd_complete_in_task(io->cmd, zublk_deliver_cb);
	}
}

static blk_status_t zublk_queue_rq(struct blk_mq_hw_ctx *hctx,
				   const struct blk_mq_queue_data *bd)
{
	struct zublk_queue *q = hctx->driver_data;
	struct request *rq = bd->rq;
	struct llist_node *node = &zublk_rq(rq)->node;
	blk_status_t st;

	st = zublk_prep_rq(q, rq);
	if (unlikely(st))
		return st;
	zublk_kick(q, rq, node, node);
	return BLK_STS_OK;
}

/*
 * A plug's worth of requests: one list insertion (and at most one task
 * work) per run of requests for the same queue.  Requests that cannot be
 * queued stay on @rqlist; blk-mq then issues them one by one.
 */
static void zublk_queue_rqs(struct rq_list *rqlist)
{
	struct rq_list left = {};
	struct zublk_queue *q = NULL;
	struct llist_node *first = NULL, *last = NULL;
	struct request *first_rq = NULL, *rq;

	while ((rq = rq_list_pop(rqlist))) {
		struct zublk_queue *this = rq->mq_hctx->driver_data;
		struct llist_node *node = &zublk_rq(rq)->node;

		if (this != q) {
			if (first)
				zublk_kick(q, first_rq, first, last);
			q = this;
			first = last = NULL;
		}
		if (unlikely(zublk_prep_rq(q, rq) != BLK_STS_OK)) {
			rq_list_add_tail(&left, rq);
			continue;
		}
		node->next = first;
		first = node;
		first_rq = rq;
		if (!last)
			last = node;
	}
	if (first)
		zublk_kick(q, first_rq, first, last);
	*rqlist = left;
}

/*
 * Hand one queued request to the server through its tag's parked command,
 * in the server's task.  @dead: the task is exiting or the device aborted;
 * the request then fails, or waits for the next server (recovery).
 * Returns whether the server got the request.
 */
static bool zublk_deliver(struct zublk_queue *q, struct request *rq, bool dead,
			  unsigned int issue_flags)
{
	struct zublk_io *io = &q->ios[rq->tag];
	struct io_uring_cmd *cmd = io->cmd;
	unsigned long owned = ZIO_F_OWNED;
	int res = UBLK_IO_RES_OK;

	if (unlikely(dead))
		goto out_abort;

	/* USER_COPY: the server pwrites; STORE: the data moves at commit */
	if (req_op(rq) == REQ_OP_WRITE && !q->user_copy && !q->store) {
		if (q->need_get_data) {
			owned |= ZIO_F_NEED_GET_DATA;
			res = UBLK_IO_RES_NEED_GET_DATA;
		} else if (unlikely(zublk_copy_to_server(q, io, rq, io->addr))) {
			if (zublk_copy_lost_server(q))
				goto out_abort;
			/* bad server buffer: fail this IO, keep the command */
			clear_bit(ZIO_QUEUED, &io->flags);
			blk_mq_end_request(rq, BLK_STS_IOERR);
			return false;
		}
	}

	if (q->need_ref)
		refcount_set(&io->ref, 1);
	/* full barrier: io->ref is set before the server can see OWNED */
	if (unlikely(cmpxchg(&io->flags, ZIO_F_ARMED | ZIO_F_QUEUED, owned) !=
		     (ZIO_F_ARMED | ZIO_F_QUEUED))) {
		/* cancellers leave QUEUED commands alone: cannot happen */
		WARN_ON_ONCE(1);
		clear_bit(ZIO_QUEUED, &io->flags);
		blk_mq_end_request(rq, BLK_STS_IOERR);
		return false;
	}
	zublk_stat_own(q, ZST_REQUESTS, 1);
	if (req_op(rq) == REQ_OP_READ || req_op(rq) == REQ_OP_WRITE)
		zublk_stat_own(q, ZST_BYTES, blk_rq_bytes(rq));
	zublk_cmd_done(cmd, res, issue_flags);
	return true;

out_abort:
	if (cmpxchg(&io->flags, ZIO_F_ARMED | ZIO_F_QUEUED, 0) ==
	    (ZIO_F_ARMED | ZIO_F_QUEUED))
		zublk_cmd_done(cmd, UBLK_IO_RES_ABORT, issue_flags);
	else
		clear_bit(ZIO_QUEUED, &io->flags);
	zublk_end_req(rq, zublk_nosrv_res(q->dev, false));
	return false;
}

/* Task work scheduled by ->queue_rq: deliver every queued request. */
static void zublk_deliver_tw(struct io_uring_cmd *cmd,
			     unsigned int issue_flags, bool cancel)
{
	struct zublk_queue *q = zublk_pdu(cmd)->q;
	struct zublk_io *own = &q->ios[zublk_pdu(cmd)->tag];
	struct llist_node *list;
	struct zublk_rq *pdu, *next;
	unsigned int n = 0;
	bool dead, mine = false;

	/* the task work runs: from here the command is like any other */
	clear_bit(ZIO_KICK, &own->flags);
	/* xchg, a full barrier: a kill's DEAD is seen when it took the list */
	list = llist_reverse_order(llist_del_all(&q->pending));
	dead = zublk_tw_dead(cmd, cancel) ||
		(READ_ONCE(q->dev->state) & (BIT(ZDEV_DEAD) | BIT(ZDEV_NOSRV)));
	/*
	 * Settle the device's fate (DEAD, or waiting for a new server) before
	 * a tag goes idle: ->queue_rq must not find an unarmed tag on a device
	 * it takes for served.
	 */
	if (unlikely(dead && list))
		zublk_abort_dev(q->dev);
	llist_for_each_entry_safe(pdu, next, list, node) {
		struct request *rq = blk_mq_rq_from_pdu(pdu);

		mine |= own == &q->ios[rq->tag];
		n += zublk_deliver(q, rq, dead, issue_flags);
	}
	/*
	 * A kill took the request this task work was queued for
	 * (zublk_fail_pending()) and left the command to us.  While its
	 * QUEUED bit is still set the kill completes it, after clearing it.
	 */
	if (unlikely(dead && !mine) &&
	    cmpxchg(&own->flags, ZIO_F_ARMED, 0) == ZIO_F_ARMED)
		zublk_cmd_done(cmd, UBLK_IO_RES_ABORT, issue_flags);
	/* n > 0 only when not dead: then this is the server task */
	if (n) {
		zublk_stat_own(q, ZST_TW_BATCHES, 1);
		zublk_stat_own(q, ZST_TW_REQUESTS, n);
	}
}

/*
 * IO timeout kill (zublk_kill_dev()): end the requests of @q queued for
 * delivery, whose task work may never run (server stopped, or not
 * entering its ring).  The caller made @q's device DEAD with the tag set
 * quiesced, so nothing is added to q->pending any more.  The tags go back
 * to ARMED for an ordinary cancel; the one carrying the task work keeps
 * KICK, and its task work completes it.
 */
void zublk_fail_pending(struct zublk_queue *q)
{
	/* xchg: each request is taken either here or by the task work */
	struct llist_node *list = llist_del_all(&q->pending);
	struct zublk_rq *pdu, *next;

	llist_for_each_entry_safe(pdu, next, list, node) {
		struct request *rq = blk_mq_rq_from_pdu(pdu);

		clear_bit(ZIO_QUEUED, &q->ios[rq->tag].flags);
		zublk_end_req(rq, zublk_nosrv_res(q->dev, false));
	}
}

static int zublk_init_hctx(struct blk_mq_hw_ctx *hctx, void *data,
			   unsigned int hctx_idx)
{
	struct zublk_dev *dev = data;

	hctx->driver_data = dev->queues[hctx_idx];
	return 0;
}

static const struct blk_mq_ops zublk_mq_ops = {
	.queue_rq	= zublk_queue_rq,
	.queue_rqs	= zublk_queue_rqs,
	.init_hctx	= zublk_init_hctx,
	.timeout	= zublk_timeout,
};

int zublk_init_tag_set(struct zublk_dev *dev)
{
	struct blk_mq_tag_set *set = &dev->set;
	int ret;

	set->ops = &zublk_mq_ops;
	set->nr_hw_queues = dev->info.nr_hw_queues;
	set->queue_depth = dev->info.queue_depth;
	set->numa_node = NUMA_NO_NODE;
	set->cmd_size = sizeof(struct zublk_rq);
	/*
	 * No IO scheduler unless the admin picks one (queue/scheduler): the
	 * server queues and orders IO itself, and with one hardware queue
	 * blk-mq would otherwise put mq-deadline, with its lock and dispatch
	 * round trip, in front of every request (loop makes the same choice).
	 */
	set->flags = ZUBLK_MQ_F_MERGE | BLK_MQ_F_NO_SCHED_BY_DEFAULT;
	set->driver_data = dev;
	ret = blk_mq_alloc_tag_set(set);
	if (ret)
		set->tags = NULL;
	return ret;
}

static void zublk_free_disk(struct gendisk *disk)
{
	struct zublk_dev *dev = disk->private_data;

	zublk_put(dev);
}

static const struct block_device_operations zublk_bdev_fops = {
	.owner		= THIS_MODULE,
	.free_disk	= zublk_free_disk,
};

/*
 * DMA_ALIGN and SEGMENT params (validated at SET_PARAMS).  A virt
 * boundary keeps segments unlimited in size: the 6.12 block layer
 * refuses (WARNs) any other max_segment_size with one.
 */
static void zublk_sg_limits(const struct zublk_dev *dev,
			    struct queue_limits *lim)
{
	const struct zublk_params *p = &dev->params;

	if (p->types & UBLK_PARAM_TYPE_DMA_ALIGN)
		lim->dma_alignment = p->dma.alignment;
	if (p->types & UBLK_PARAM_TYPE_SEGMENT) {
		lim->seg_boundary_mask = p->seg.seg_boundary_mask;
		if (!lim->virt_boundary_mask)
			lim->max_segment_size = p->seg.max_segment_size;
		/* 0 leaves the block layer's default */
		lim->max_segments = p->seg.max_segments;
	}
}

/*
 * Allocate the disk, which adds its queue to the tag set, under
 * abort_mutex: an abort quiesces and unquiesces the whole tag set under
 * it, so the queue is in the tag set for both or for neither, and a device
 * already aborted is not started.  Not held across add_disk(): its
 * partition scan needs the server, and a server loss needs abort_mutex.
 */
static struct gendisk *zublk_alloc_disk(struct zublk_dev *dev,
					struct queue_limits *lim)
{
	struct gendisk *disk = ERR_PTR(-ENODEV);

	mutex_lock(&dev->abort_mutex);
	if (likely(!(READ_ONCE(dev->state) &
		     (BIT(ZDEV_DEAD) | BIT(ZDEV_NO_ARM)))))
		disk = blk_mq_alloc_disk(&dev->set, lim, dev);
	mutex_unlock(&dev->abort_mutex);
	return disk;
}

int zublk_start_disk(struct zublk_dev *dev)
{
	const struct ublk_param_basic *b = &dev->params.basic;
	struct queue_limits lim = {
		.logical_block_size	= 1U << b->logical_bs_shift,
		.physical_block_size	= 1U << b->physical_bs_shift,
		.io_min			= 1U << b->io_min_shift,
		.io_opt			= 1U << b->io_opt_shift,
		.max_hw_sectors		= b->max_sectors,
		.chunk_sectors		= b->chunk_sectors,
		.virt_boundary_mask	= b->virt_boundary_mask,
		.max_segments		= USHRT_MAX,
		.max_segment_size	= UINT_MAX,
		.dma_alignment		= 3,
	};
	struct gendisk *disk;
	int ret;

	lockdep_assert_held(&dev->mutex);

	if (dev->params.types & UBLK_PARAM_TYPE_DISCARD) {
		const struct ublk_param_discard *d = &dev->params.discard;

		lim.discard_alignment = d->discard_alignment;
		lim.discard_granularity = d->discard_granularity;
		lim.max_hw_discard_sectors = d->max_discard_sectors;
		lim.max_write_zeroes_sectors = d->max_write_zeroes_sectors;
		lim.max_discard_segments = d->max_discard_segments;
	}
	if (b->attrs & UBLK_ATTR_VOLATILE_CACHE) {
		lim.features |= BLK_FEAT_WRITE_CACHE;
		if (b->attrs & UBLK_ATTR_FUA)
			lim.features |= BLK_FEAT_FUA;
	}
	if (b->attrs & UBLK_ATTR_ROTATIONAL)
		lim.features |= BLK_FEAT_ROTATIONAL;
	zublk_sg_limits(dev, &lim);

	disk = zublk_alloc_disk(dev, &lim);
	if (IS_ERR(disk))
		return PTR_ERR(disk);
	snprintf(disk->disk_name, DISK_NAME_LEN, "%s%d", zublk.bname, dev->id);
	disk->fops = &zublk_bdev_fops;
	disk->private_data = dev;
	set_capacity(disk, b->dev_sectors);
	zublk_apply_timeout(dev, disk);
	if (b->attrs & UBLK_ATTR_READ_ONLY)
		set_disk_ro(disk, true);

	/* scanned from zublk_part_scan_work(), not by add_disk() */
	set_bit(GD_SUPPRESS_PART_SCAN, &disk->state);
	dev->disk = disk;
	ret = add_disk(disk);
	if (ret)
		goto out_put_disk;
	/*
	 * Dropped in ->free_disk, which the block layer calls only for a disk
	 * that was added: taken once add_disk() succeeded, so a failed one
	 * (a name already taken, say) leaks no reference.
	 */
	zublk_get(dev);
	/* dev->disk is set: queue_work() orders it before the work runs */
	schedule_work(&dev->part_scan);
	return 0;

out_put_disk:
	dev->disk = NULL;
	put_disk(disk);
	return ret;
}

/*
 * The partition scan of a started disk, which add_disk() would otherwise
 * do inside START_DEV.  Its reads need the server, and START_DEV may run
 * in the server's own io-wq: a server killed then waits, in its exit, for
 * that io-wq to finish before its ring is closed and its commands are
 * cancelled, so a scan inside START_DEV would wait forever for a server
 * that waits for it.  Here the scan's reads complete, or fail once the
 * server is gone.  dev->disk stays set while this can run: zublk_stop_disk()
 * cancels it before clearing it.
 */
void zublk_part_scan_work(struct work_struct *work)
{
	struct zublk_dev *dev = container_of(work, struct zublk_dev, part_scan);
	struct gendisk *disk = dev->disk;

	mutex_lock(&disk->open_mutex);
	clear_bit(GD_SUPPRESS_PART_SCAN, &disk->state);
	bdev_disk_changed(disk, false);
	mutex_unlock(&disk->open_mutex);
}

void zublk_stop_disk(struct zublk_dev *dev)
{
	struct gendisk *disk = dev->disk;

	lockdep_assert_held(&dev->mutex);
	if (!disk)
		return;
	/* waits for a scan in progress: it does not take dev->mutex */
	cancel_work_sync(&dev->part_scan);
	del_gendisk(disk);
	dev->disk = NULL;
	put_disk(disk);
}
