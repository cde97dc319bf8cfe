// SPDX-License-Identifier: GPL-2.0
/*
 * The per-device char node /dev/zublkcN: single opener, read-only mmap of
 * each queue's descriptor array, the io commands (FETCH_REQ,
 * COMMIT_AND_FETCH_REQ, NEED_GET_DATA) and user copy (pread/pwrite).
 * What a server loss does (io_uring cancel, release) is recovery.c's.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/sched/task.h>
#include <linux/uio.h>
#include <linux/timekeeping.h>

#include "zublk.h"

/* ---- parking commands ----------------------------------------------------- */

/*
 * Complete the parked command of @io with UBLK_IO_RES_ABORT unless task
 * work is about to deliver a request through it (QUEUED, or KICK: task
 * work is queued on it): that command then completes from the task work,
 * and a later cancel round gets the rest.
 */
static void zublk_cancel_io(struct zublk_io *io, unsigned int issue_flags)
{
	/*
	 * Read io->cmd only once the claim is won: before it, a FETCH may
	 * park a new command on the tag.  The cmpxchg is a full barrier and
	 * pairs with zublk_arm()'s, which stores io->cmd before ARMED; no
	 * other command can be parked on the tag before it is ARMED again.
	 */
	if (cmpxchg(&io->flags, ZIO_F_ARMED, 0) == ZIO_F_ARMED)
		zublk_cmd_done(READ_ONCE(io->cmd), UBLK_IO_RES_ABORT,
			       issue_flags);
}

/*
 * Park @cmd on @io, moving io->flags from @from to ARMED.  It completes
 * when a request for the tag arrives or the device goes away.  False when
 * io->flags was not @from (the command is completed with -EINVAL).
 * Always leaves @cmd to be completed through io_uring_cmd_done(), since it
 * is cancelable from here on.
 */
static bool zublk_arm(struct zublk_queue *q, struct zublk_io *io,
		      struct io_uring_cmd *cmd, u16 tag, unsigned long from,
		      unsigned int issue_flags)
{
	struct zublk_cmd_pdu *pdu = zublk_pdu(cmd);

	pdu->q = q;
	pdu->tag = tag;
	WRITE_ONCE(io->cmd, cmd);
	io_uring_cmd_mark_cancelable(cmd, issue_flags);
	/*
	 * cmpxchg is a full barrier: io->cmd is visible before ARMED (pairs
	 * with zublk_cancel_io()), ARMED before the NO_ARM read below (pairs
	 * with zublk_cancel_cmds()).
	 */
	if (unlikely(cmpxchg(&io->flags, from, ZIO_F_ARMED) != from)) {
		zublk_cmd_done(cmd, -EINVAL, issue_flags);
		return false;
	}
	if (unlikely(test_bit(ZDEV_NO_ARM, &q->dev->state)))
		zublk_cancel_io(io, issue_flags);
	return true;
}

/* STOP/DEL: complete every parked command; no new ones are accepted. */
void zublk_cancel_cmds(struct zublk_dev *dev)
{
	unsigned int i, t;

	set_bit(ZDEV_NO_ARM, &dev->state);
	/* NO_ARM before reading ARMED: pairs with zublk_arm() */
	smp_mb__after_atomic();
	for (i = 0; i < dev->info.nr_hw_queues; i++) {
		struct zublk_queue *q = dev->queues[i];

		for (t = 0; t < q->depth; t++)
			zublk_cancel_io(&q->ios[t], IO_URING_F_UNLOCKED);
	}
}

/* io_uring cancels a parked command: its ring or its task is going away. */
static void zublk_cmd_cancel(struct io_uring_cmd *cmd, unsigned int issue_flags)
{
	struct zublk_cmd_pdu *pdu = zublk_pdu(cmd);
	struct zublk_queue *q = pdu->q;

	zublk_abort_cancel(q);
	zublk_cancel_io(&q->ios[pdu->tag], issue_flags);
}

/* ---- io commands ---------------------------------------------------------- */

static int zublk_io_nr(u32 op)
{
	switch (op) {
	case UBLK_IO_FETCH_REQ:
	case UBLK_U_IO_FETCH_REQ:
		return UBLK_IO_FETCH_REQ;
	case UBLK_IO_COMMIT_AND_FETCH_REQ:
	case UBLK_U_IO_COMMIT_AND_FETCH_REQ:
		return UBLK_IO_COMMIT_AND_FETCH_REQ;
	case UBLK_IO_NEED_GET_DATA:
	case UBLK_U_IO_NEED_GET_DATA:
		return UBLK_IO_NEED_GET_DATA;
	default:
		return -1;
	}
}

