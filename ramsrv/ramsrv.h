/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ramsrv: a ublk-protocol userspace server with RAM and null targets.
 * Shared declarations.
 *
 * Processes and threads of a server (`ramsrv add` / `ramsrv recover`):
 *  - the launcher (daemon.c, without --foreground): forks the server, reads
 *    its first line from a pipe ("OK ID BDEV" or "E message"), prints it and
 *    exits; the server runs on in its own session.
 *  - the main thread (dev.c, rs_serve): negotiates the device, starts the
 *    queue threads one at a time (each hands its setup result back through
 *    rs_queue.ready), starts the device, then sleeps in sigwaitinfo() until
 *    a signal says stop, and tears down: STOP_DEV, join the queue threads,
 *    DEL_DEV, the target's fini, the state file.
 *  - one queue thread per hardware queue (queue.c), pinned to the queue's
 *    CPUs: allocates the queue's io buffers, sets up its ring, submits a
 *    FETCH per tag, then handles requests until every command has completed
 *    (STOP_DEV aborts them) or abort_now says leave. With --threads N below
 *    the queue count, N threads: thread i serves queues i, i + N, ... through
 *    one ring, pinned to the union of their CPUs (rs_dev.nr_threads). With
 *    --threads N above the queue count (UBLK_F_PER_IO_DAEMON, rs_dev.per_io)
 *    the tags are spread instead: tag t of queue q goes to thread
 *    (q * depth + t) mod N, which FETCHes it and so becomes its daemon;
 *    each thread has its own view of every queue (its counters, its
 *    scratch) and counts into rs_state.thr[i].
 * Nothing else runs: no helper threads, no SQPOLL.
 *
 * Signals. Before any queue thread exists, rs_serve blocks SIGTERM, SIGINT,
 * SIGHUP, SIGUSR1 and SIGUSR2; threads inherit the mask and queue threads
 * unblock SIGUSR2 only. So the process-directed signals below wait, pending,
 * for the main thread's sigwaitinfo() and never interrupt a queue thread.
 *  - SIGTERM (`ramsrv del`), SIGINT, SIGHUP -> process: the main thread
 *    leaves its wait and tears the device down.
 *  - SIGUSR1, queue thread -> process (kill(getpid())): the thread's loop
 *    ended while the main thread was not stopping (the driver dropped the
 *    queue, or io_uring_enter failed). The main thread warns "a queue
 *    failed, stopping" and tears down. Sent during setup, it stays pending
 *    until the wait.
 *  - SIGUSR2, main thread -> one queue thread (pthread_kill, rs_queue_kick):
 *    only after setting abort_now, when STOP_DEV cannot end the queue's
 *    commands (the device never started) or did not within 10 s. Its
 *    handler does nothing and is installed without SA_RESTART, so a sleeping
 *    io_uring_enter returns -EINTR and the thread sees abort_now and leaves.
 *    A kick can land before the thread sleeps: stop_queues repeats it every
 *    100 ms until the thread is joined.
 *
 * Data shared between the threads: stopping and abort_now (struct rs_dev,
 * atomics; their orders are given there); rs_queue.setup_ret, and what a
 * queue thread's setup writes (rs_last_err, rs_huge_warned, the queue's
 * buffer), are ordered by the ready semaphore; everything else a queue
 * thread touched is read by the main thread only after joining it. The
 * rs_qstate counters are written by their queue thread only and read by
 * other processes (list, stats) without ordering: figures, not flags.
 */
#ifndef RAMSRV_H
#define RAMSRV_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sched.h>
#include <time.h>
#include <sys/types.h>
#include <pthread.h>
#include <semaphore.h>
#include <linux/ublk_cmd.h>
#include "../include/zublk.h"	/* zublk's ABI extensions */

