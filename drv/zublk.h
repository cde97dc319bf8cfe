/* SPDX-License-Identifier: GPL-2.0 */
/*
 * zublk internal header: every structure the driver shares between its
 * files lives here, each field commented with its unit or its lock.
 *
 * Object model
 *   zublk_global   module-wide: control node, char major, device table
 *   zublk_dev      one ublk device: char node /dev/zublkcN, block node
 *                  /dev/zublkbN (between START_DEV and STOP_DEV), tag set
 *   zublk_queue    one hardware queue: descriptor array shared read-only
 *                  with the server, one zublk_io per tag
 *   zublk_io       one tag: the server's parked io_uring command and the
 *                  state of the request bound to the tag
 *
 * Lifetime: zublk_dev is reference counted through its struct device
 * (cdev_dev).  References: the device table entry (dropped by DEL_DEV), an
 * open char node (through the cdev's kobject), a gendisk once add_disk()
 * succeeded (dropped in ->free_disk, which only an added disk gets) and
 * any control command in progress.  The last put frees the
 * tag set, the queues and the device number.
 *
 * The rules: the lock order below, the device state machine above struct
 * zublk_dev, the per-IO state machine above struct zublk_io.  Each shared
 * field says which lock protects it, or why it needs none.  The .c files
 * point here rather than repeat them.
 *
 * Lock order (outer first; never take an outer lock under an inner one):
 *   zublk.ctl_mutex     the device table's membership: ADD_DEV, DEL_DEV,
 *                       module unload (zublk.nr_devs, ZDEV_DELETED)
 *   > dev->mutex        control commands on one device: START/STOP_DEV,
 *                       SET/GET_PARAMS, GET_DEV_INFO, START/END_USER_RECOVERY
 *   > dev->abort_mutex  server loss (zublk_abort_dev(), zublk_kill_dev()),
 *                       the recovery bits, the tag set's list of queues
 *                       (the disk's queue joins it under this lock)
 *   > dev->fetch_mutex  FETCH bookkeeping, store registration
 *   zublk.idr_lock      spinlock, innermost: taken alone or under
 *                       ctl_mutex; nothing is taken or waited for inside
 *   a server ring's uring_lock: io_uring holds it around ->uring_cmd
 *                       (unless IO_URING_F_UNLOCKED), its task work and its
 *                       cancel, so fetch_mutex (FETCH) and abort_mutex
 *                       (io_uring cancel, zublk_cmd_cancel()) are taken
 *                       under it.  Hence no zublk lock is held around
 *                       completing a parked command from outside the ring
 *                       (zublk_cancel_cmds() runs unlocked: zublk_stop(),
 *                       zublk_kill_dev()) nor around anything that waits
 *                       for IO while holding abort_mutex or fetch_mutex.
 *   dev->ready (completion) is waited for with no lock held.
 */
#ifndef ZUBLK_H
#define ZUBLK_H

#include <linux/miscdevice.h>
#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/blk-mq.h>
#include <linux/llist.h>
#include <linux/mutex.h>
#include <linux/idr.h>
#include <linux/wait.h>
#include <linux/completion.h>
#include <linux/workqueue.h>
#include <linux/sched/signal.h>
#include <linux/refcount.h>
#include <linux/io_uring/cmd.h>
#include <linux/ublk_cmd.h>	/* the ABI: include/uapi/linux/ in the tree */

#include "compat.h"

#include "../include/zublk.h"

#define ZUBLK_MAX_DEVS		(1U << MINORBITS)	/* device numbers */
#define ZUBLK_MAX_QUEUES	UBLK_MAX_NR_QUEUES	/* before the CPU cap */
#define ZUBLK_DEF_IO_BUF_BYTES	(512U << 10)	/* when ADD_DEV passes 0 */
#define ZUBLK_MAX_IO_BUF_BYTES	(1U << UBLK_IO_BUF_BITS)	/* 32 MiB */

/* The recovery flags; ADD_DEV accepts none, RECOVERY, +REISSUE or +FAIL_IO. */
#define ZUBLK_F_RECOVERY	(UBLK_F_USER_RECOVERY |			\
				 UBLK_F_USER_RECOVERY_REISSUE |		\
				 UBLK_F_USER_RECOVERY_FAIL_IO)

