// SPDX-License-Identifier: GPL-2.0
/*
 * Control commands on /dev/zublk-control: io_uring URING_CMD with 128-byte
 * SQEs, both the ioctl-encoded UBLK_U_CMD_* and the legacy opcodes.  The
 * command header is copied out of the (shared) SQE exactly once.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/slab.h>
#include <linux/sched/signal.h>
#include <linux/uaccess.h>
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/namei.h>
#include <linux/cpumask.h>
#include <linux/topology.h>

#include "zublk.h"

static unsigned int max_devs = 64;
module_param(max_devs, uint, 0644);
MODULE_PARM_DESC(max_devs,
	"Devices that may exist at once; ADD_DEV beyond fails with -EACCES, like ublk_drv's ublks_max (default: 64)");

/* Leading part of struct zublk_params that says how much follows. */
struct zublk_params_header {
	__u32 len;
	__u32 types;
};

/*
 * The ABI zublk speaks, in bytes, whatever <linux/ublk_cmd.h> the
 * module is built against: its struct ublk_params grows with each kernel
 * (7.3's is 152 bytes, with the integrity type), and the driver never uses
 * it.  The structs below keep their size on every supported kernel; a
 * tree that changed one fails here instead of changing the ABI.
 */
static_assert(sizeof(struct zublk_params) == 136);
static_assert(offsetof(struct zublk_params, basic) == 8);
static_assert(offsetof(struct zublk_params, discard) == 40);
static_assert(offsetof(struct zublk_params, devt) == 60);
static_assert(offsetof(struct zublk_params, zoned) == 76);
static_assert(offsetof(struct zublk_params, dma) == 108);
static_assert(offsetof(struct zublk_params, seg) == 120);
static_assert(sizeof(struct ublksrv_ctrl_cmd) == 32);
static_assert(sizeof(struct ublksrv_ctrl_dev_info) == 64);
static_assert(sizeof(struct ublksrv_io_cmd) == 16);
static_assert(sizeof(struct ublksrv_io_desc) == 24);
static_assert(sizeof(struct zublk_store_reg) == 16);

/* Upstream 6.16 commands zublk does not implement: -EOPNOTSUPP. */
#define ZUBLK_U_CMD_UPDATE_SIZE	_IOWR('u', 0x15, struct ublksrv_ctrl_cmd)
#define ZUBLK_U_CMD_QUIESCE_DEV	_IOWR('u', 0x16, struct ublksrv_ctrl_cmd)
#define ZUBLK_CMD_NOTSUPP	0x100	/* zublk_ctrl_nr(): known, refused */
#define ZUBLK_CMD_EXT_FEATURES	0x101	/* zublk_ctrl_nr(): GET_EXT_FEATURES */

/*
 * Map a command opcode to its legacy number, or -1.  Accepted: the legacy
 * number itself and the exact ioctl encoding upstream defines.
 */
static int zublk_ctrl_nr(u32 op)
{
	switch (op) {
	case UBLK_CMD_GET_QUEUE_AFFINITY:
	case UBLK_U_CMD_GET_QUEUE_AFFINITY:
		return UBLK_CMD_GET_QUEUE_AFFINITY;
	case UBLK_CMD_GET_DEV_INFO:
	case UBLK_U_CMD_GET_DEV_INFO:
		return UBLK_CMD_GET_DEV_INFO;
	case UBLK_CMD_ADD_DEV:
	case UBLK_U_CMD_ADD_DEV:
		return UBLK_CMD_ADD_DEV;
	case UBLK_CMD_DEL_DEV:
	case UBLK_U_CMD_DEL_DEV:
		return UBLK_CMD_DEL_DEV;
	case UBLK_CMD_START_DEV:
	case UBLK_U_CMD_START_DEV:
		return UBLK_CMD_START_DEV;
	case UBLK_CMD_STOP_DEV:
	case UBLK_U_CMD_STOP_DEV:
		return UBLK_CMD_STOP_DEV;
	case UBLK_CMD_SET_PARAMS:
	case UBLK_U_CMD_SET_PARAMS:
		return UBLK_CMD_SET_PARAMS;
	case UBLK_CMD_GET_PARAMS:
	case UBLK_U_CMD_GET_PARAMS:
		return UBLK_CMD_GET_PARAMS;
	case UBLK_CMD_GET_DEV_INFO2:
	case UBLK_U_CMD_GET_DEV_INFO2:
		return UBLK_CMD_GET_DEV_INFO2;
	case UBLK_U_CMD_GET_FEATURES:
		return _IOC_NR(UBLK_U_CMD_GET_FEATURES);
	case UBLK_U_CMD_DEL_DEV_ASYNC:
		return _IOC_NR(UBLK_U_CMD_DEL_DEV_ASYNC);
	case UBLK_CMD_START_USER_RECOVERY:
	case UBLK_U_CMD_START_USER_RECOVERY:
		return UBLK_CMD_START_USER_RECOVERY;
	case UBLK_CMD_END_USER_RECOVERY:
	case UBLK_U_CMD_END_USER_RECOVERY:
		return UBLK_CMD_END_USER_RECOVERY;
	case ZUBLK_U_CMD_GET_EXT_FEATURES:
		return ZUBLK_CMD_EXT_FEATURES;
	case ZUBLK_U_CMD_UPDATE_SIZE:
	case ZUBLK_U_CMD_QUIESCE_DEV:
		return ZUBLK_CMD_NOTSUPP;
	default:
		return -1;
	}
}

