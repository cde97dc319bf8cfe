// SPDX-License-Identifier: GPL-2.0
/*
 * What happens when the server fails: user recovery (UBLK_F_USER_RECOVERY,
 * _REISSUE, _FAIL_IO; START/END_USER_RECOVERY) and the IO timeout.
 *
 * Device states (DEAD, LIVE, QUIESCED, FAIL_IO), which function moves
 * which ZDEV_* bit under which lock, and the lock order: drv/zublk.h.
 *
 * Recovery: once the old server's char node is released,
 * START_USER_RECOVERY forgets its tasks and tags so a new process can open
 * the char node, mmap and FETCH every tag; END_USER_RECOVERY waits for the
 * fetches, then unquiesces (or stops failing IO): LIVE again.  STOP_DEV in
 * QUIESCED/FAIL_IO makes the device DEAD, failing what waited.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/blkdev.h>
#include <linux/sched/task.h>
#include <linux/sched/signal.h>

#include "zublk.h"

static unsigned int io_timeout;
module_param(io_timeout, uint, 0644);
MODULE_PARM_DESC(io_timeout,
	"Seconds an IO may stay with the server before the device is aborted (its IO fails, state DEAD); read at START_DEV; 0 waits forever unless queue/io_timeout is written (default: 0)");

/* ADD_DEV: upstream accepts none, RECOVERY, RECOVERY|REISSUE, RECOVERY|FAIL_IO. */
int zublk_check_recovery_flags(u64 flags)
{
	switch (flags & ZUBLK_F_RECOVERY) {
	case 0:
	case UBLK_F_USER_RECOVERY:
	case UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_REISSUE:
	case UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_FAIL_IO:
		return 0;
	default:
		pr_warn_ratelimited("ADD_DEV: bad recovery flags %#llx\n",
				    flags & ZUBLK_F_RECOVERY);
		return -EINVAL;
	}
}

/*
 * The server of @dev is gone: keep the device for a new server if it asked
 * for recovery and is started and not stopping.  False: the caller makes
 * it DEAD.  abort_mutex held.
 */
static bool zublk_nosrv_begin(struct zublk_dev *dev)
{
	bool fail_io = dev->info.flags & UBLK_F_USER_RECOVERY_FAIL_IO;

	lockdep_assert_held(&dev->abort_mutex);
	if (!(dev->info.flags & UBLK_F_USER_RECOVERY) ||
	    !test_bit(ZDEV_USED, &dev->state) ||
	    test_bit(ZDEV_STOPPED, &dev->state))
		return false;

	/* after the quiesce no ->queue_rq runs until END (or FAIL_IO's unquiesce) */
	blk_mq_quiesce_tagset(&dev->set);
	set_bit(ZDEV_NO_ARM, &dev->state);
	if (fail_io)
		set_bit(ZDEV_FAIL_IO, &dev->state);
	set_bit(ZDEV_NOSRV, &dev->state);
	if (fail_io)
		blk_mq_unquiesce_tagset(&dev->set);
	pr_info("dev %d: server gone; IO %s until recovery\n", dev->id,
		fail_io ? "fails" : "waits");
	return true;
}

/*
 * How to end a request of @dev the server will never answer: with EIO, or
 * requeued for the next server (ZUBLK_RES_REQUEUE).  @owned: the server
 * had it (as opposed to: still queued for delivery).
 */
int zublk_nosrv_res(const struct zublk_dev *dev, bool owned)
{
	unsigned long st = READ_ONCE(dev->state);

	if (!(st & BIT(ZDEV_NOSRV)) || (st & BIT(ZDEV_DEAD)))
		return -EIO;
	if (owned)
		return (dev->info.flags & UBLK_F_USER_RECOVERY_REISSUE) ?
			ZUBLK_RES_REQUEUE : -EIO;
	return (st & BIT(ZDEV_FAIL_IO)) ? -EIO : ZUBLK_RES_REQUEUE;
}