/*
 * Feature flags this driver implements; GET_EXT_FEATURES reports exactly
 * these, GET_FEATURES too unless upstream_names=1 (then ZUBLK_F_UPSTREAM).
 */
#define ZUBLK_F_ALL	(UBLK_F_URING_CMD_COMP_IN_TASK |	\
			 UBLK_F_NEED_GET_DATA |			\
			 UBLK_F_CMD_IOCTL_ENCODE |		\
			 UBLK_F_USER_COPY |			\
			 ZUBLK_F_PIN_BUF |			\
			 ZUBLK_F_STORE |			\
			 ZUBLK_F_RECOVERY)
#define ZUBLK_F_UPSTREAM	(ZUBLK_F_ALL & ~(ZUBLK_F_PIN_BUF | ZUBLK_F_STORE))

/*
 * Parameter types SET_PARAMS knows; others are masked off, as upstream
 * does.  Of these, DEVT (read-only) and ZONED (not implemented) fail.
 */
#define ZUBLK_PARAM_TYPES	(UBLK_PARAM_TYPE_BASIC | UBLK_PARAM_TYPE_DISCARD | \
				 UBLK_PARAM_TYPE_DEVT | UBLK_PARAM_TYPE_ZONED | \
				 UBLK_PARAM_TYPE_DMA_ALIGN | UBLK_PARAM_TYPE_SEGMENT)

/* Module-wide state (main.c). */
struct zublk_global {
	struct miscdevice ctrl;		/* control node; registered at load */
	dev_t chr_devt;			/* base of the char node region; fixed
					 * at load */
	const char *cname;		/* "zublkc" or "ublkc"; fixed at load */
	const char *bname;		/* "zublkb" or "ublkb"; fixed at load */
	bool upstream_names;		/* module parameter upstream_names; fixed
					 * at load */
	struct mutex ctl_mutex;		/* serialises ADD/DEL against each other */
	spinlock_t idr_lock;		/* protects idr */
	struct idr idr;			/* dev_id -> zublk_dev, protected by idr_lock */
	unsigned int nr_devs;		/* devices added and not yet deleted,
					 * protected by ctl_mutex */
	wait_queue_head_t idr_wq;	/* woken when a device number is freed
					 * (has its own lock) */
};

extern struct zublk_global zublk;
struct class *zublk_get_class(void);

/*
 * Per-IO state machine (zublk_io.flags; changed only by atomic ops).
 *
 *   (idle) --FETCH/COMMIT_AND_FETCH--> ARMED           server's command parked
 *   ARMED --queue_rq-->                ARMED|QUEUED    request on q->pending,
 *                                                      task work will deliver
 *   ARMED|QUEUED --task work-->        OWNED           command completed with
 *                                                      the request: the server
 *                                                      owns the request
 *   OWNED (+NEED_GET_DATA: a write handed out without its data, until the
 *          server sends NEED_GET_DATA) --COMMIT_AND_FETCH--> ARMED
 *
 * Who changes what: every transition of ARMED/QUEUED is one cmpxchg on the
 * whole word, so each party acts only from the exact state it expects:
 *   FETCH:     0 -> ARMED                  (server task, dev->fetch_mutex)
 *   queue_rq:  ARMED -> ARMED|QUEUED       (any CPU; fails: IO error)
 *   task work: ARMED|QUEUED -> OWNED       (server task; completes io->cmd)
 *   COMMIT:    OWNED -> ARMED              (server task; claims the request
 *                                           and re-parks in one step)
 *   cancel:    ARMED -> 0                  (io_uring cancel, STOP, arm's own
 *                                           NO_ARM check; never while QUEUED
 *                                           or KICK, as task work may be
 *                                           pending on the command; reads
 *                                           io->cmd only after winning)
 *   abort:     test_and_clear_bit(OWNED)   (server gone; fails the request)
 *   kick:      set_bit(KICK)               (->queue_rq that found q->pending
 *                                           empty, on the first request's
 *                                           tag, before queueing task work on
 *                                           its command)
 *   task work: clear_bit(KICK)             (first thing, on its own tag)
 *   kill:      clear_bit(QUEUED)           (IO timeout, device DEAD with the
 *                                           tag set quiesced: the request is
 *                                           taken off q->pending and failed;
 *                                           zublk_fail_pending())
 *   task work: ARMED -> 0                  (its own tag, when the device is
 *                                           dead and a kill took its request)
 * The request ends when its owner is done with it; in USER_COPY and
 * NEED_GET_DATA mode io->ref lets copies in progress hold it (q->need_ref).
 *
 * Long-term pins (pin.c) are not part of the state word.  io->pbuf
 * (ZUBLK_F_PIN_BUF) and dev->store (ZUBLK_F_STORE) are used and replaced
 * only by the server task (FETCH pins before parking; COMMIT_AND_FETCH
 * with a new address pins the new buffer before claiming the request,
 * makes it io->pbuf, copies the read's data from it (the commit's address
 * holds the commit's data, as upstream) and drops the old one after; task
 * work and NEED_GET_DATA copy through it) and dropped only by char node release and device free,
 * when no command exists any more (each holds a file reference).  Cancel,
 * abort and STOP never touch them, so a copy in progress cannot lose its
 * pages.  Each is charged to the task that pinned it (struct zublk_charge)
 * from before the pin until zublk_unpin(), which may run in any task.
 */