static int zublk_fetch(struct zublk_queue *q, struct zublk_io *io,
		       struct io_uring_cmd *cmd, u16 tag, u64 addr,
		       unsigned int issue_flags)
{
	struct zublk_dev *dev = q->dev;
	void *ring = cmd_to_io_kiocb(cmd)->ctx;
	struct zublk_pinned *pbuf = NULL;
	int ret = -EINVAL;

	/* ZUBLK_F_STORE: FETCH carries no buffer */
	if (q->store)
		addr = 0;
	/* pin before the mutex: pinning may migrate pages and sleep long */
	if (q->pin_buf && addr) {
		pbuf = zublk_pin_buf(q, tag, addr);
		if (IS_ERR(pbuf))
			return PTR_ERR(pbuf);
	}

	mutex_lock(&dev->fetch_mutex);
	if (test_bit(ZDEV_NO_ARM, &dev->state))
		goto out_unlock;
	if (q->nr_fetched == q->depth) {
		ret = -EBUSY;		/* queue already set up */
		goto out_unlock;
	}
	/* each tag is fetched once */
	if (io->fetched)
		goto out_unlock;
	/* all tags of a queue are served by one task through one ring */
	if (q->task && (q->task != current || q->ring != ring))
		goto out_unlock;
	if (q->user_copy ? addr != 0 :
	    (!addr && !q->need_get_data && !q->store))
		goto out_unlock;

	if (!q->task) {
		get_task_struct(current);
		WRITE_ONCE(q->ring, ring);
		/* only this task passes zublk_ch_cmd()'s check: no barrier */
		WRITE_ONCE(q->task, current);
	}
	io->addr = addr;
	/* before ARMED: task work for the first request copies through it */
	io->pbuf = pbuf;
	pbuf = NULL;
	if (!zublk_arm(q, io, cmd, tag, 0, issue_flags)) {
		swap(pbuf, io->pbuf);
	} else {
		io->fetched = true;
		if (++q->nr_fetched == q->depth &&
		    ++dev->nr_queues_ready == dev->info.nr_hw_queues)
			complete_all(&dev->ready);
	}
	ret = -EIOCBQUEUED;
out_unlock:
	mutex_unlock(&dev->fetch_mutex);
	zublk_drop_buf(q, pbuf, false);
	return ret;
}

/*
 * A committed read's data, @result bytes in the server's buffer at @addr
 * (the commit's address, as upstream) -> its pages.  Returns the request's
 * result.
 */
static int zublk_commit_read(struct zublk_queue *q, struct zublk_io *io,
			     struct request *rq, s32 result, u64 addr)
{
	unsigned int len;

	if (q->user_copy || req_op(rq) != REQ_OP_READ || result <= 0)
		return result;
	len = min_t(unsigned int, result, blk_rq_bytes(rq));
	if (likely(!zublk_copy_from_server(q, io, rq, addr, len)))
		return len;
	if (zublk_copy_lost_server(q))
		return zublk_nosrv_res(q->dev, true);
	return -EFAULT;
}