/* ---- waits of control commands ------------------------------------------- */

#define ZUBLK_WAIT_SLICE	(HZ / 10)	/* how often a wait checks for exit */


/* Wait for @done; -EINTR on a signal or when the caller's process exits. */
int zublk_wait_done(struct completion *done)
{
	long ret;

	for (;;) {
		ret = wait_for_completion_interruptible_timeout(done, ZUBLK_WAIT_SLICE);
		if (ret > 0)
			return 0;
		if (ret < 0 || zublk_task_exiting(current))
			return -EINTR;
	}
}

/* ---- device table ---------------------------------------------------- */

static struct zublk_dev *zublk_lookup(u32 id)
{
	struct zublk_dev *dev;

	if (id >= ZUBLK_MAX_DEVS)
		return NULL;
	spin_lock(&zublk.idr_lock);
	dev = idr_find(&zublk.idr, id);
	/* a device whose last reference is going away is already gone */
	if (dev && !kobject_get_unless_zero(&dev->cdev_dev.kobj))
		dev = NULL;
	spin_unlock(&zublk.idr_lock);
	return dev;
}

static bool zublk_id_released(int id, struct zublk_dev *dev)
{
	bool gone;

	spin_lock(&zublk.idr_lock);
	gone = idr_find(&zublk.idr, id) != dev;
	spin_unlock(&zublk.idr_lock);
	return gone;
}

static void zublk_free_queues(struct zublk_dev *dev)
{
	unsigned int i;

	if (!dev->queues)
		return;
	/* normally gone at char node release already */
	zublk_unpin_all(dev);
	for (i = 0; i < dev->info.nr_hw_queues; i++) {
		struct zublk_queue *q = dev->queues[i];

		if (!q)
			continue;
		if (q->task)
			put_task_struct(q->task);
		if (q->descs)
			free_pages((unsigned long)q->descs, q->descs_order);
		kfree(q);
	}
	kfree(dev->queues);
	dev->queues = NULL;
}

/* Release of the last reference (struct device release callback). */
static void zublk_dev_release(struct device *d)
{
	struct zublk_dev *dev = container_of(d, struct zublk_dev, cdev_dev);

	/* first: readers of the counters must be gone before the queues */
	zublk_stats_del_dev(dev);
	if (dev->set.tags)
		blk_mq_free_tag_set(&dev->set);
	zublk_free_queues(dev);
	if (dev->id >= 0) {
		spin_lock(&zublk.idr_lock);
		idr_remove(&zublk.idr, dev->id);
		spin_unlock(&zublk.idr_lock);
		wake_up_all(&zublk.idr_wq);
	}
	mutex_destroy(&dev->fetch_mutex);
	mutex_destroy(&dev->abort_mutex);
	mutex_destroy(&dev->mutex);
	kfree(dev);
}

/* NUMA node of the CPUs blk-mq maps to hardware queue @q_id. */
static int zublk_queue_node(struct zublk_dev *dev, unsigned int q_id)
{
	const struct blk_mq_queue_map *map = &dev->set.map[HCTX_TYPE_DEFAULT];
	unsigned int cpu;

	for_each_possible_cpu(cpu)
		if (map->mq_map[cpu] == q_id)
			return cpu_to_node(cpu);
	return NUMA_NO_NODE;
}