enum {
	ZIO_ARMED,		/* io->cmd is a parked server command */
	ZIO_QUEUED,		/* a started request waits on q->pending */
	ZIO_OWNED,		/* request handed to the server, not committed */
	ZIO_NEED_GET_DATA,	/* write handed out without data (NEED_GET_DATA) */
	ZIO_KICK,		/* task work is queued on io->cmd (zublk_kick) */
};

#define ZIO_F_ARMED		BIT(ZIO_ARMED)
#define ZIO_F_QUEUED		BIT(ZIO_QUEUED)
#define ZIO_F_OWNED		BIT(ZIO_OWNED)
#define ZIO_F_NEED_GET_DATA	BIT(ZIO_NEED_GET_DATA)
#define ZIO_F_KICK		BIT(ZIO_KICK)

struct zublk_io {
	unsigned long flags;		/* ZIO_* bits, see above */
	struct io_uring_cmd *cmd;	/* parked command; valid while ARMED,
					 * read by a canceller only after it
					 * won ARMED -> 0; NULL after a
					 * recovery reset */
	u64 addr;			/* server buffer (user address), from
					 * FETCH (fetch_mutex), COMMIT and
					 * NEED_GET_DATA (the server task, which
					 * owns the request); reset by recovery
					 * (abort_mutex + fetch_mutex, no server) */
	refcount_t ref;			/* request references: 1 from delivery until commit
					 * or abort, +1 per user-copy in progress; the last
					 * put ends the request */
	int res;			/* result for the request when the last ref
					 * drops; written by whoever ends the
					 * request (it won OWNED or holds it),
					 * before its put */
	bool fetched;			/* FETCH seen; dev->fetch_mutex */
	struct zublk_pinned *pbuf;	/* ZUBLK_F_PIN_BUF: long-term pinned buffer
					 * at pbuf->addr, or NULL; see "Long-term
					 * pins" above for who may touch it */
};

/*
 * What a long-term pin is charged to (pin.c), as io_uring charges its
 * registered buffers: the pinning task's user (locked_vm, against its
 * RLIMIT_MEMLOCK; not charged when the task had CAP_IPC_LOCK) and its mm
 * (pinned_vm, "VmPin" in /proc/PID/status).  Both are kept referenced so
 * that whichever task drops the pin (char node release may run in an
 * io_uring exit work) takes back exactly this charge.  Immutable once set.
 */
struct zublk_charge {
	struct user_struct *user;	/* charged user (get_uid), or NULL */
	struct mm_struct *mm;		/* charged mm (mmgrab) */
	unsigned long pages;		/* pages charged to both */
};

/*
 * A user memory range pinned long term (pin.c), one pin per folio: each
 * segment is a run of pages of one folio, so a 2 MiB hugepage is one
 * segment and one pin.  Immutable once built; freed by zublk_unpin().
 */
struct zublk_pinned {
	u64 addr;			/* user address it was pinned from */
	u64 len;			/* bytes */
	struct zublk_charge charge;	/* memlock charge of the range's pages */
	unsigned int nr;		/* segments = pins held */
	u64 *start;			/* byte offset of each segment in the range */
	struct bio_vec segs[];		/* nr entries, then the start array */
};

