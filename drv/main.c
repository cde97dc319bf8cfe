// SPDX-License-Identifier: GPL-2.0
/*
 * zublk: a ublk-compatible userspace block driver.
 *
 * Module entry points and parameters.  The control node speaks the
 * upstream ublk ABI (<linux/ublk_cmd.h>); commands arrive as io_uring
 * passthrough commands (ctrl.c).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/fs.h>
#include <linux/bug.h>
#include <linux/namei.h>
#include <linux/capability.h>

#include "zublk.h"

static bool test_warn;
module_param(test_warn, bool, 0444);
MODULE_PARM_DESC(test_warn,
	"Test only: emit one WARN at load so the test harness can prove its dmesg check fails a test (default: false)");

/* The drop-in build (DROPIN=1, module ublk_drv) uses upstream names by default. */
static bool upstream_names = IS_ENABLED(ZUBLK_DROPIN);
module_param(upstream_names, bool, 0444);
MODULE_PARM_DESC(upstream_names,
	"Stand in for ublk_drv: register /dev/ublk-control, /dev/ublkcN and /dev/ublkbN instead of the zublk names, and report upstream flags only in GET_FEATURES (zublk's in ZUBLK_U_CMD_GET_EXT_FEATURES); refused while ublk_drv is loaded or /dev/ublk-control is taken (default: false; true in the drop-in ublk_drv build)");

struct zublk_global zublk;

static struct class zublk_class;

static int zublk_ctrl_open(struct inode *inode, struct file *file)
{
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	return 0;
}

static const struct file_operations zublk_ctrl_fops = {
	.owner		= THIS_MODULE,
	.open		= zublk_ctrl_open,
	.uring_cmd	= zublk_ctrl_uring_cmd,
	.llseek		= noop_llseek,
};

struct class *zublk_get_class(void)
{
	return &zublk_class;
}

static bool zublk_sysfs_exists(const char *name)
{
	struct path path;

	if (kern_path(name, LOOKUP_FOLLOW, &path))
		return false;
	path_put(&path);
	return true;
}

/*
 * May we register the upstream names?  Not while ublk_drv is present
 * (loaded or built in: its sysfs module dir tells; the drop-in build is
 * ublk_drv itself, so it looks at the node alone), nor while another
 * driver holds /dev/ublk-control (a built-in ublk without a module dir,
 * zublk loaded with upstream_names=1).
 */
static int zublk_upstream_names_free(void)
{
	if (!IS_ENABLED(ZUBLK_DROPIN) && zublk_sysfs_exists("/sys/module/ublk_drv")) {
		pr_err("upstream_names=1 refused: ublk_drv is loaded and owns /dev/ublk-control; unload it first\n");
		return -EBUSY;
	}
	if (zublk_sysfs_exists("/sys/class/misc/ublk-control")) {
		pr_err("upstream names refused: /dev/ublk-control is taken (ublk built in, or zublk loaded with upstream_names=1)\n");
		return -EBUSY;
	}
	return 0;
}

static int __init zublk_init(void)
{
	const char *chr_name;
	int ret;

	zublk.upstream_names = upstream_names;
	if (upstream_names) {
		ret = zublk_upstream_names_free();
		if (ret)
			return ret;
		zublk.ctrl.name = "ublk-control";
		zublk.cname = "ublkc";
		zublk.bname = "ublkb";
		chr_name = "ublk-char";
	} else {
		zublk.ctrl.name = "zublk-control";
		zublk.cname = "zublkc";
		zublk.bname = "zublkb";
		chr_name = "zublk-char";
	}

	mutex_init(&zublk.ctl_mutex);
	spin_lock_init(&zublk.idr_lock);
	idr_init(&zublk.idr);
	init_waitqueue_head(&zublk.idr_wq);

	ret = alloc_chrdev_region(&zublk.chr_devt, 0, ZUBLK_MAX_DEVS, chr_name);
	if (ret) {
		pr_err("cannot allocate char region: %d\n", ret);
		goto out_idr;
	}

	zublk_class.name = chr_name;
	ret = class_register(&zublk_class);
	if (ret) {
		pr_err("cannot register class %s: %d\n", chr_name, ret);
		goto out_chrdev;
	}

	/* counters in debugfs: optional, a failure is not one of the driver */
	zublk_stats_init();

	zublk.ctrl.minor = MISC_DYNAMIC_MINOR;
	zublk.ctrl.fops = &zublk_ctrl_fops;
	ret = misc_register(&zublk.ctrl);
	if (ret) {
		pr_err("cannot register /dev/%s: %d\n", zublk.ctrl.name, ret);
		goto out_class;
	}

	/* Deliberate, test-only: proves the harness catches kernel warnings. */
	WARN_ON_ONCE(test_warn);

	pr_info("loaded (/dev/%s)\n", zublk.ctrl.name);
	return 0;

out_class:
	zublk_stats_exit();
	class_unregister(&zublk_class);
out_chrdev:
	unregister_chrdev_region(zublk.chr_devt, ZUBLK_MAX_DEVS);
out_idr:
	idr_destroy(&zublk.idr);
	return ret;
}

static void __exit zublk_exit(void)
{
	misc_deregister(&zublk.ctrl);
	zublk_remove_all();
	zublk_stats_exit();
	class_unregister(&zublk_class);
	unregister_chrdev_region(zublk.chr_devt, ZUBLK_MAX_DEVS);
	idr_destroy(&zublk.idr);
	pr_info("unloaded\n");
}

module_init(zublk_init);
module_exit(zublk_exit);

MODULE_DESCRIPTION("zublk: ublk-compatible userspace block driver");
MODULE_LICENSE("GPL");
MODULE_VERSION(ZUBLK_VERSION);