static int zublk_commit(struct zublk_queue *q, struct zublk_io *io,
			struct io_uring_cmd *cmd, u16 tag, s32 result, u64 addr,
			unsigned int issue_flags)
{
	struct zublk_pinned *pbuf = NULL;
	struct request *rq;

	if (unlikely(!(READ_ONCE(io->flags) & ZIO_F_OWNED)))
		return -EINVAL;
	rq = blk_mq_tag_to_rq(q->dev->set.tags[q->q_id], tag);
	if (q->store) {
		/* addr is a store offset for this request's data */
		if (unlikely(!zublk_arm(q, io, cmd, tag, ZIO_F_OWNED,
					issue_flags)))
			return -EIOCBQUEUED;
		io->res = zublk_store_copy(q, rq, result, addr);
		zublk_put_req(q, io, rq);
		return -EIOCBQUEUED;
	}
	if (!q->user_copy) {
		/* a buffer is needed for the next request unless GET_DATA */
		if (unlikely(!addr && (!q->need_get_data ||
				       req_op(rq) == REQ_OP_READ)))
			return -EINVAL;
	} else if (unlikely(addr)) {
		return -EINVAL;
	}
	/*
	 * ZUBLK_F_PIN_BUF and a new buffer: pin it before claiming, so a
	 * buffer that cannot be pinned fails this command and leaves the
	 * request with the server.
	 */
	if (q->pin_buf && addr && (!io->pbuf || io->pbuf->addr != addr)) {
		pbuf = zublk_pin_buf(q, tag, addr);
		if (IS_ERR(pbuf))
			return PTR_ERR(pbuf);
	}
	/*
	 * Claim the request and re-park in one step (an abort may have failed
	 * the request meanwhile); parking before the request ends matters, as
	 * the tag may be reused at once.
	 */
	if (unlikely(!zublk_arm(q, io, cmd, tag, ZIO_F_OWNED, issue_flags))) {
		zublk_drop_buf(q, pbuf, true);
		return -EIOCBQUEUED;
	}
	/*
	 * The commit's address holds this commit's data and is the buffer
	 * for the next request (upstream's rule): move first, then copy.
	 * Only this task uses io->addr and io->pbuf while the request is
	 * claimed; the next delivery is task work in this same task.
	 */
	io->addr = addr;
	if (pbuf)
		swap(pbuf, io->pbuf);
	io->res = zublk_commit_read(q, io, rq, result, addr);
	/* the old buffer, after the copy went through the new one */
	if (pbuf)
		zublk_drop_buf(q, pbuf, true);
	zublk_put_req(q, io, rq);
	return -EIOCBQUEUED;
}

static int zublk_need_get_data(struct zublk_queue *q, struct zublk_io *io,
			       u16 tag, u64 addr)
{
	struct request *rq;
	int ret = -EINVAL;

	/* the reference keeps an abort from ending the request under us */
	if (!addr || !refcount_inc_not_zero(&io->ref))
		return -EINVAL;
	rq = blk_mq_tag_to_rq(q->dev->set.tags[q->q_id], tag);
	if (test_and_clear_bit(ZIO_NEED_GET_DATA, &io->flags)) {
		io->addr = addr;
		ret = zublk_copy_to_server(q, io, rq, addr) ? -EFAULT :
			UBLK_IO_RES_OK;
	}
	zublk_put_req(q, io, rq);
	return ret;
}

static int zublk_ch_cmd(struct io_uring_cmd *cmd, unsigned int issue_flags)
{
	struct zublk_dev *dev = cmd->file->private_data;
	const struct ublksrv_io_cmd *src = zublk_sqe_cmd(cmd->sqe,
							   struct ublksrv_io_cmd);
	struct zublk_queue *q;
	struct zublk_io *io;
	u16 q_id, tag;
	s32 result;
	u64 addr;
	int nr;

	/* The SQE is shared with userspace: read each field once. */
	q_id = READ_ONCE(src->q_id);
	tag = READ_ONCE(src->tag);
	result = READ_ONCE(src->result);
	addr = READ_ONCE(src->addr);

	if (unlikely(cmd->cmd_op == ZUBLK_U_IO_REGISTER_STORE))
		return zublk_register_store(dev, cmd);
	if (unlikely(q_id >= dev->info.nr_hw_queues))
		return -EINVAL;
	q = dev->queues[q_id];
	/*
	 * One task and one ring per queue: task work completes many of the
	 * queue's commands under one ring's lock.  q->task and q->ring are
	 * written once, before the first command is parked.
	 */
	if (unlikely(READ_ONCE(q->task) &&
		     (q->task != current ||
		      READ_ONCE(q->ring) != cmd_to_io_kiocb(cmd)->ctx)))
		return -EINVAL;
	if (unlikely(tag >= q->depth))
		return -EINVAL;
	io = &q->ios[tag];
	/* a command is parked on this tag already */
	if (unlikely(READ_ONCE(io->flags) & ZIO_F_ARMED))
		return -EBUSY;
	nr = zublk_io_nr(cmd->cmd_op);
	/* NEED_GET_DATA is sent iff the driver asked for it */
	if (unlikely(!!(READ_ONCE(io->flags) & ZIO_F_NEED_GET_DATA) !=
		     (nr == UBLK_IO_NEED_GET_DATA)))
		return -EINVAL;

	switch (nr) {
	case UBLK_IO_COMMIT_AND_FETCH_REQ:
		return zublk_commit(q, io, cmd, tag, result, addr, issue_flags);
	case UBLK_IO_FETCH_REQ:
		return zublk_fetch(q, io, cmd, tag, addr, issue_flags);
	case UBLK_IO_NEED_GET_DATA:
		return zublk_need_get_data(q, io, tag, addr);
	default:
		return -EINVAL;
	}
}