/*
 * Per-queue cost counters (stats.c), shown in debugfs as include/zublk.h
 * describes: each is own[] + any[].  own[] is written only by the queue's
 * server task (q->task: task work, COMMIT_AND_FETCH, NEED_GET_DATA), one
 * plain add each (WRITE_ONCE, so the debugfs reader never sees a torn
 * value); any[] takes the updates that may come from other tasks
 * (pread/pwrite user copy, FETCH before the queue is bound, char node
 * release, device free, store registration) as atomic adds.
 */
#define ZST_ENUM(id, name, what)	ZST_##id,
enum zublk_stat {
	ZUBLK_QSTATS(ZST_ENUM)		/* include/zublk.h */
	ZST_NR
};
#undef ZST_ENUM

struct zublk_qstats {
	u64 own[ZST_NR];		/* server task only, see above */
	atomic64_t any[ZST_NR];		/* any task, atomic */
};

/* Per-request driver data (tag_set.cmd_size). */
struct zublk_rq {
	struct llist_node node;		/* on zublk_queue.pending while QUEUED */
};

/* Command private data kept in io_uring_cmd.pdu. */
struct zublk_cmd_pdu {
	struct zublk_queue *q;		/* queue the command was parked on */
	u16 tag;			/* tag the command was parked on */
};

struct zublk_dev;

struct zublk_queue {
	/* dev .. store: fixed at ADD_DEV, no lock */
	struct zublk_dev *dev;		/* owning device */
	u16 q_id;			/* hardware queue index */
	u16 depth;			/* number of tags */
	int node;			/* NUMA node of the CPUs mapped to this
					 * queue; this structure and descs live
					 * there */
	struct ublksrv_io_desc *descs;	/* descriptor array, mmap'd read-only */
	unsigned int descs_order;	/* page order of descs */
	bool user_copy;			/* UBLK_F_USER_COPY */
	bool need_get_data;		/* UBLK_F_NEED_GET_DATA */
	bool need_ref;			/* io->ref in use (user copy, NEED_GET_DATA) */
	bool pin_buf;			/* ZUBLK_F_PIN_BUF granted; fixed at ADD_DEV */
	bool store;			/* ZUBLK_F_STORE granted; fixed at ADD_DEV */
	struct zublk_qstats stats;	/* cost counters; see struct zublk_qstats */
	struct llist_head pending;	/* requests awaiting delivery (lockless:
					 * ->queue_rq adds, the task work or a
					 * kill with the tag set quiesced takes
					 * all) */
	struct task_struct *task;	/* task that fetched the tags (ref held);
					 * protected by dev->fetch_mutex, stable
					 * once set */
	void *ring;			/* io_uring ctx of the fetches; same lock */
	u16 nr_fetched;			/* tags fetched; dev->fetch_mutex */
	bool aborted;			/* an io_uring cancel of this queue's
					 * commands aborted the device; later
					 * ones skip it.  Written under
					 * dev->abort_mutex, read without it
					 * as a hint; reset with the queue for
					 * a new server (recovery) */
	struct zublk_io ios[];		/* one per tag; see struct zublk_io */
};