#define RS_MAX_QUEUES		64
#define RS_MAX_THREADS		RS_MAX_QUEUES	/* --threads above the queues (per-io) */
#ifndef UBLK_F_PER_IO_DAEMON
#define UBLK_F_PER_IO_DAEMON	(1ULL << 13)	/* ublk_drv 6.16+ */
#endif
#define RS_MAX_DEPTH		UBLK_MAX_QUEUE_DEPTH
#define RS_HUGEPAGE_SIZE	(2UL << 20)
#define RS_STATE_DIR		"/run/ramsrv"
#define RS_DEF_DEPTH		128
#define RS_DEF_MAX_IO		(256U << 10)
#define RS_MAX_MAX_IO		(32U << 20)
#define RS_DEF_SIZE		(1ULL << 30)
#define RS_DEF_SPIN		50	/* polls before sleeping, RAMSRV_SPIN */
#define RS_MAX_DEV_ID		((1U << 20) - 1)
#define RS_PATH_MAX		320
#define RS_MAX_ENTS		1024	/* devices list/del --all handle */

enum rs_huge { RS_HUGE_AUTO, RS_HUGE_ON, RS_HUGE_OFF };	/* same order as rs_pin */

/*
 * What the driver does with IO while the server is dead (--recovery), until
 * `ramsrv recover` starts a new one: off (fail it, the device is gone),
 * queue (hold new IO; requests the dead server held fail), reissue (hold
 * all, the dead server's requests are issued again), fail (fail all IO at
 * once, the device stays for recovery).
 */
enum rs_recovery { RS_REC_OFF, RS_REC_QUEUE, RS_REC_REISSUE, RS_REC_FAIL };

/*
 * How data moves between a request's pages and the target (--copy):
 * classic: the driver copies to/from the FETCH io buffer, the target copies
 *          between io buffer and store (two copies for ram); on zublk the
 *          buffers are pinned once (ZUBLK_F_PIN_BUF, --pin) when offered;
 * single:  one copy. ZUBLK_F_STORE when offered: the driver copies between
 *          the request and the registered store within the commit; else
 *          UBLK_F_USER_COPY: the server pread()s/pwrite()s the char node
 *          straight to/from the store;
 * none:    a null target that never moves data (STORE committing
 *          ZUBLK_STORE_NONE, else USER_COPY without a copy);
 * zc:      upstream zero copy (UBLK_F_AUTO_BUF_REG, ublk_drv 6.16+): the
 *          driver registers each request's pages in the queue ring's
 *          buffer table; ram moves them once by an io_uring READ_FIXED /
 *          WRITE_FIXED on its store file (one more io_uring op per IO),
 *          null never touches them;
 * zc-explicit: the same data path, with UBLK_F_SUPPORT_ZERO_COPY (6.15+):
 *          the server registers and unregisters the pages itself, a
 *          REGISTER_IO_BUF -> data op -> UNREGISTER_IO_BUF chain per IO;
 * auto:    the cheapest the driver offers (STORE, zc when the store may
 *          be a file, USER_COPY, classic: see copy_auto()).
 */
enum rs_copy_mode { RS_COPY_AUTO, RS_COPY_CLASSIC, RS_COPY_SINGLE, RS_COPY_NONE,
		    RS_COPY_ZC, RS_COPY_ZC_REG };

/* --pin: ZUBLK_F_PIN_BUF for classic io buffers (auto: when offered) */
enum rs_pin { RS_PIN_AUTO, RS_PIN_ON, RS_PIN_OFF };	/* same order as rs_huge */

/* a resolved --copy/--pin: the mode and the ADD_DEV flags it needs */
struct rs_copy_plan {
	enum rs_copy_mode mode;
	bool ucopy;		/* UBLK_F_USER_COPY */
	bool store;		/* ZUBLK_F_STORE */
	bool pin;		/* ZUBLK_F_PIN_BUF */
	bool zc;		/* zero copy: UBLK_F_AUTO_BUF_REG, or with zc_reg */
	bool zc_reg;		/* UBLK_F_SUPPORT_ZERO_COPY (zc-explicit) */
};