/*
 * STOP_DEV: no recovery from here on.  A device waiting for a server becomes
 * DEAD and what waited fails, so del_gendisk() can drain.  dev->mutex held.
 */
void zublk_recovery_stop(struct zublk_dev *dev)
{
	lockdep_assert_held(&dev->mutex);
	mutex_lock(&dev->abort_mutex);
	set_bit(ZDEV_STOPPED, &dev->state);
	if (test_bit(ZDEV_NOSRV, &dev->state)) {
		/* DEAD before the tag set runs again: ->queue_rq fails all */
		set_bit(ZDEV_DEAD, &dev->state);
		clear_bit(ZDEV_RECOVERING, &dev->state);
		clear_bit(ZDEV_NOSRV, &dev->state);
		if (!test_and_clear_bit(ZDEV_FAIL_IO, &dev->state))
			blk_mq_unquiesce_tagset(&dev->set);
		if (dev->disk)
			blk_mq_kick_requeue_list(dev->disk->queue);
		/* an END_USER_RECOVERY waiting for fetches gives up */
		complete_all(&dev->ready);
	}
	mutex_unlock(&dev->abort_mutex);
}

/*
 * Forget the old server's task, ring, commands and fetches.  abort_mutex
 * and fetch_mutex held.
 */
static void zublk_reset_queue(struct zublk_queue *q)
{
	unsigned int t;

	lockdep_assert_held(&q->dev->abort_mutex);
	lockdep_assert_held(&q->dev->fetch_mutex);
	if (q->task)
		put_task_struct(q->task);
	q->task = NULL;
	q->ring = NULL;
	q->nr_fetched = 0;
	/* the new server's first cancel aborts again */
	WRITE_ONCE(q->aborted, false);
	for (t = 0; t < q->depth; t++) {
		q->ios[t].fetched = false;
		q->ios[t].addr = 0;
		/* the old server's commands are freed: nobody may use them */
		WRITE_ONCE(q->ios[t].cmd, NULL);
	}
}

/* True when no tag of @dev has a command, request or copy in progress. */
static bool zublk_ios_idle(struct zublk_dev *dev)
{
	unsigned int i, t;

	for (i = 0; i < dev->info.nr_hw_queues; i++) {
		struct zublk_queue *q = dev->queues[i];

		if (!llist_empty(&q->pending))
			return false;
		for (t = 0; t < q->depth; t++)
			if (READ_ONCE(q->ios[t].flags))
				return false;
	}
	return true;
}

int zublk_ctrl_start_recovery(struct zublk_dev *dev)
{
	unsigned int i;
	int ret = -EBUSY;

	if (!(dev->info.flags & UBLK_F_USER_RECOVERY))
		return -EINVAL;
	mutex_lock(&dev->mutex);
	mutex_lock(&dev->abort_mutex);
	/* only without a server, and once its char node is released */
	if (!test_bit(ZDEV_NOSRV, &dev->state) || test_bit(ZDEV_OPEN, &dev->state))
		goto out_unlock;
	/* every command held the char node: none can be left */
	if (WARN_ON_ONCE(!zublk_ios_idle(dev)))
		goto out_unlock;

	mutex_lock(&dev->fetch_mutex);
	for (i = 0; i < dev->info.nr_hw_queues; i++)
		zublk_reset_queue(dev->queues[i]);
	dev->nr_queues_ready = 0;
	reinit_completion(&dev->ready);
	set_bit(ZDEV_RECOVERING, &dev->state);
	/* last: from here a new server may open the char node and FETCH */
	clear_bit(ZDEV_NO_ARM, &dev->state);
	mutex_unlock(&dev->fetch_mutex);
	pr_info("dev %d: recovery started\n", dev->id);
	ret = 0;
out_unlock:
	mutex_unlock(&dev->abort_mutex);
	mutex_unlock(&dev->mutex);
	return ret;
}

