// SPDX-License-Identifier: GPL-2.0
/*
 * zublk: a ublk-compatible userspace block driver.
 *
 * Module entry points and the control node.  The control node speaks the
 * upstream ublk ABI (<uapi/linux/ublk_cmd.h>); commands arrive as io_uring
 * passthrough commands.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/fs.h>
#include <linux/bug.h>

#include "zublk.h"

static bool test_warn;
module_param(test_warn, bool, 0444);
MODULE_PARM_DESC(test_warn,
	"Test only: emit one WARN at load so the test harness can prove its dmesg check fails a test (default: false)");

static struct zublk_global zublk;

static int zublk_ctrl_open(struct inode *inode, struct file *file)
{
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	return 0;
}

static const struct file_operations zublk_ctrl_fops = {
	.owner		= THIS_MODULE,
	.open		= zublk_ctrl_open,
	.llseek		= noop_llseek,
};

static int __init zublk_init(void)
{
	int ret;

	zublk.ctrl.minor = MISC_DYNAMIC_MINOR;
	zublk.ctrl.name = "zublk-control";
	zublk.ctrl.fops = &zublk_ctrl_fops;
	ret = misc_register(&zublk.ctrl);
	if (ret) {
		pr_err("cannot register /dev/%s: %d\n", zublk.ctrl.name, ret);
		return ret;
	}

	/* Deliberate, test-only: proves the harness catches kernel warnings. */
	WARN_ON_ONCE(test_warn);

	pr_info("loaded\n");
	return 0;
}

static void __exit zublk_exit(void)
{
	misc_deregister(&zublk.ctrl);
	pr_info("unloaded\n");
}

module_init(zublk_init);
module_exit(zublk_exit);

MODULE_DESCRIPTION("zublk: ublk-compatible userspace block driver");
MODULE_LICENSE("GPL");