/* ---- options (cli.c / util.c) ---- */
struct rs_opts {
	char target[16];	/* "null" or "ram" */
	uint64_t size;		/* bytes, 0 = default */
	bool size_set;
	unsigned int queues;
	unsigned int depth;
	unsigned int bs;
	unsigned int max_io;
	enum rs_huge huge;
	char backing[256];
	char ctrl[128];
	int id;			/* -1 = any */
	bool foreground;
	enum rs_copy_mode copy;
	enum rs_pin pin;
	enum rs_recovery recovery;
	unsigned int threads;	/* --threads: server threads, 0 = one per queue */
	bool batch;		/* --batch: UBLK_F_BATCH_IO */
};

/* CLOCK_MONOTONIC in ns: the handling and copy timings */
static inline uint64_t rs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- pure helpers (util.c, unit tested) ---- */
int rs_parse_size(const char *s, uint64_t *out);
int rs_parse_uint(const char *s, unsigned long max, unsigned long *out);
void rs_opts_default(struct rs_opts *o);
/* Validate option values; on error returns -EINVAL and fills msg. */
int rs_opts_validate(const struct rs_opts *o, char *msg, size_t len);
/* /dev/<prefix>-control -> /dev/<prefix>cN and /dev/<prefix>bN. */
int rs_dev_paths(const char *ctrl, int id, char *cdev, size_t clen,
		 char *bdev, size_t blen);
/* Pick the node serving most of the CPUs in @mask; cpu_node maps cpu->node
 * (-1 = unknown). Returns 0 when nothing is known. */
int rs_pick_node(const cpu_set_t *mask, const int *cpu_node, int ncpus);
int rs_cpulist(const cpu_set_t *mask, int ncpus, char *buf, size_t len);
const char *rs_copy_name(enum rs_copy_mode m);
int rs_copy_parse(const char *s, enum rs_copy_mode *out);
struct target_ops;
/*
 * Resolve --copy and --pin for target @tgt given the driver's features
 * (@feat_known false: GET_FEATURES unavailable, assume none); @zc_store:
 * the target's store may be a file io_uring writes (rs_target_store_writable),
 * so auto may pick zc. Returns 0 and
 * fills *out, or -EINVAL (a bad combination) / -EOPNOTSUPP (the driver lacks
 * what was asked for) with msg.
 */
int rs_copy_resolve(const struct target_ops *tgt, enum rs_copy_mode want, enum rs_pin pin,
		    uint64_t feat, bool feat_known, bool zc_store, struct rs_copy_plan *out,
		    char *msg, size_t len);
/* "buf", "pinned", "ucopy", "store", "autobuf", "regbuf": how a resolved plan moves data */
const char *rs_copy_path(const struct rs_copy_plan *p);

const char *rs_recovery_name(enum rs_recovery r);
int rs_recovery_parse(const char *s, enum rs_recovery *out);
/*
 * ADD_DEV flags for --recovery @r given the driver's features. Returns 0
 * and sets *flags, or -EOPNOTSUPP with msg when the driver lacks a bit.
 */
int rs_recovery_flags(enum rs_recovery r, uint64_t feat, bool feat_known,
		      uint64_t *flags, char *msg, size_t len);
/* UBLK_S_DEV_* -> "LIVE", "QUIESCED", "FAIL_IO", "DEAD" */
const char *rs_dev_state_name(int state);

/* a queue's driver counters (zublk debugfs, include/zublk.h) */
#define RS_DRV_ENUM(id, name, what)	RS_DRV_##id,
enum {
	ZUBLK_QSTATS(RS_DRV_ENUM)
	RS_DRV_NR
};
#undef RS_DRV_ENUM
extern const char *const rs_drv_names[RS_DRV_NR];
struct rs_drvq {
	uint64_t v[RS_DRV_NR];
	uint32_t seen;		/* bit per counter found */
};
/* Parse "name value" lines; unknown names are skipped. Counters found. */
int rs_drv_parse(const char *text, struct rs_drvq *out);

/* user_data packing for queue ring CQEs: tag 0-15, op 16-23, q_id 24-39
 * (one ring serves several queues with --threads) */