/*
 * Device state machine.  GET_DEV_INFO's .state (zublk_dev_state(),
 * recovery.c) is derived from dev->state (ZDEV_* bits, atomic bitops) and
 * dev->info.state (UBLK_S_DEV_DEAD or _LIVE, dev->mutex):
 *   DEAD      ZDEV_DEAD, or info.state DEAD (before START_DEV, after
 *             STOP_DEV): IO fails with EIO
 *   LIVE      info.state LIVE, neither DEAD nor NOSRV: IO goes to the server
 *   QUIESCED  NOSRV: a recovery device whose server is gone; the tag set
 *             stays quiesced, new IO waits in blk-mq
 *   FAIL_IO   NOSRV|FAIL_IO: the same, the tag set runs and IO fails at once
 *
 *   ADD_DEV ----------------------> DEAD (info.state; no server yet)
 *   DEAD --START_DEV--------------> LIVE (USED)
 *   LIVE --server gone (no recovery flag, or STOPPED), or an IO
 *          timed out-------------> DEAD (ZDEV_DEAD, for good; a server
 *                                  lost before START_DEV sets it too)
 *   LIVE --server gone, recovery--> QUIESCED or FAIL_IO
 *   QUIESCED/FAIL_IO --START_USER_RECOVERY--> same, RECOVERING, char node
 *          reopenable --END_USER_RECOVERY (all tags fetched)--> LIVE
 *   QUIESCED/FAIL_IO --STOP_DEV or IO timeout--> DEAD (ZDEV_DEAD)
 *   any --STOP_DEV----------------> DEAD (info.state, NO_ARM)
 *
 * Who moves which bit, under which lock (readers test without a lock:
 * ->queue_rq and the task work read DEAD, NOSRV, FAIL_IO and NO_ARM with
 * READ_ONCE; ->queue_rq fails IO on DEAD or FAIL_IO, and either is set
 * only while the tag set is quiesced or IO already fails through the
 * other; FAIL_IO is cleared by END only once every tag is armed):
 *   OPEN        set: zublk_ch_open() (test_and_set_bit: the bit is the
 *               single-opener lock; cleared again when NO_ARM);
 *               clear: zublk_ch_release().  No lock.
 *   USED        set: zublk_ctrl_start_dev() (dev->mutex); never cleared
 *   DELETED     set: zublk_ctrl_del_dev(), zublk_remove_all()
 *               (test_and_set_bit, ctl_mutex); never cleared
 *   DEAD        set: zublk_abort_state() (abort_mutex, tag set quiesced),
 *               zublk_recovery_stop() (dev->mutex > abort_mutex; with
 *               NOSRV: quiesced, or FAIL_IO failing IO); never cleared
 *   NO_ARM      set: zublk_abort_state(), zublk_nosrv_begin() (abort_mutex),
 *               zublk_stop() (dev->mutex), zublk_cancel_cmds() (no lock:
 *               a full barrier pairs it with zublk_arm()'s ARMED);
 *               clear: zublk_ctrl_start_recovery() (dev->mutex >
 *               abort_mutex > fetch_mutex), last
 *   NOSRV and   set: zublk_nosrv_begin() (abort_mutex, tag set quiesced;
 *   FAIL_IO     FAIL_IO only together with NOSRV); clear:
 *               zublk_abort_state(), zublk_recovery_stop(),
 *               zublk_ctrl_end_recovery() (abort_mutex)
 *   RECOVERING  set: zublk_ctrl_start_recovery(); clear:
 *               zublk_ctrl_end_recovery(), zublk_recovery_stop(),
 *               zublk_abort_state() (all abort_mutex)
 *   STOPPED     set: zublk_recovery_stop() (dev->mutex > abort_mutex);
 *               never cleared
 * So a server loss (zublk_abort_dev(), under abort_mutex) judges NOSRV,
 * FAIL_IO, RECOVERING, STOPPED and DEAD against a stable picture.
 */
enum {
	ZDEV_OPEN,		/* char node is open (single opener) */
	ZDEV_USED,		/* START_DEV succeeded once; params frozen */
	ZDEV_DELETED,		/* DEL_DEV removed the device */
	ZDEV_DEAD,		/* server gone or aborting: IO fails with EIO */
	ZDEV_NO_ARM,		/* no more commands may be parked (stop/abort) */
	ZDEV_NOSRV,		/* recovery device without a server: IO waits
				 * on the quiesced tag set (QUIESCED) or fails
				 * (FAIL_IO) until END_USER_RECOVERY */
	ZDEV_FAIL_IO,		/* with NOSRV: new IO fails at once */
	ZDEV_RECOVERING,	/* START_USER_RECOVERY done, END not yet */
	ZDEV_STOPPED,		/* STOP_DEV began: a server loss is final
				 * from here on */
};

/* zublk_dev.log_once bits: messages logged once per device. */
enum {
	ZLOG_STORE_RANGE,	/* a store range error was logged */
};