int zublk_ctrl_end_recovery(struct zublk_dev *dev,
			    const struct ublksrv_ctrl_cmd *h)
{
	int pid = (int)h->data[0];
	int ret;

	if (!(dev->info.flags & UBLK_F_USER_RECOVERY) || pid <= 0)
		return -EINVAL;
	if (!test_bit(ZDEV_RECOVERING, &dev->state))
		return -EBUSY;
	/* the new server fetches every tag (or goes away, or STOP_DEV) */
	if (zublk_wait_done(&dev->ready))
		return -EINTR;

	mutex_lock(&dev->mutex);
	mutex_lock(&dev->abort_mutex);
	if (!test_bit(ZDEV_RECOVERING, &dev->state)) {
		ret = -EBUSY;		/* stopped meanwhile */
		goto out_unlock;
	}
	if (test_bit(ZDEV_NO_ARM, &dev->state) ||
	    READ_ONCE(dev->nr_queues_ready) != dev->info.nr_hw_queues) {
		ret = -ENODEV;		/* the new server went away too */
		goto out_unlock;
	}
	dev->info.ublksrv_pid = pid;
	dev->info.state = UBLK_S_DEV_LIVE;
	clear_bit(ZDEV_RECOVERING, &dev->state);
	clear_bit(ZDEV_NOSRV, &dev->state);
	/* every tag is armed: ->queue_rq may deliver from here on */
	if (!test_and_clear_bit(ZDEV_FAIL_IO, &dev->state))
		blk_mq_unquiesce_tagset(&dev->set);
	blk_mq_kick_requeue_list(dev->disk->queue);
	pr_info("dev %d: recovered, server pid %d\n", dev->id, pid);
	ret = 0;
out_unlock:
	mutex_unlock(&dev->abort_mutex);
	mutex_unlock(&dev->mutex);
	return ret;
}

/* GET_DEV_INFO .state.  dev->mutex held. */
u16 zublk_dev_state(const struct zublk_dev *dev)
{
	unsigned long st = READ_ONCE(dev->state);

	lockdep_assert_held(&dev->mutex);
	if (st & BIT(ZDEV_DEAD))
		return UBLK_S_DEV_DEAD;
	if (st & BIT(ZDEV_NOSRV))
		return (st & BIT(ZDEV_FAIL_IO)) ? UBLK_S_DEV_FAIL_IO :
			UBLK_S_DEV_QUIESCED;
	return dev->info.state;
}

/* ---- server loss --------------------------------------------------------- */

/*
 * End the request the server owns on @tag, if any: with EIO, or requeued
 * for the next server (recovery with REISSUE).
 */
static void zublk_abort_io(struct zublk_queue *q, unsigned int tag)
{
	struct zublk_io *io = &q->ios[tag];
	struct request *rq;

	if (!test_and_clear_bit(ZIO_OWNED, &io->flags))
		return;
	clear_bit(ZIO_NEED_GET_DATA, &io->flags);
	rq = blk_mq_tag_to_rq(q->dev->set.tags[q->q_id], tag);
	io->res = zublk_nosrv_res(q->dev, true);
	zublk_put_req(q, io, rq);
}

/*
 * Settle the fate of @dev when its server is gone (or its ring is), or is
 * declared hung (@final): a recovery device that is started keeps its disk
 * and waits for a new server (zublk_nosrv_begin()); otherwise new IO fails
 * with EIO at once from now on (DEAD).  Idempotent.  abort_mutex held.
 */