#define RS_UD_OP_FETCH	1U
#define RS_UD_OP_COMMIT	2U
#define RS_UD_OP_DATA	3U	/* zc: the fixed-buffer op; bits 40-63: its commit result */
#define RS_UD_RES_SHIFT	40	/* ... in 512-byte sectors (RS_MAX_MAX_IO fits) */
#define RS_UD_OP_BUFREG	4U	/* zc-explicit: REGISTER/UNREGISTER_IO_BUF (CQE on failure) */
#define RS_UD_OP_PREP	5U	/* --batch: PREP_IO_CMDS (COMMIT: tag = elements) */
static inline uint64_t rs_ud_pack(unsigned int q_id, unsigned int tag,
				  unsigned int op)
{
	return ((uint64_t)(q_id & 0xffffU) << 24) | ((uint64_t)(op & 0xffU) << 16) |
	       (tag & 0xffffU);
}
static inline unsigned int rs_ud_tag(uint64_t ud) { return ud & 0xffffU; }
static inline unsigned int rs_ud_op(uint64_t ud) { return (ud >> 16) & 0xffU; }
static inline unsigned int rs_ud_q(uint64_t ud) { return (ud >> 24) & 0xffffU; }

/* ---- logging (util.c) ---- */
extern char rs_last_err[256];
extern bool rs_quiet;
void rs_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *rs_memlock_hint(int err);
void rs_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- shared state file (/run/ramsrv/<ctrl name>/<id>/state) ---- */
#define RS_STATE_MAGIC	0x72616d7372763032ULL	/* "ramsrv02" */
/* RAMSRV_SPIN_POLICY: how a queue thread polls its ring (queue.c) */
enum rs_spin_policy { RS_SPIN_FIXED, RS_SPIN_ADAPTIVE, RS_SPIN_HYBRID };

enum rs_dev_state { RS_ST_STARTING = 1, RS_ST_LIVE, RS_ST_STOPPING, RS_ST_STOPPED };

struct rs_qstate {
	/* written by the queue thread only */
	uint64_t reqs;
	uint64_t bytes;
	uint64_t enters;
	uint64_t cqes;
	uint64_t handle_ns;	/* ns in the request-handling loop (its copies included) */
	uint64_t sleeps;	/* enters that waited for a CQE */
	uint64_t copy_bytes;	/* bytes the server's memcpy moved */
	uint64_t copies;	/* memcpy calls doing so (one per request) */
	uint64_t ucopy_bytes;	/* bytes moved by pread/pwrite on the char node */
	uint64_t ucopies;	/* pread/pwrite transfers doing so */
	uint64_t data_ops;	/* io_uring ops moving data (zc: READ/WRITE_FIXED) */
	uint64_t data_op_bytes;	/* bytes those ops were asked to move (short: the request fails) */
	/* fixed after setup */
	int32_t node;		/* NUMA node of the buffers (-1 unknown) */
	int32_t want_node;	/* node chosen from the queue's CPUs */
	uint32_t huge;		/* 1 = hugepage buffers */
	uint32_t tid;
	uint64_t buf_addr;
	uint64_t buf_len;
	char cpus[64];
	uint64_t buf_cmds;	/* zc-explicit: REGISTER/UNREGISTER_IO_BUF commands */
	/* --batch (UBLK_F_BATCH_IO): requests per fetch CQE / per commit */
	uint64_t batch_fetches;	/* FETCH_IO_CMDS CQEs that carried tags */
	uint64_t batch_commits;	/* COMMIT_IO_CMDS commands sent */
	uint64_t cmds;		/* uring commands to the char node: FETCH, COMMIT_AND_FETCH,
				 * REGISTER/UNREGISTER_IO_BUF, PREP/FETCH/COMMIT_IO_CMDS */
} __attribute__((aligned(64)));