struct zublk_dev {
	struct ublksrv_ctrl_dev_info info;	/* protected by mutex;
						 * max_io_buf_bytes, nr_hw_queues,
						 * queue_depth and flags are fixed
						 * at ADD_DEV */
	struct zublk_params params;	/* protected by mutex */
	struct mutex mutex;		/* control commands: start/stop, params;
					 * lock order at the top */
	struct mutex abort_mutex;	/* serialises zublk_abort_dev(); the
					 * recovery bits; the tag set's queues
					 * (START_DEV adds the disk's under it) */
	struct mutex fetch_mutex;	/* FETCH bookkeeping: q->task, q->ring,
					 * q->nr_fetched, io->fetched,
					 * nr_queues_ready; taken under the
					 * server ring's lock, so never held
					 * around anything that waits for IO */
	unsigned long state;		/* ZDEV_* bits (atomic bitops); who
					 * moves each under which lock: above */
	unsigned long log_once;		/* ZLOG_* bits (test_and_set_bit, no
					 * lock: only ever set) */
	int id;				/* device number = char minor; fixed */
	struct device cdev_dev;		/* refcount of this structure (its own
					 * atomic count) */
	struct cdev cdev;		/* char node; added at ADD_DEV, deleted
					 * by DEL_DEV (ctl_mutex) */
	struct blk_mq_tag_set set;	/* allocated at ADD_DEV, freed with the
					 * device; its queue list: abort_mutex */
	struct gendisk *disk;		/* between START and STOP; protected by mutex */
	struct completion ready;	/* all tags of all queues fetched, or
					 * the server went away / STOP: waiters
					 * recheck under dev->mutex; reinit by
					 * START_USER_RECOVERY (dev->mutex >
					 * abort_mutex > fetch_mutex) */
	struct work_struct part_scan;	/* the disk's partition scan, queued
					 * once add_disk() succeeded, cancelled
					 * (synchronously) before del_gendisk();
					 * blkmq.c */
	struct delayed_work stop_watch;	/* while STOP_DEV waits for the server's
					 * IO: kills the device if the server
					 * dies meanwhile; recovery.c */
	bool timeout_set;		/* io_timeout was set at START_DEV: an
					 * expired IO aborts; protected by mutex,
					 * stable once the disk exists */
	unsigned int start_timeout;	/* queue rq_timeout at START_DEV, jiffies;
					 * a different one means the user set
					 * queue/io_timeout; same lock */
	unsigned int nr_queues_ready;	/* protected by fetch_mutex */
	struct zublk_queue **queues;	/* nr_hw_queues entries, each on its
					 * node; fixed at ADD_DEV */
	struct zublk_pinned *store;	/* ZUBLK_F_STORE region: set once under
					 * fetch_mutex before any tag is fetched,
					 * dropped at char node release */
	struct dentry *dbg;		/* debugfs dir of the counters (or an
					 * ERR_PTR); set at ADD_DEV before the
					 * device is published, removed before
					 * the free */
};

/*
 * @t's process is exiting (PF_EXITING, or a group exit: a kill or
 * exit_group()).  Waits that may run in an io-wq worker of the exiting
 * process end on this: such a worker runs its queued work with the kill
 * already taken, and the process's exit waits for the worker.  @t is
 * current or referenced (its signal_struct lives as long).
 */
static inline bool zublk_task_exiting(struct task_struct *t)
{
	return (READ_ONCE(t->flags) & PF_EXITING) ||
	       (READ_ONCE(t->signal->flags) & SIGNAL_GROUP_EXIT);
}

static inline struct zublk_dev *zublk_get(struct zublk_dev *dev)
{
	get_device(&dev->cdev_dev);
	return dev;
}

static inline void zublk_put(struct zublk_dev *dev)
{
	put_device(&dev->cdev_dev);
}

static inline size_t zublk_descs_size(unsigned int depth)
{
	return round_up(depth * sizeof(struct ublksrv_io_desc), PAGE_SIZE);
}

/* mmap offset stride between queues, fixed by the ABI. */
static inline size_t zublk_descs_stride(void)
{
	return zublk_descs_size(UBLK_MAX_QUEUE_DEPTH);
}

/*
 * Task work of @cmd runs where the command must not execute: on a task
 * that did not submit it, or on a dying one.  @cancel is io_uring's word
 * for it (ZUBLK_TW_CB in compat.h): current is exiting (PF_EXITING) or is
 * io_uring's fallback kworker (PF_KTHREAD: the submitter is gone, or a
 * DEFER_TASKRUN ring is torn down; 7.x also when the ring is dying);
 * there current->mm may be NULL.
 */