static void zublk_abort_state(struct zublk_dev *dev, bool final)
{
	lockdep_assert_held(&dev->abort_mutex);
	if (test_bit(ZDEV_NOSRV, &dev->state) && !final) {
		/* waiting for a new server, and it went away too */
		set_bit(ZDEV_NO_ARM, &dev->state);
		/* an END_USER_RECOVERY waiting for fetches gives up */
		complete_all(&dev->ready);
	} else if (!test_bit(ZDEV_DEAD, &dev->state) &&
		   (final || !zublk_nosrv_begin(dev))) {
		/*
		 * After the quiesce no ->queue_rq is running or will see !DEAD.
		 * The tag set's queues do not change meanwhile: START_DEV adds
		 * the disk's queue under abort_mutex (zublk_start_disk()).
		 */
		blk_mq_quiesce_tagset(&dev->set);
		set_bit(ZDEV_NO_ARM, &dev->state);
		set_bit(ZDEV_DEAD, &dev->state);
		clear_bit(ZDEV_RECOVERING, &dev->state);
		/* a recovery device in QUIESCED: DEAD now, what waited fails */
		if (test_and_clear_bit(ZDEV_NOSRV, &dev->state) &&
		    !test_and_clear_bit(ZDEV_FAIL_IO, &dev->state))
			blk_mq_unquiesce_tagset(&dev->set);
		blk_mq_unquiesce_tagset(&dev->set);
		/* a START_DEV waiting for fetches must not wait forever */
		complete_all(&dev->ready);
	}
}

/* End every request the server holds on @q.  abort_mutex held. */
static void zublk_abort_queue(struct zublk_queue *q)
{
	unsigned int t;

	lockdep_assert_held(&q->dev->abort_mutex);
	for (t = 0; t < q->depth; t++)
		zublk_abort_io(q, t);
}

/*
 * Abort @dev (zublk_abort_state()) and end the requests its server holds:
 * on @only, or on every queue when @only is NULL.  With @only, only the
 * first call per queue does anything (q->aborted): io_uring cancels each
 * parked command on its own, and one scan of the queue per server loss is
 * enough, as the char node release scans every queue once more after the
 * last command is gone.  The full scan runs on every call because task
 * work may hand out queued requests after the first one.  Not inlined, so
 * tests count the aborts (ftrace).
 */
static noinline void __zublk_abort_dev(struct zublk_dev *dev, bool final,
				       struct zublk_queue *only)
{
	unsigned int i;

	mutex_lock(&dev->abort_mutex);
	if (only) {
		if (!only->aborted) {
			WRITE_ONCE(only->aborted, true);
			zublk_abort_state(dev, final);
			zublk_abort_queue(only);
		}
	} else {
		zublk_abort_state(dev, final);
		for (i = 0; i < dev->info.nr_hw_queues; i++) {
			zublk_abort_queue(dev->queues[i]);
			/* thousands of tags per queue: let others run */
			cond_resched();
		}
	}
	mutex_unlock(&dev->abort_mutex);
}

/* The char node is released: its server is gone. */
void zublk_abort_dev(struct zublk_dev *dev)
{
	__zublk_abort_dev(dev, false, NULL);
}

/*
 * io_uring cancels a parked command of @q: its ring or its task is going
 * away.  The first cancel per queue aborts.
 */
void zublk_abort_cancel(struct zublk_queue *q)
{
	/* a hint; __zublk_abort_dev() decides under abort_mutex */
	if (!READ_ONCE(q->aborted))
		__zublk_abort_dev(q->dev, false, q);
}

/*
 * The server is taken as hung (an IO timed out): DEAD for good, held
 * requests fail, so do the requests queued for it and not yet delivered
 * (their task work may never run: the server is stopped or does not enter
 * its ring), and parked commands complete with UBLK_IO_RES_ABORT so the
 * server learns it.  Not under dev->mutex: a STOP_DEV may be waiting for
 * the very IO that timed out.
 */
static void zublk_kill_dev(struct zublk_dev *dev)
{
	unsigned int i;

	__zublk_abort_dev(dev, true, NULL);
	/* DEAD was set with the tag set quiesced: q->pending is final now */
	for (i = 0; i < dev->info.nr_hw_queues; i++)
		zublk_fail_pending(dev->queues[i]);
	/* after the QUEUED bits are cleared: their commands complete here */
	zublk_cancel_cmds(dev);
}

/* ---- a server dying during STOP ------------------------------------------- */

/*
 * Is a task that serves @dev exiting (killed, or exiting by itself)?  Its
 * exit may be waiting for its own io-wq, where its STOP_DEV runs.
 */