struct rs_state {
	uint64_t magic;
	int32_t dev_id;
	int32_t pid;
	uint32_t state;
	uint32_t nr_queues;
	uint32_t depth;
	uint32_t bs;
	uint32_t max_io;
	uint32_t store_huge;	/* ram store on hugepages */
	uint64_t size;
	char target[16];
	char ctrl[128];
	char bdev[64];
	char backing[256];
	char store_policy[32];
	char copy[48];		/* copy routine */
	char copy_mode[16];	/* classic, single, none, zc, zc-explicit */
	char copy_path[16];	/* how copy_mode runs: buf, pinned, ucopy, store, autobuf, regbuf */
	char recovery[16];	/* --recovery: off, queue, reissue, fail */
	uint32_t huge_opt;	/* --hugepages (enum rs_huge), for recover */
	uint32_t recoveries;	/* times `ramsrv recover` restarted the server */
	uint64_t dev_flags;	/* flags ADD_DEV granted */
	uint32_t nr_threads;	/* server threads (--threads, else nr_queues) */
	struct rs_qstate q[RS_MAX_QUEUES];
	/*
	 * nr_threads > nr_queues (UBLK_F_PER_IO_DAEMON, the "tags" layout: tag
	 * t of queue q to thread (q * depth + t) mod N): the threads' counters
	 * (q[]'s stay 0); else the "queues" layout, thread i: queues i, i + N, ...
	 */
	struct rs_qstate thr[RS_MAX_THREADS];
};

/* a device with state: its control node's name ("zublk-control") and id */
struct rs_ent {
	char ctrl[64];
	int id;
};
/* @ctrl: a control node path or just its name; only the name is used */
const char *rs_ctrl_base(const char *ctrl);
int rs_state_path(const char *ctrl, int id, const char *file, char *buf,
		  size_t len);
int rs_state_create(const char *ctrl, int id, struct rs_state **out);
int rs_state_open(const char *ctrl, int id, struct rs_state **out); /* read-only */
void rs_state_close(struct rs_state *st);
void rs_state_remove(const char *ctrl, int id);
int rs_state_list(const char *ctrl, struct rs_ent *ents, int max);

/* ---- control (ctrl.c) ---- */
struct zu_ctrl;
struct rs_ctrl {
	bool ioctl_enc;
	uint64_t features;
	struct zu_ctrl *ring;	/* lib/uring_cmd.h: the node and its ring */
};
int rs_ctrl_open(struct rs_ctrl *c, const char *path);
void rs_ctrl_close(struct rs_ctrl *c);
int rs_ctrl_add(struct rs_ctrl *c, struct ublksrv_ctrl_dev_info *info);
int rs_ctrl_set_params(struct rs_ctrl *c, int id, struct ublk_params *p);
int rs_ctrl_get_affinity(struct rs_ctrl *c, int id, int q, cpu_set_t *set);
int rs_ctrl_start(struct rs_ctrl *c, int id, int pid);
int rs_ctrl_stop(struct rs_ctrl *c, int id);
int rs_ctrl_del(struct rs_ctrl *c, int id);
int rs_ctrl_get_info(struct rs_ctrl *c, int id, struct ublksrv_ctrl_dev_info *info);
int rs_ctrl_start_recovery(struct rs_ctrl *c, int id);
int rs_ctrl_end_recovery(struct rs_ctrl *c, int id, int pid);

/* ---- targets (target.c; tgt_*.c) ---- */
struct rs_dev;
struct rs_queue;

/*
 * What a target can do (target_ops.caps): the core checks options and
 * picks the data path by these, never by a target's name.
 * DATA:     it keeps what is written (a disk). Without it the target moves
 *           no data: --copy none is allowed, and in single mode the core
 *           gives each request a scratch buffer (or a scratch store) to copy
 *           to/from, so the cost of the copy shows without a store.
 * BACKING:  it takes --backing FILE.
 * RECOVER_NEEDS_BACKING: its data lives in the server's memory unless
 *           backed by a file: --recovery needs --backing.
 */
#define RS_TGT_DATA			(1U << 0)
#define RS_TGT_BACKING			(1U << 1)
#define RS_TGT_RECOVER_NEEDS_BACKING	(1U << 2)