static int zublk_alloc_queues(struct zublk_dev *dev)
{
	unsigned int nr = dev->info.nr_hw_queues;
	unsigned int depth = dev->info.queue_depth;
	unsigned int i;

	dev->queues = kcalloc(nr, sizeof(*dev->queues), GFP_KERNEL);
	if (!dev->queues)
		return -ENOMEM;

	for (i = 0; i < nr; i++) {
		int node = zublk_queue_node(dev, i);
		struct zublk_queue *q;
		struct page *page;

		q = kzalloc_node(struct_size(q, ios, depth), GFP_KERNEL, node);
		if (!q)
			return -ENOMEM;
		dev->queues[i] = q;
		q->dev = dev;
		q->q_id = i;
		q->depth = depth;
		q->node = node;
		q->user_copy = dev->info.flags & UBLK_F_USER_COPY;
		q->need_get_data = dev->info.flags & UBLK_F_NEED_GET_DATA;
		q->need_ref = q->user_copy || q->need_get_data;
		q->pin_buf = dev->info.flags & ZUBLK_F_PIN_BUF;
		q->store = dev->info.flags & ZUBLK_F_STORE;
		init_llist_head(&q->pending);
		q->descs_order = get_order(zublk_descs_size(depth));
		page = alloc_pages_node(node, GFP_KERNEL | __GFP_ZERO,
					q->descs_order);
		if (!page)
			return -ENOMEM;
		q->descs = page_address(page);
	}
	return 0;
}

/* ---- ADD_DEV ----------------------------------------------------------- */

static int zublk_check_dev_info(const struct ublksrv_ctrl_dev_info *info,
				const struct ublksrv_ctrl_cmd *h)
{
	u64 implicit = UBLK_F_CMD_IOCTL_ENCODE | UBLK_F_URING_CMD_COMP_IN_TASK;

	if (info->flags & ~(ZUBLK_F_ALL | implicit)) {
		pr_warn_ratelimited("ADD_DEV: unsupported flags %#llx\n",
			info->flags & ~(ZUBLK_F_ALL | implicit));
		return -EINVAL;
	}
	if ((info->flags & ZUBLK_F_STORE) &&
	    (info->flags & (UBLK_F_USER_COPY | UBLK_F_NEED_GET_DATA))) {
		pr_warn_ratelimited("ADD_DEV: ZUBLK_F_STORE excludes USER_COPY and NEED_GET_DATA\n");
		return -EINVAL;
	}
	if (zublk_check_recovery_flags(info->flags))
		return -EINVAL;
	if (h->dev_id != info->dev_id) {
		pr_warn_ratelimited("ADD_DEV: dev_id %u in command, %u in info\n",
			h->dev_id, info->dev_id);
		return -EINVAL;
	}
	if (h->dev_id != U32_MAX && h->dev_id >= ZUBLK_MAX_DEVS) {
		pr_warn_ratelimited("ADD_DEV: dev_id %u above %u\n", h->dev_id,
			ZUBLK_MAX_DEVS - 1);
		return -EINVAL;
	}
	if (!info->queue_depth || info->queue_depth > UBLK_MAX_QUEUE_DEPTH) {
		pr_warn_ratelimited("ADD_DEV: queue_depth %u not in 1..%u\n",
			info->queue_depth, UBLK_MAX_QUEUE_DEPTH);
		return -EINVAL;
	}
	if (!info->nr_hw_queues || info->nr_hw_queues > ZUBLK_MAX_QUEUES) {
		pr_warn_ratelimited("ADD_DEV: nr_hw_queues %u not in 1..%u\n",
			info->nr_hw_queues, ZUBLK_MAX_QUEUES);
		return -EINVAL;
	}
	if (info->max_io_buf_bytes > ZUBLK_MAX_IO_BUF_BYTES) {
		pr_warn_ratelimited("ADD_DEV: max_io_buf_bytes %u above %u\n",
			info->max_io_buf_bytes, ZUBLK_MAX_IO_BUF_BYTES);
		return -EINVAL;
	}
	return 0;
}

static int zublk_alloc_id(struct zublk_dev *dev, u32 want)
{
	int ret;

	/*
	 * Reserve the number only (NULL entry): lookups must not find the
	 * device before zublk_publish() says it is complete.
	 */
	idr_preload(GFP_KERNEL);
	spin_lock(&zublk.idr_lock);
	if (want != U32_MAX) {
		ret = idr_alloc(&zublk.idr, NULL, want, want + 1, GFP_NOWAIT);
		if (ret == -ENOSPC)
			ret = -EEXIST;
	} else {
		ret = idr_alloc(&zublk.idr, NULL, 0, ZUBLK_MAX_DEVS, GFP_NOWAIT);
	}
	spin_unlock(&zublk.idr_lock);
	idr_preload_end();
	return ret;
}

/* Make a fully set up device visible to control commands. */
static void zublk_publish(struct zublk_dev *dev)
{
	spin_lock(&zublk.idr_lock);
	idr_replace(&zublk.idr, dev, dev->id);
	spin_unlock(&zublk.idr_lock);
}