/*
 * An io command punted to io-wq, back in task work.  It runs only in the
 * task that submitted it and only while that task lives: task work run by
 * io_uring's fallback kworker (no mm, another task) must not pin memory or
 * bind a queue to the kworker.
 */
static void zublk_ch_cmd_tw(struct io_uring_cmd *cmd, unsigned int issue_flags,
			    bool cancel)
{
	int ret = -ECANCELED;

	if (likely(!zublk_tw_dead(cmd, cancel)))
		ret = zublk_ch_cmd(cmd, issue_flags);

	if (ret != -EIOCBQUEUED)
		zublk_cmd_done(cmd, ret, issue_flags);
}

/* The task-work callback io_uring calls for zublk_ch_cmd_tw(). */
ZUBLK_TW_CB(zublk_ch_cmd_cb, zublk_ch_cmd_tw)

static int zublk_ch_uring_cmd(struct io_uring_cmd *cmd, unsigned int issue_flags)
{
	if (unlikely(issue_flags & IO_URING_F_CANCEL)) {
		zublk_cmd_cancel(cmd, issue_flags);
		return 0;
	}
	/* issued from io-wq: run it in the submitting task instead */
	if (unlikely(issue_flags & IO_URING_F_UNLOCKED)) {
		io_uring_cmd_complete_in_task(cmd, zublk_ch_cmd_cb);
		return -EIOCBQUEUED;
	}
	return zublk_ch_cmd(cmd, issue_flags);
}

/* ---- user copy (UBLK_F_USER_COPY) ---------------------------------------- */

/*
 * Find the request a user-copy offset names and take a reference on it.
 * The offset encodes queue, tag and byte offset as upstream defines.
 */
static struct request *zublk_uc_get(struct zublk_dev *dev, loff_t pos,
				    struct iov_iter *iter, int dir,
				    struct zublk_io **iop, size_t *offp)
{
	struct zublk_queue *q;
	struct zublk_io *io;
	struct request *rq;
	u64 off;
	u16 q_id, tag;
	int ret = -EINVAL;

	if (!(dev->info.flags & UBLK_F_USER_COPY) || !user_backed_iter(iter))
		return ERR_PTR(-EACCES);
	if (pos < UBLKSRV_IO_BUF_OFFSET)
		return ERR_PTR(-EINVAL);
	off = pos - UBLKSRV_IO_BUF_OFFSET;
	q_id = (off >> UBLK_QID_OFF) & UBLK_QID_BITS_MASK;
	tag = (off >> UBLK_TAG_OFF) & UBLK_TAG_BITS_MASK;
	off &= UBLK_IO_BUF_BITS_MASK;
	if (q_id >= dev->info.nr_hw_queues)
		return ERR_PTR(-EINVAL);
	q = dev->queues[q_id];
	if (tag >= q->depth)
		return ERR_PTR(-EINVAL);
	io = &q->ios[tag];
	if (!q->need_ref || !refcount_inc_not_zero(&io->ref))
		return ERR_PTR(-EINVAL);
	rq = blk_mq_tag_to_rq(dev->set.tags[q_id], tag);
	if (unlikely(!rq)) {
		refcount_dec(&io->ref);
		return ERR_PTR(-EINVAL);
	}
	if (!blk_mq_request_started(rq) || rq->tag != tag ||
	    !test_bit(ZIO_OWNED, &io->flags) || off > blk_rq_bytes(rq))
		goto out_put;
	ret = -EACCES;
	/* pwrite fills a read; pread fetches a write's data */
	if (!((req_op(rq) == REQ_OP_READ && dir == ITER_SOURCE) ||
	      (req_op(rq) == REQ_OP_WRITE && dir == ITER_DEST)))
		goto out_put;
	*iop = io;
	*offp = off;
	return rq;
out_put:
	zublk_put_req(q, io, rq);
	return ERR_PTR(ret);
}