/*
 * A target does target logic only: where a request's data lives and what an
 * op means. How the data reaches the request (classic io buffer, user copy,
 * store) is the device's data path (d->path), which the core chose.
 */
struct target_ops {
	const char *name;	/* -t NAME */
	unsigned int caps;	/* RS_TGT_* */
	/*
	 * set up the store (and d->tgt_data); fill attrs for SET_PARAMS. Runs
	 * after the core chose d->path; in store mode [d->store, + store_len)
	 * is the region the core registers.
	 */
	int (*init)(struct rs_dev *d);
	/*
	 * handle one request; returns the result for COMMIT (bytes or
	 * -errno). READ and WRITE move data with rs_path_to_req() and
	 * rs_path_from_req().
	 */
	int (*handle)(struct rs_queue *q, unsigned int tag,
		      const struct ublksrv_io_desc *iod);
	/*
	 * optional: with options @o (before init), the store can be a file
	 * io_uring writes, which zc needs (its data op is a READ_FIXED /
	 * WRITE_FIXED on the store), so --copy auto may pick zc. Unset: the
	 * target has no store (null), the answer is no.
	 */
	bool (*store_writable)(const struct rs_opts *o);
	/* flush everything to the backing, free the store (on exit; also
	 * after a failed or skipped init) */
	void (*fini)(struct rs_dev *d);
};
extern const struct target_ops tgt_null_ops;
extern const struct target_ops tgt_ram_ops;

/* the target named @name, or NULL */
const struct target_ops *rs_target_find(const char *name);
/*
 * "-t null or -t ram": the targets whose caps & @mask equal @want (all for
 * mask 0), into @buf.
 */
const char *rs_target_list(char *buf, size_t len, unsigned int mask,
			   unsigned int want);
/* @tgt's store_writable(@o), false when it has none */
bool rs_target_store_writable(const struct target_ops *tgt, const struct rs_opts *o);
/* choose the data path, then the target's init; 0 or -errno */
int rs_target_init(struct rs_dev *d);
/* the target's fini, then the data path's (safe before init, NULL tgt) */
void rs_target_fini(struct rs_dev *d);

/*
 * A device's data path (copy.c), chosen once by rs_path_init() from the
 * resolved copy mode and the target's caps. The movers take the target's
 * data for the request (NULL for a target without RS_TGT_DATA) and return
 * 0 or -errno:
 * buf:   memcpy between the tag's io buffer and @data (classic);
 * ucopy: pread/pwrite on the char node (single, UBLK_F_USER_COPY);
 * store: name @data's store offset for the driver's copy (single, STORE);
 * the scratch variants of ucopy and store for a target without data, and
 * none (classic or none without data) that moves nothing.
 */
struct rs_path {
	const char *name;	/* the state's "copy" (buf: the copy routine) */
	bool scratch;		/* user copy: one max-io scratch buffer per queue */
	/* @data -> the request's pages (READ) */
	int (*to_req)(struct rs_queue *q, unsigned int tag, const void *data,
		      size_t len);
	/* the request's pages -> @data (WRITE) */
	int (*from_req)(struct rs_queue *q, unsigned int tag, void *data,
			size_t len);
};
/* pick d->path, set the state's "copy", give a target without data its
 * scratch store; 0 or -errno */
int rs_path_init(struct rs_dev *d);
void rs_path_fini(struct rs_dev *d);

/* ---- data copy (copy.c) ---- */
const char *rs_copy_init(void);	/* pick the faster copy; returns a description */
void rs_copy(void *dst, const void *src, size_t len);

/* ---- buffers (buf.c) ---- */
struct rs_buf {
	void *addr;
	size_t len;
	bool huge;
	int node;
};
int rs_buf_alloc(struct rs_buf *b, size_t len, int node, enum rs_huge huge,
		 const char *who);
void rs_buf_free(struct rs_buf *b);
int rs_addr_node(void *addr);
int rs_cpu_node(int cpu);
int rs_free_hugepages(void);
extern int rs_huge_warned;	/* one fallback warning per server */