static inline bool zublk_tw_dead(struct io_uring_cmd *cmd, bool cancel)
{
	return unlikely(cancel || !current->mm ||
			io_uring_cmd_get_task(cmd) != current);
}

static inline struct zublk_cmd_pdu *zublk_pdu(struct io_uring_cmd *cmd)
{
	return io_uring_cmd_to_pdu(cmd, struct zublk_cmd_pdu);
}

/* Count @n on @q's counter @s from the queue's server task. */
static inline void zublk_stat_own(struct zublk_queue *q, enum zublk_stat s,
				  u64 n)
{
	WRITE_ONCE(q->stats.own[s], q->stats.own[s] + n);
}

/* Count @n on @q's counter @s from any task. */
static inline void zublk_stat_any(struct zublk_queue *q, enum zublk_stat s,
				  u64 n)
{
	atomic64_add(n, &q->stats.any[s]);
}

/* ctrl.c */
int zublk_wait_done(struct completion *done);
int zublk_ctrl_uring_cmd(struct io_uring_cmd *cmd, unsigned int issue_flags);
void zublk_remove_all(void);

/* cdev.c */
int zublk_add_chdev(struct zublk_dev *dev);
void zublk_cancel_cmds(struct zublk_dev *dev);

/* blkmq.c */
int zublk_init_tag_set(struct zublk_dev *dev);
int zublk_start_disk(struct zublk_dev *dev);
void zublk_stop_disk(struct zublk_dev *dev);
void zublk_part_scan_work(struct work_struct *work);
void zublk_fail_pending(struct zublk_queue *q);
void zublk_put_req(struct zublk_queue *q, struct zublk_io *io,
		   struct request *rq);

/* recovery.c */
int zublk_check_recovery_flags(u64 flags);
int zublk_nosrv_res(const struct zublk_dev *dev, bool owned);
void zublk_abort_dev(struct zublk_dev *dev);
void zublk_abort_cancel(struct zublk_queue *q);
void zublk_recovery_stop(struct zublk_dev *dev);
int zublk_ctrl_start_recovery(struct zublk_dev *dev);
int zublk_ctrl_end_recovery(struct zublk_dev *dev,
			    const struct ublksrv_ctrl_cmd *h);
u16 zublk_dev_state(const struct zublk_dev *dev);
void zublk_stop_watch_start(struct zublk_dev *dev);
void zublk_stop_watch_end(struct zublk_dev *dev);
void zublk_stop_watch_work(struct work_struct *work);
void zublk_apply_timeout(struct zublk_dev *dev, struct gendisk *disk);
enum blk_eh_timer_return zublk_timeout(struct request *rq);

/* Result a request aborted on a dead server ends with: requeue it. */
#define ZUBLK_RES_REQUEUE	INT_MIN

/* copy.c */
int zublk_copy_to_server(struct zublk_queue *q, struct zublk_io *io,
			 struct request *rq, u64 addr);
int zublk_copy_from_server(struct zublk_queue *q, struct zublk_io *io,
			   struct request *rq, u64 addr, unsigned int len);
bool zublk_copy_lost_server(struct zublk_queue *q);
ssize_t zublk_copy_user(struct request *rq, size_t off, struct iov_iter *iter,
			int dir);
int zublk_store_copy(struct zublk_queue *q, struct request *rq, int result,
		     u64 off);

/* pin.c */
void zublk_pinned_iter(const struct zublk_pinned *p, unsigned int dir, u64 off,
		       size_t len, struct iov_iter *iter);
struct zublk_pinned *zublk_pin_buf(struct zublk_queue *q, u16 tag, u64 addr);
void zublk_drop_buf(struct zublk_queue *q, struct zublk_pinned *p, bool own);
int zublk_register_store(struct zublk_dev *dev, struct io_uring_cmd *cmd);
void zublk_unpin_all(struct zublk_dev *dev);

/* stats.c */
void zublk_stats_init(void);
void zublk_stats_exit(void);
void zublk_stats_add_dev(struct zublk_dev *dev);
void zublk_stats_del_dev(struct zublk_dev *dev);

#endif /* ZUBLK_H */