static ssize_t zublk_uc(struct kiocb *iocb, struct iov_iter *iter, int dir)
{
	struct zublk_dev *dev = iocb->ki_filp->private_data;
	struct zublk_queue *q;
	struct zublk_io *io;
	struct request *rq;
	size_t off;
	ssize_t ret;
	u64 t0;

	rq = zublk_uc_get(dev, iocb->ki_pos, iter, dir, &io, &off);
	if (IS_ERR(rq))
		return PTR_ERR(rq);
	q = rq->mq_hctx->driver_data;
	t0 = ktime_get_ns();
	ret = zublk_copy_user(rq, off, iter, dir);
	/* any task of the server may pread/pwrite: atomic counters */
	zublk_stat_any(q, ZST_COPIES, 1);
	zublk_stat_any(q, ZST_COPY_BYTES, ret > 0 ? ret : 0);
	zublk_stat_any(q, ZST_COPY_NS, ktime_get_ns() - t0);
	zublk_put_req(q, io, rq);
	return ret;
}

static ssize_t zublk_ch_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	return zublk_uc(iocb, to, ITER_DEST);
}

static ssize_t zublk_ch_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	return zublk_uc(iocb, from, ITER_SOURCE);
}

/* ---- open / release / mmap ----------------------------------------------- */

static int zublk_ch_open(struct inode *inode, struct file *file)
{
	struct zublk_dev *dev = container_of(inode->i_cdev, struct zublk_dev,
					     cdev);

	if (test_and_set_bit(ZDEV_OPEN, &dev->state))
		return -EBUSY;
	if (test_bit(ZDEV_NO_ARM, &dev->state)) {
		/* stopped, or its server already went away: not reusable */
		clear_bit(ZDEV_OPEN, &dev->state);
		return -ENODEV;
	}
	file->private_data = dev;
	return 0;
}

static int zublk_ch_release(struct inode *inode, struct file *file)
{
	struct zublk_dev *dev = file->private_data;

	/* every command held a file reference: none is parked any more */
	zublk_abort_dev(dev);
	/* ... and none copies through the long-term pins */
	zublk_unpin_all(dev);
	clear_bit(ZDEV_OPEN, &dev->state);
	return 0;
}

static int zublk_ch_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct zublk_dev *dev = file->private_data;
	unsigned long size = vma->vm_end - vma->vm_start;
	unsigned long off = vma->vm_pgoff << PAGE_SHIFT;
	struct zublk_queue *q;
	unsigned long q_id;

	/* the descriptors are the driver's: read-only, now and later */
	if (vma->vm_flags & VM_WRITE)
		return -EPERM;
	if (off % zublk_descs_stride())
		return -EINVAL;
	q_id = off / zublk_descs_stride();
	if (q_id >= dev->info.nr_hw_queues)
		return -EINVAL;
	q = dev->queues[q_id];
	if (size != zublk_descs_size(q->depth))
		return -EINVAL;
	vm_flags_mod(vma, VM_DONTEXPAND | VM_DONTDUMP, VM_MAYWRITE);
	return remap_pfn_range(vma, vma->vm_start,
			       virt_to_phys(q->descs) >> PAGE_SHIFT, size,
			       vma->vm_page_prot);
}

static const struct file_operations zublk_ch_fops = {
	.owner		= THIS_MODULE,
	.open		= zublk_ch_open,
	.release	= zublk_ch_release,
	.mmap		= zublk_ch_mmap,
	.uring_cmd	= zublk_ch_uring_cmd,
	.read_iter	= zublk_ch_read_iter,
	.write_iter	= zublk_ch_write_iter,
	.llseek		= noop_llseek,
};

int zublk_add_chdev(struct zublk_dev *dev)
{
	struct device *d = &dev->cdev_dev;
	int ret;

	d->parent = zublk.ctrl.this_device;
	d->devt = MKDEV(MAJOR(zublk.chr_devt), dev->id);
	d->class = zublk_get_class();
	ret = dev_set_name(d, "%s%d", zublk.cname, dev->id);
	if (ret)
		return ret;
	cdev_init(&dev->cdev, &zublk_ch_fops);
	dev->cdev.owner = THIS_MODULE;
	return cdev_device_add(&dev->cdev, d);
}