/* What ADD_DEV grants of a checked @info, and what it fills in. */
static void zublk_grant_info(struct ublksrv_ctrl_dev_info *info)
{
	info->flags |= UBLK_F_CMD_IOCTL_ENCODE | UBLK_F_URING_CMD_COMP_IN_TASK;
	if (info->flags & UBLK_F_USER_COPY)
		info->flags &= ~UBLK_F_NEED_GET_DATA;
	/* no FETCH buffers to pin: not granted */
	if (info->flags & (UBLK_F_USER_COPY | ZUBLK_F_STORE))
		info->flags &= ~ZUBLK_F_PIN_BUF;
	info->nr_hw_queues = min_t(unsigned int, info->nr_hw_queues, nr_cpu_ids);
	if (!info->max_io_buf_bytes)
		info->max_io_buf_bytes = ZUBLK_DEF_IO_BUF_BYTES;
	info->max_io_buf_bytes = round_down(info->max_io_buf_bytes, PAGE_SIZE);
	if (!info->max_io_buf_bytes)
		info->max_io_buf_bytes = PAGE_SIZE;
	info->state = UBLK_S_DEV_DEAD;
	info->owner_uid = from_kuid(&init_user_ns, current_uid());
	info->owner_gid = from_kgid(&init_user_ns, current_gid());
}

static int zublk_ctrl_add_dev(const struct ublksrv_ctrl_cmd *h)
{
	void __user *argp = u64_to_user_ptr(h->addr);
	struct ublksrv_ctrl_dev_info info;
	struct zublk_dev *dev;
	int ret;

	if (h->len < sizeof(info) || !h->addr)
		return -EINVAL;
	if (h->queue_id != (u16)-1) {
		pr_warn_ratelimited("ADD_DEV: queue_id must be -1, got %u\n", h->queue_id);
		return -EINVAL;
	}
	if (copy_from_user(&info, argp, sizeof(info)))
		return -EFAULT;
	ret = zublk_check_dev_info(&info, h);
	if (ret)
		return ret;

	zublk_grant_info(&info);

	ret = mutex_lock_killable(&zublk.ctl_mutex);
	if (ret)
		return ret;

	ret = -EACCES;
	if (zublk.nr_devs >= READ_ONCE(max_devs)) {
		pr_warn_ratelimited("ADD_DEV: %u devices exist, max_devs=%u\n",
				    zublk.nr_devs, READ_ONCE(max_devs));
		goto out_unlock;
	}

	ret = -ENOMEM;
	dev = kzalloc(sizeof(*dev), GFP_KERNEL);
	if (!dev)
		goto out_unlock;
	mutex_init(&dev->mutex);
	mutex_init(&dev->abort_mutex);
	mutex_init(&dev->fetch_mutex);
	init_completion(&dev->ready);
	INIT_WORK(&dev->part_scan, zublk_part_scan_work);
	INIT_DELAYED_WORK(&dev->stop_watch, zublk_stop_watch_work);
	dev->id = -1;
	dev->info = info;
	/* From here on the release callback undoes whatever was set up. */
	device_initialize(&dev->cdev_dev);
	dev->cdev_dev.release = zublk_dev_release;

	ret = zublk_alloc_id(dev, h->dev_id);
	if (ret < 0)
		goto out_put;
	dev->id = ret;
	dev->info.dev_id = ret;

	ret = zublk_init_tag_set(dev);
	if (ret)
		goto out_put;
	ret = zublk_alloc_queues(dev);
	if (ret)
		goto out_put;

	ret = -EFAULT;
	if (copy_to_user(argp, &dev->info, sizeof(info)))
		goto out_put;

	ret = zublk_add_chdev(dev);
	if (ret)
		goto out_put;
	zublk_stats_add_dev(dev);
	zublk_publish(dev);
	zublk.nr_devs++;
	mutex_unlock(&zublk.ctl_mutex);
	return 0;

out_put:
	zublk_put(dev);
out_unlock:
	mutex_unlock(&zublk.ctl_mutex);
	return ret;
}

/* ---- STOP / DEL ---------------------------------------------------------- */

static void zublk_stop(struct zublk_dev *dev)
{
	mutex_lock(&dev->mutex);
	/* a device waiting for a new server gives up: IO fails, disk drains */
	zublk_recovery_stop(dev);
	zublk_stop_watch_start(dev);
	zublk_stop_disk(dev);
	zublk_stop_watch_end(dev);
	/* under the mutex: a START_DEV after this sees NO_ARM */
	set_bit(ZDEV_NO_ARM, &dev->state);
	dev->info.state = UBLK_S_DEV_DEAD;
	mutex_unlock(&dev->mutex);
	/* a START_DEV waiting for fetches gives up (it sees NO_ARM) */
	complete_all(&dev->ready);
	/* outside dev->mutex: lock order in zublk.h (the ring's lock) */
	zublk_cancel_cmds(dev);
}