static bool zublk_server_exiting(struct zublk_dev *dev)
{
	bool exiting = false;
	unsigned int i;

	/* q->task is stable under fetch_mutex (recovery resets it) */
	mutex_lock(&dev->fetch_mutex);
	for (i = 0; i < dev->info.nr_hw_queues && !exiting; i++) {
		struct task_struct *t = dev->queues[i]->task;

		exiting = t && zublk_task_exiting(t);
	}
	mutex_unlock(&dev->fetch_mutex);
	return exiting;
}

#define ZUBLK_STOP_WATCH_MS	100	/* how often a STOP checks the server */

/*
 * STOP_DEV (and DEL_DEV) wait in del_gendisk() for the IO the server holds.
 * A server that sent STOP_DEV itself (through its io-wq, where control
 * commands run) and is then killed never answers it and never cancels its
 * commands either: its exit waits for its io-wq before it closes its
 * rings.  So while STOP waits, this checks every ZUBLK_STOP_WATCH_MS
 * whether the server is exiting and then kills the device (DEAD, its IO
 * fails), which lets the wait end.  Not under dev->mutex (STOP holds it).
 */
void zublk_stop_watch_work(struct work_struct *work)
{
	struct zublk_dev *dev = container_of(to_delayed_work(work),
					     struct zublk_dev, stop_watch);

	if (zublk_server_exiting(dev)) {
		pr_info("dev %d: server exiting during STOP_DEV; failing its IO\n",
			dev->id);
		zublk_kill_dev(dev);
		return;
	}
	schedule_delayed_work(&dev->stop_watch,
			      msecs_to_jiffies(ZUBLK_STOP_WATCH_MS));
}

/* Around STOP's wait for the disk to drain.  dev->mutex held. */
void zublk_stop_watch_start(struct zublk_dev *dev)
{
	lockdep_assert_held(&dev->mutex);
	schedule_delayed_work(&dev->stop_watch, 0);
}

void zublk_stop_watch_end(struct zublk_dev *dev)
{
	lockdep_assert_held(&dev->mutex);
	cancel_delayed_work_sync(&dev->stop_watch);
}

/* ---- IO timeout ------------------------------------------------------------ */

/*
 * START_DEV, before add_disk(): the module parameter, if set, becomes the
 * disk's queue/io_timeout.  dev->mutex held.
 */
void zublk_apply_timeout(struct zublk_dev *dev, struct gendisk *disk)
{
	unsigned int secs = min(READ_ONCE(io_timeout), UINT_MAX / HZ);

	lockdep_assert_held(&dev->mutex);
	dev->timeout_set = secs != 0;
	if (secs)
		blk_queue_rq_timeout(disk->queue, secs * HZ);
	dev->start_timeout = disk->queue->rq_timeout;
}

/*
 * blk-mq found @rq outstanding longer than queue/io_timeout.  Without a
 * timeout set (io_timeout=0 and queue/io_timeout unchanged since START_DEV)
 * the server decides how long IO takes: wait on.  Otherwise the server is
 * taken as hung: the device is aborted for good (DEAD), which fails every
 * request it holds (this one included) and completes its parked commands
 * with UBLK_IO_RES_ABORT.
 */
enum blk_eh_timer_return zublk_timeout(struct request *rq)
{
	struct zublk_queue *q = rq->mq_hctx->driver_data;
	struct zublk_dev *dev = q->dev;

	if (!dev->timeout_set && rq->q->rq_timeout == dev->start_timeout)
		return BLK_EH_RESET_TIMER;
	pr_warn_ratelimited("dev %d: queue %u tag %d: IO timed out after %u ms, aborting the device\n",
			    dev->id, q->q_id, rq->tag,
			    jiffies_to_msecs(rq->q->rq_timeout));
	zublk_kill_dev(dev);
	/* ended by the abort, or by the task work that still holds it */
	return BLK_EH_DONE;
}