/* ---- device / queues (queue.c, dev.c) ---- */
struct rs_queue {
	struct rs_dev *dev;
	int q_id;
	int cdev_fd;
	const struct ublksrv_io_desc *descs;
	size_t descs_len;
	struct rs_buf buf;
	cpu_set_t cpus;
	int node;
	struct rs_qstate *st;
	uint64_t store_off;	/* STORE: the commit addr handle() chose */
	/* zc: the fixed-buffer op handle() asked for (0: none), on the store file */
	uint8_t zc_op;		/* IORING_OP_READ_FIXED or IORING_OP_WRITE_FIXED */
	uint32_t zc_len;
	uint64_t zc_off;
	struct rs_batch *batch;	/* --batch: the queue's batch state (batch.c) */
	pthread_t thread;
	int setup_ret;		/* result of ring setup + fetches */
	bool started;
	sem_t ready;
};

struct rs_dev {
	struct rs_opts opts;
	struct rs_ctrl ctrl;
	struct ublksrv_ctrl_dev_info info;
	const struct target_ops *tgt;
	void *tgt_data;		/* the target's, per device */
	struct rs_path path;	/* chosen once, see rs_path_init() */
	struct rs_state *st;
	struct rs_queue q[RS_MAX_QUEUES];
	unsigned int nr_queues;
	/*
	 * server threads: thread i (queue i's, i < nr_threads) serves queues
	 * i, i + nr_threads, ... through one ring; nr_queues by default (set
	 * with the geometry, before any queue starts: never 0)
	 */
	unsigned int nr_threads;
	/*
	 * nr_threads > nr_queues (UBLK_F_PER_IO_DAEMON granted): thread i
	 * serves the tags t of queues q with (q * depth + t) % nr_threads == i;
	 * thr[i] is its handle (thread, ready, its counters in st->thr[i], its
	 * scratch buffer); the queues' descriptors and io buffers are mapped
	 * and allocated by the main thread (rs_per_io_prepare)
	 */
	bool per_io;
	struct rs_queue thr[RS_MAX_THREADS];
	unsigned int depth;
	unsigned int max_io;
	uint64_t size;
	char cdev[64];
	char bdev[64];
	int cdev_fd;
	/*
	 * the target's data (a scratch store from rs_path_init() for a target
	 * without data); in store mode [store, store + store_len) is registered
	 */
	void *store;
	size_t store_len;
	bool store_huge;
	uint32_t attrs;		/* UBLK_ATTR_* */
	bool ioctl_io;		/* ioctl-encoded IO opcodes */
	enum rs_copy_mode copy;	/* resolved --copy */
	bool user_copy;		/* UBLK_F_USER_COPY: no io buffers */
	bool store_mode;	/* ZUBLK_F_STORE: no io buffers, commit store offsets */
	bool pin;		/* ZUBLK_F_PIN_BUF granted */
	bool zc;		/* zero copy: no io buffers, data ops on store_fd */
	bool zc_reg;		/* ... registered by the server (SUPPORT_ZERO_COPY), else AUTO_BUF_REG */
	int store_fd;		/* zc: the store as a file (ram; -1 without data) */
	bool recover;		/* re-attach to a device whose server died */
	bool batch;		/* UBLK_F_BATCH_IO granted: batch.c serves the queues */
	uint32_t recoveries;	/* carried over in the state file */
	unsigned int spin;	/* RAMSRV_SPIN: polls before sleeping (at most) */
	enum rs_spin_policy spin_policy;	/* RAMSRV_SPIN_POLICY */
	/*
	 * Main thread is stopping the device: set (relaxed) before STOP_DEV; a
	 * queue thread whose loop ended reads it (relaxed) to decide on
	 * SIGUSR1. No data rides on it. A loop that ended because of STOP_DEV
	 * took the abort completions with the CQ ring's acquire of its tail,
	 * after the kernel posted them for the STOP_DEV the store precedes, so
	 * it sees the store; a queue failing on its own meanwhile may raise a
	 * SIGUSR1 nobody waits for any more: harmless.
	 */
	atomic_bool stopping;
	/*
	 * Queue threads must leave their loop now, whatever is in flight: set
	 * (relaxed) by the main thread before each SIGUSR2 kick; read (relaxed)
	 * by a queue thread after each io_uring_enter. No data rides on it,
	 * and a thread that misses it is kicked again until joined.
	 */
	atomic_bool abort_now;
	int nodes[RS_MAX_QUEUES];
	int nr_nodes;
};