/* Take @dev out of service; drops the table's reference.  ctl_mutex held. */
static void zublk_remove(struct zublk_dev *dev)
{
	lockdep_assert_held(&zublk.ctl_mutex);
	zublk_stop(dev);
	cdev_device_del(&dev->cdev, &dev->cdev_dev);
	zublk.nr_devs--;
	zublk_put(dev);
}

/* Consumes the caller's reference on @dev. */
static int zublk_ctrl_del_dev(struct zublk_dev *dev, bool wait)
{
	int id = dev->id;
	int ret;

	ret = mutex_lock_killable(&zublk.ctl_mutex);
	if (ret) {
		zublk_put(dev);
		return ret;
	}
	if (!test_and_set_bit(ZDEV_DELETED, &dev->state))
		zublk_remove(dev);
	mutex_unlock(&zublk.ctl_mutex);
	/* after this put, @dev is only compared, never dereferenced */
	zublk_put(dev);

	if (!wait)
		return 0;
	/*
	 * Like upstream: return once the device is gone for good (char node
	 * closed by its server), so the id can be reused right away.
	 */
	for (;;) {
		ret = wait_event_interruptible_timeout(zublk.idr_wq,
						       zublk_id_released(id, dev),
						       ZUBLK_WAIT_SLICE);
		if (ret > 0)
			return 0;
		if (ret < 0 || zublk_task_exiting(current))
			return -EINTR;
	}
}

void zublk_remove_all(void)
{
	struct zublk_dev *dev;
	int id = 0;

	mutex_lock(&zublk.ctl_mutex);
	for (;; id++) {
		spin_lock(&zublk.idr_lock);
		dev = idr_get_next(&zublk.idr, &id);
		if (dev && !kobject_get_unless_zero(&dev->cdev_dev.kobj)) {
			spin_unlock(&zublk.idr_lock);
			continue;	/* being freed right now */
		}
		spin_unlock(&zublk.idr_lock);
		if (!dev)
			break;
		if (!test_and_set_bit(ZDEV_DELETED, &dev->state))
			zublk_remove(dev);
		zublk_put(dev);
	}
	mutex_unlock(&zublk.ctl_mutex);
}

/* ---- START ---------------------------------------------------------------- */

static int zublk_ctrl_start_dev(struct zublk_dev *dev,
				const struct ublksrv_ctrl_cmd *h)
{
	int pid = (int)h->data[0];
	int ret;

	if (pid <= 0)
		return -EINVAL;
	mutex_lock(&dev->mutex);
	ret = (dev->params.types & UBLK_PARAM_TYPE_BASIC) ? 0 : -EINVAL;
	mutex_unlock(&dev->mutex);
	if (ret) {
		pr_warn_ratelimited("dev %d: START_DEV without basic params\n", dev->id);
		return ret;
	}

	if (zublk_wait_done(&dev->ready))
		return -EINTR;

	mutex_lock(&dev->mutex);
	if (test_bit(ZDEV_USED, &dev->state)) {
		ret = -EEXIST;
		goto out_unlock;
	}
	if (test_bit(ZDEV_NO_ARM, &dev->state)) {
		/* server went away or the device was stopped meanwhile */
		ret = -ENODEV;
		goto out_unlock;
	}
	dev->info.ublksrv_pid = pid;
	ret = zublk_start_disk(dev);
	if (ret)
		goto out_unlock;
	set_bit(ZDEV_USED, &dev->state);
	dev->info.state = UBLK_S_DEV_LIVE;
out_unlock:
	mutex_unlock(&dev->mutex);
	return ret;
}

/* ---- params ------------------------------------------------------------- */

/* 256 MiB: the largest physical block, io_min and io_opt, as upstream. */
#define ZUBLK_MAX_BS_SHIFT	28

/*
 * Basic params: refuse what would make blk_validate_limits() warn or fail
 * at START_DEV, and requests larger than the server's io buffer.
 */
