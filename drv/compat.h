/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The in-kernel APIs that differ between the kernels zublk builds for
 * (Linux 6.12.y and 7.3.y, drv/README.md "Supported kernels").  Every
 * version test of the driver is here; the .c files call the zublk_* names
 * below and never test a version themselves.  Each shim names the release
 * that changed the API; the ones in between are not supported.
 */
#ifndef ZUBLK_COMPAT_H
#define ZUBLK_COMPAT_H

#include <linux/version.h>
#include <linux/blk-mq.h>
#include <linux/io_uring/cmd.h>

/*
 * Linux 6.14 removed BLK_MQ_F_SHOULD_MERGE: blk-mq merges bios into
 * requests for every tag set, as 6.12 does with the flag.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 14, 0)
#define ZUBLK_MQ_F_MERGE	0
#else
#define ZUBLK_MQ_F_MERGE	BLK_MQ_F_SHOULD_MERGE
#endif

/*
 * Linux 7.0 changed io_uring_sqe_cmd(sqe) (a void pointer to the SQE's
 * command area) into io_uring_sqe_cmd(sqe, type), which checks that @type
 * fits the 16-byte area of a 64-byte SQE, and added io_uring_sqe128_cmd()
 * for the 80 bytes of a 128-byte SQE (IORING_SETUP_SQE128; the control
 * commands).  Both return a const @type pointer.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(7, 0, 0)
#define zublk_sqe_cmd(sqe, type)	io_uring_sqe_cmd(sqe, type)
#define zublk_sqe128_cmd(sqe, type)	io_uring_sqe128_cmd(sqe, type)
#else
#define zublk_sqe_cmd(sqe, type)	((const type *)io_uring_sqe_cmd(sqe))
#define zublk_sqe128_cmd(sqe, type)	((const type *)io_uring_sqe_cmd(sqe))
#endif

/*
 * Linux 6.18 dropped io_uring_cmd_done()'s res2 argument (zublk always
 * passed 0: no big CQEs); a second result now needs io_uring_cmd_done32().
 */
static inline void zublk_cmd_done(struct io_uring_cmd *cmd, s32 res,
				  unsigned int issue_flags)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 18, 0)
	io_uring_cmd_done(cmd, res, issue_flags);
#else
	io_uring_cmd_done(cmd, res, 0, issue_flags);
#endif
}

/*
 * Linux 6.19 changed the callback of io_uring_cmd_complete_in_task():
 * 6.12 calls fn(cmd, issue_flags) and sets IO_URING_F_TASK_DEAD in
 * issue_flags when the work must not run (the task is exiting, or the
 * work runs in io_uring's fallback kworker); 6.19 calls
 * fn(struct io_tw_req, io_tw_token_t), the command comes from
 * io_uring_cmd_from_tw(), the issue flags are the constant
 * IO_URING_CMD_TASK_WORK_ISSUE_FLAGS, and tw.cancel replaces
 * IO_URING_F_TASK_DEAD (also set when the ring is dying).
 *
 * zublk's task work is written once as
 *	void fn(struct io_uring_cmd *cmd, unsigned int issue_flags,
 *		bool cancel);
 * and ZUBLK_TW_CB(name, fn) defines the callback @name that io_uring
 * calls, which calls @fn.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 19, 0)
#define ZUBLK_TW_CB(name, fn)						\
static void name(struct io_tw_req tw_req, io_tw_token_t tw)		\
{									\
	fn(io_uring_cmd_from_tw(tw_req),				\
	   IO_URING_CMD_TASK_WORK_ISSUE_FLAGS, tw.cancel);		\
}
#else
#define ZUBLK_TW_CB(name, fn)						\
static void name(struct io_uring_cmd *cmd, unsigned int issue_flags)	\
{									\
	fn(cmd, issue_flags, issue_flags & IO_URING_F_TASK_DEAD);	\
}
#endif

#endif /* ZUBLK_COMPAT_H */
