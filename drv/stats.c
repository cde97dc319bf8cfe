// SPDX-License-Identifier: GPL-2.0
/*
 * Per-queue cost counters in debugfs, the layout include/zublk.h fixes:
 * /sys/kernel/debug/zublk/<char node name>/queue<Q>, "name value" lines.
 *
 * The counters live in each zublk_queue (see struct zublk_qstats for who
 * writes which half); this file only shows them.  debugfs is a debugging
 * aid: when it is missing or a file cannot be made, the device works the
 * same, just without counters.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "zublk.h"

static struct dentry *zublk_dbg_root;	/* "zublk"; load to unload */

#define ZST_NAME(id, name, what)	[ZST_##id] = #name,
static const char *const zublk_stat_names[ZST_NR] = {
	ZUBLK_QSTATS(ZST_NAME)
};
#undef ZST_NAME

static int zublk_qstats_show(struct seq_file *m, void *v)
{
	struct zublk_queue *q = m->private;
	unsigned int i;

	for (i = 0; i < ZST_NR; i++)
		seq_printf(m, "%s %llu\n", zublk_stat_names[i],
			   READ_ONCE(q->stats.own[i]) +
			   (u64)atomic64_read(&q->stats.any[i]));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(zublk_qstats);

void zublk_stats_init(void)
{
	zublk_dbg_root = debugfs_create_dir("zublk", NULL);
}

void zublk_stats_exit(void)
{
	debugfs_remove(zublk_dbg_root);
}

/* ADD_DEV, once the char node has its name.  Failures are ignored. */
void zublk_stats_add_dev(struct zublk_dev *dev)
{
	char name[16];
	unsigned int i;

	dev->dbg = debugfs_create_dir(dev_name(&dev->cdev_dev), zublk_dbg_root);
	if (IS_ERR(dev->dbg))
		return;
	for (i = 0; i < dev->info.nr_hw_queues; i++) {
		snprintf(name, sizeof(name), "queue%u", i);
		debugfs_create_file(name, 0444, dev->dbg, dev->queues[i],
				    &zublk_qstats_fops);
	}
}

/* Before the queues are freed: waits for readers in progress. */
void zublk_stats_del_dev(struct zublk_dev *dev)
{
	debugfs_remove(dev->dbg);
	dev->dbg = NULL;
}