static int zublk_validate_basic(const struct zublk_dev *dev,
				const struct ublk_param_basic *b)
{
	u32 max = dev->info.max_io_buf_bytes >> SECTOR_SHIFT;

	if (b->logical_bs_shift < SECTOR_SHIFT ||
	    b->logical_bs_shift > PAGE_SHIFT) {
		pr_warn_ratelimited("dev %d: SET_PARAMS: logical_bs_shift %u not in %u..%u\n",
			dev->id, b->logical_bs_shift, SECTOR_SHIFT, PAGE_SHIFT);
		return -EINVAL;
	}
	if (b->logical_bs_shift > b->physical_bs_shift ||
	    b->physical_bs_shift > ZUBLK_MAX_BS_SHIFT ||
	    b->io_min_shift > ZUBLK_MAX_BS_SHIFT ||
	    b->io_opt_shift > ZUBLK_MAX_BS_SHIFT) {
		pr_warn_ratelimited("dev %d: SET_PARAMS: block size shifts %u/%u/%u/%u: logical > physical or above %u\n",
			dev->id, b->logical_bs_shift, b->physical_bs_shift,
			b->io_min_shift, b->io_opt_shift, ZUBLK_MAX_BS_SHIFT);
		return -EINVAL;
	}
	/* max_io_buf_bytes is at least a page, so the range is never empty */
	if (b->max_sectors < PAGE_SECTORS || b->max_sectors > max) {
		pr_warn_ratelimited("dev %d: SET_PARAMS: max_sectors %u not in %d..%u (a page .. the %u-byte io buffer)\n",
			dev->id, b->max_sectors, PAGE_SECTORS, max,
			dev->info.max_io_buf_bytes);
		return -EINVAL;
	}
	if (b->chunk_sectors && !is_power_of_2(b->chunk_sectors)) {
		pr_warn_ratelimited("dev %d: SET_PARAMS: chunk_sectors not a power of 2\n",
			dev->id);
		return -EINVAL;
	}
	return 0;
}

/* DMA_ALIGN and SEGMENT, by upstream's rules (and 6.12's block layer's). */
static int zublk_validate_sg(const struct zublk_dev *dev,
			     const struct zublk_params *p)
{
	if (p->types & UBLK_PARAM_TYPE_DMA_ALIGN) {
		u32 a = p->dma.alignment;

		if (a >= PAGE_SIZE || !is_power_of_2((u64)a + 1)) {
			pr_warn_ratelimited("dev %d: SET_PARAMS: dma alignment mask %#x: + 1 must be a power of 2 up to a page\n",
				dev->id, a);
			return -EINVAL;
		}
	}
	if (p->types & UBLK_PARAM_TYPE_SEGMENT) {
		const struct ublk_param_segment *sg = &p->seg;
		u64 min = max_t(u64, UBLK_MIN_SEGMENT_SIZE, PAGE_SIZE);

		if (!is_power_of_2(sg->seg_boundary_mask + 1) ||
		    sg->seg_boundary_mask + 1 < min ||
		    sg->max_segment_size < min) {
			pr_warn_ratelimited("dev %d: SET_PARAMS: segment boundary mask %#llx (+ 1 must be a power of 2) or max_segment_size %u below %llu\n",
				dev->id, sg->seg_boundary_mask,
				sg->max_segment_size, min);
			return -EINVAL;
		}
	}
	return 0;
}

/* @p->types holds known types only (masked by the caller). */
static int zublk_validate_params(const struct zublk_dev *dev,
				 const struct zublk_params *p)
{
	int ret;

	if (!(p->types & UBLK_PARAM_TYPE_BASIC)) {
		pr_warn_ratelimited("dev %d: SET_PARAMS: basic params missing\n", dev->id);
		return -EINVAL;
	}
	if (p->types & (UBLK_PARAM_TYPE_DEVT | UBLK_PARAM_TYPE_ZONED)) {
		pr_warn_ratelimited("dev %d: SET_PARAMS: %s params cannot be set\n",
			dev->id, p->types & UBLK_PARAM_TYPE_DEVT ?
			"devt (read-only)" : "zoned (not supported)");
		return -EINVAL;
	}
	ret = zublk_validate_basic(dev, &p->basic);
	if (ret)
		return ret;
	if (p->types & UBLK_PARAM_TYPE_DISCARD) {
		const struct ublk_param_discard *d = &p->discard;

		if ((d->max_discard_sectors && d->max_discard_segments != 1) ||
		    !d->discard_granularity) {
			pr_warn_ratelimited("dev %d: SET_PARAMS: bad discard params\n",
				dev->id);
			return -EINVAL;
		}
	}
	return zublk_validate_sg(dev, p);
}