enum rs_spin_policy rs_spin_policy(const char *name);
/* spawn the thread of queue @q (q_id < nr_threads) serving it and the
 * queues it takes along, or (per-io) of handle d->thr[i] serving its tags;
 * wait for their fetches; 0 or -errno */
int rs_queue_start(struct rs_queue *q);
/* per-io: map every queue, allocate its io buffers, set up the thread
 * handles d->thr[]; 0 or -errno (rs_queue_join of each undoes it) */
int rs_per_io_prepare(struct rs_dev *d);
/* the handle of server thread @i: d->thr[i] (per-io) or d->q[i] */
static inline struct rs_queue *rs_thread_q(struct rs_dev *d, unsigned int i)
{
	return d->per_io ? &d->thr[i] : &d->q[i];
}
void rs_queue_join(struct rs_queue *q);
void rs_queue_kick(struct rs_queue *q);
/* ZUBLK_U_IO_REGISTER_STORE of d->store; before any FETCH. 0 or -errno */
int rs_store_register(struct rs_dev *d);

int rs_serve(struct rs_dev *d, int live_fd);

/*
 * ---- batched IO (batch.c), UBLK_F_BATCH_IO: the queue thread's ring with
 * the char node registered at index 0 ----
 */
struct io_uring;
/* buffers, PREP_IO_CMDS of every tag, the multishot fetch: 0 or -errno */
int rs_batch_start(struct rs_queue *q, struct io_uring *ring, const char *who);
/* handle the CQ, commit in one command; the commands gone for good */
int rs_batch_complete(struct rs_queue *q, struct io_uring *ring);
void rs_batch_free(struct rs_queue *q);	/* after the ring is gone; idempotent */

/* ---- upstream zero copy's data op (zc.c), on @ring's buffer table ---- */
struct io_uring_cqe;
/*
 * queue the data op handle() named for @q's @tag on table slot @slot (with
 * zc-explicit between REGISTER_IO_BUF and UNREGISTER_IO_BUF); its CQE
 * carries @res.  False when there is none (null, not a READ/WRITE, @res < 0,
 * no SQE): the caller commits @res itself.
 */
bool rs_zc_submit(struct io_uring *ring, struct rs_queue *q, unsigned int tag,
		  unsigned int slot, int res);
/* a data op's CQE: the result to commit for its request */
int rs_zc_result(const struct io_uring_cqe *cqe, const char *who);

/* a target moves a READ's data to the request / a WRITE's from it */
static inline int rs_path_to_req(struct rs_queue *q, unsigned int tag,
				 const void *data, size_t len)
{
	return q->dev->path.to_req(q, tag, data, len);
}
static inline int rs_path_from_req(struct rs_queue *q, unsigned int tag,
				   void *data, size_t len)
{
	return q->dev->path.from_req(q, tag, data, len);
}

/* ---- user copy (ucopy.c): move a request's data through the char node ---- */
static inline off_t rs_ucopy_pos(unsigned int q_id, unsigned int tag, size_t off)
{
	return (off_t)(UBLKSRV_IO_BUF_OFFSET +
		       ((uint64_t)q_id << UBLK_QID_OFF) +
		       ((uint64_t)tag << UBLK_TAG_OFF) + off);
}
/* request pages -> @dst (WRITE requests); 0 or -errno. Counts st->ucopies. */
int rs_ucopy_from_req(struct rs_queue *q, unsigned int tag, void *dst, size_t len);
/* @src -> request pages (READ requests); 0 or -errno */
int rs_ucopy_to_req(struct rs_queue *q, unsigned int tag, const void *src, size_t len);

#endif