static int zublk_ctrl_set_params(struct zublk_dev *dev,
				 const struct ublksrv_ctrl_cmd *h)
{
	void __user *argp = u64_to_user_ptr(h->addr);
	struct zublk_params_header ph;
	struct zublk_params *p;
	int ret;

	if (h->len <= sizeof(ph) || !h->addr)
		return -EINVAL;
	if (copy_from_user(&ph, argp, sizeof(ph)))
		return -EFAULT;
	if (ph.len > h->len || !ph.len || !ph.types)
		return -EINVAL;
	ph.len = min_t(u32, ph.len, sizeof(*p));

	p = kzalloc(sizeof(*p), GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	if (copy_from_user(p, argp, ph.len)) {
		ret = -EFAULT;
		goto out_free;
	}
	p->len = ph.len;
	/* types of later kernels are masked off, as upstream does */
	p->types &= ZUBLK_PARAM_TYPES;

	mutex_lock(&dev->mutex);
	if (test_bit(ZDEV_USED, &dev->state) || dev->disk) {
		pr_warn_ratelimited("dev %d: SET_PARAMS after START_DEV\n", dev->id);
		ret = -EACCES;
	} else {
		ret = zublk_validate_params(dev, p);
		if (ret)
			dev->params.types = 0;
		else
			dev->params = *p;
	}
	mutex_unlock(&dev->mutex);
out_free:
	kfree(p);
	return ret;
}

static int zublk_ctrl_get_params(struct zublk_dev *dev,
				 const struct ublksrv_ctrl_cmd *h)
{
	void __user *argp = u64_to_user_ptr(h->addr);
	struct zublk_params_header ph;
	struct zublk_params *p;
	int ret = 0;

	if (h->len <= sizeof(ph) || !h->addr)
		return -EINVAL;
	if (copy_from_user(&ph, argp, sizeof(ph)))
		return -EFAULT;
	if (ph.len > h->len || !ph.len)
		return -EINVAL;
	ph.len = min_t(u32, ph.len, sizeof(*p));

	p = kzalloc(sizeof(*p), GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	mutex_lock(&dev->mutex);
	*p = dev->params;
	p->types |= UBLK_PARAM_TYPE_DEVT;
	p->devt.char_major = MAJOR(dev->cdev_dev.devt);
	p->devt.char_minor = MINOR(dev->cdev_dev.devt);
	if (dev->disk) {
		p->devt.disk_major = MAJOR(disk_devt(dev->disk));
		p->devt.disk_minor = MINOR(disk_devt(dev->disk));
	}
	mutex_unlock(&dev->mutex);
	p->len = ph.len;
	if (copy_to_user(argp, p, ph.len))
		ret = -EFAULT;
	kfree(p);
	return ret;
}

/* ---- GET_* -------------------------------------------------------------- */

static int zublk_ctrl_get_dev_info(struct zublk_dev *dev, u64 addr, u32 len)
{
	struct ublksrv_ctrl_dev_info info;

	if (len < sizeof(info) || !addr)
		return -EINVAL;
	mutex_lock(&dev->mutex);
	info = dev->info;
	info.state = zublk_dev_state(dev);
	mutex_unlock(&dev->mutex);
	if (copy_to_user(u64_to_user_ptr(addr), &info, sizeof(info)))
		return -EFAULT;
	return 0;
}

/*
 * GET_DEV_INFO2 carries the char node's path in front of the info buffer
 * (dev_path_len bytes); it must name this device's char node.
 */
static int zublk_ctrl_get_dev_info2(struct zublk_dev *dev,
				    const struct ublksrv_ctrl_cmd *h)
{
	struct kstat stat;
	struct path path;
	char *name;
	int ret;

	if (!h->dev_path_len || h->dev_path_len > PATH_MAX ||
	    h->len < h->dev_path_len || !h->addr)
		return -EINVAL;
	name = memdup_user_nul(u64_to_user_ptr(h->addr), h->dev_path_len);
	if (IS_ERR(name))
		return PTR_ERR(name);
	ret = kern_path(name, LOOKUP_FOLLOW, &path);
	kfree(name);
	if (ret)
		return ret;
	ret = vfs_getattr(&path, &stat, STATX_TYPE, AT_STATX_SYNC_AS_STAT);
	path_put(&path);
	if (ret)
		return ret;
	if (!S_ISCHR(stat.mode) || stat.rdev != dev->cdev_dev.devt)
		return -EPERM;
	return zublk_ctrl_get_dev_info(dev, h->addr + h->dev_path_len,
				       h->len - h->dev_path_len);
}

static int zublk_ctrl_get_queue_affinity(struct zublk_dev *dev,
					 const struct ublksrv_ctrl_cmd *h)
{
	void __user *argp = u64_to_user_ptr(h->addr);
	cpumask_var_t mask;
	unsigned int cpu, retlen;
	u64 q_id = h->data[0];
	int ret = 0;

	if ((unsigned int)h->len * BITS_PER_BYTE < nr_cpu_ids ||
	    (h->len & (sizeof(unsigned long) - 1)) || !h->addr)
		return -EINVAL;
	if (q_id >= dev->info.nr_hw_queues)
		return -EINVAL;
	if (!zalloc_cpumask_var(&mask, GFP_KERNEL))
		return -ENOMEM;
	for_each_possible_cpu(cpu)
		if (dev->set.map[HCTX_TYPE_DEFAULT].mq_map[cpu] == q_id)
			cpumask_set_cpu(cpu, mask);
	retlen = min_t(unsigned int, h->len, cpumask_size());
	if (copy_to_user(argp, mask, retlen) ||
	    (retlen < h->len && clear_user(argp + retlen, h->len - retlen)))
		ret = -EFAULT;
	free_cpumask_var(mask);
	return ret;
}

/*
 * GET_FEATURES, and with @ext GET_EXT_FEATURES: every flag implemented,
 * zublk's included.  Standing in for ublk_drv, GET_FEATURES reports
 * upstream flags only: tools written for it take any other bit for one
 * they lack (include/zublk.h).
 */
static int zublk_ctrl_get_features(const struct ublksrv_ctrl_cmd *h, bool ext)
{
	u64 features = ext || !zublk.upstream_names ? ZUBLK_F_ALL :
		ZUBLK_F_UPSTREAM;

	if (h->len != UBLK_FEATURES_LEN || !h->addr)
		return -EINVAL;
	if (copy_to_user(u64_to_user_ptr(h->addr), &features, sizeof(features)))
		return -EFAULT;
	return 0;
}

/* ---- dispatch ------------------------------------------------------------ */

/* A command on @dev other than DEL_DEV; the caller holds a reference. */
static int zublk_ctrl_dev_cmd(struct zublk_dev *dev, int nr,
			      const struct ublksrv_ctrl_cmd *h)
{
	switch (nr) {
	case UBLK_CMD_START_DEV:
		return zublk_ctrl_start_dev(dev, h);
	case UBLK_CMD_STOP_DEV:
		zublk_stop(dev);
		return 0;
	case UBLK_CMD_GET_DEV_INFO:
		return zublk_ctrl_get_dev_info(dev, h->addr, h->len);
	case UBLK_CMD_GET_DEV_INFO2:
		return zublk_ctrl_get_dev_info2(dev, h);
	case UBLK_CMD_SET_PARAMS:
		return zublk_ctrl_set_params(dev, h);
	case UBLK_CMD_GET_PARAMS:
		return zublk_ctrl_get_params(dev, h);
	case UBLK_CMD_GET_QUEUE_AFFINITY:
		return zublk_ctrl_get_queue_affinity(dev, h);
	case UBLK_CMD_START_USER_RECOVERY:
		return zublk_ctrl_start_recovery(dev);
	case UBLK_CMD_END_USER_RECOVERY:
		return zublk_ctrl_end_recovery(dev, h);
	default:
		return -EINVAL;
	}
}

int zublk_ctrl_uring_cmd(struct io_uring_cmd *cmd, unsigned int issue_flags)
{
	const struct ublksrv_ctrl_cmd *src;
	struct ublksrv_ctrl_cmd h;
	struct zublk_dev *dev;
	int nr, ret;

	/* Every command may sleep: have io_uring retry from a worker. */
	if (issue_flags & IO_URING_F_NONBLOCK)
		return -EAGAIN;
	if (unlikely(!(issue_flags & IO_URING_F_SQE128)))
		return -EINVAL;
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;

	/* The SQE is shared with userspace: read each field once. */
	src = zublk_sqe128_cmd(cmd->sqe, struct ublksrv_ctrl_cmd);
	h.dev_id = READ_ONCE(src->dev_id);
	h.queue_id = READ_ONCE(src->queue_id);
	h.len = READ_ONCE(src->len);
	h.addr = READ_ONCE(src->addr);
	h.data[0] = READ_ONCE(src->data[0]);
	h.dev_path_len = READ_ONCE(src->dev_path_len);
	h.pad = 0;
	h.reserved = 0;

	nr = zublk_ctrl_nr(cmd->cmd_op);
	if (nr < 0)
		return -EINVAL;
	if (nr == ZUBLK_CMD_NOTSUPP)
		return -EOPNOTSUPP;
	if (nr == _IOC_NR(UBLK_U_CMD_GET_FEATURES) ||
	    nr == ZUBLK_CMD_EXT_FEATURES)
		return zublk_ctrl_get_features(&h, nr == ZUBLK_CMD_EXT_FEATURES);
	if (nr == UBLK_CMD_ADD_DEV)
		return zublk_ctrl_add_dev(&h);

	dev = zublk_lookup(h.dev_id);
	if (!dev)
		return -ENODEV;
	/* DEL consumes the reference, and may repeat on a deleted device */
	if (nr == UBLK_CMD_DEL_DEV || nr == _IOC_NR(UBLK_U_CMD_DEL_DEV_ASYNC))
		return zublk_ctrl_del_dev(dev, nr == UBLK_CMD_DEL_DEV);
	ret = test_bit(ZDEV_DELETED, &dev->state) ? -ENODEV :
		zublk_ctrl_dev_cmd(dev, nr, &h);
	zublk_put(dev);
	return ret;
}
