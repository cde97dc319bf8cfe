/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * zublk extensions to the ublk ABI of <linux/ublk_cmd.h>.
 *
 * Everything here is optional: a server that never sets these flags sees
 * exactly the upstream ABI, and a server that wants them must first check
 * that ZUBLK_U_CMD_GET_EXT_FEATURES (below; or, on a zublk that lacks it,
 * UBLK_U_CMD_GET_FEATURES) reports them (the in-tree ublk_drv never does;
 * a zublk too old to know one does not either).  Ask for a feature
 * by setting its bit in ublksrv_ctrl_dev_info.flags at ADD_DEV; zublk
 * answers ADD_DEV with the flags it granted.
 *
 * The bits are taken from the top of the 64-bit flags word so that they
 * can never meet upstream's, which grow from bit 0 (bit 19 in 2026).
 */
#ifndef ZUBLK_UAPI_H
#define ZUBLK_UAPI_H

#include <linux/types.h>
#include <linux/ioctl.h>
#include <linux/ublk_cmd.h>

/* Upstream ABI (6.13) that the 6.12 <linux/ublk_cmd.h> lacks. */
#ifndef UBLK_F_USER_RECOVERY_FAIL_IO
#define UBLK_F_USER_RECOVERY_FAIL_IO	(1ULL << 9)
#endif
#ifndef UBLK_S_DEV_FAIL_IO
#define UBLK_S_DEV_FAIL_IO	3
#endif

/*
 * Upstream zero copy by io_uring buffer registration (6.15, 6.16), which
 * ramsrv's --copy zc speaks to the in-tree ublk_drv; zublk offers neither.
 * SUPPORT_ZERO_COPY: the server registers a request's pages in its ring's
 * sparse buffer table itself (REGISTER_IO_BUF, addr = table index) and
 * drops them after its last fixed-buffer op (UNREGISTER_IO_BUF).
 * AUTO_BUF_REG: the driver does both, registering the pages of the request
 * a FETCH or COMMIT_AND_FETCH delivers at the index that command's SQE
 * names in sqe->addr (not in ublksrv_io_cmd.addr, which stays 0), and
 * dropping them at the request's commit.
 */
#ifndef UBLK_F_SUPPORT_ZERO_COPY
#define UBLK_F_SUPPORT_ZERO_COPY	(1ULL << 0)
#endif
#ifndef UBLK_F_AUTO_BUF_REG
#define UBLK_F_AUTO_BUF_REG		(1ULL << 11)
#endif
#ifndef UBLK_U_IO_REGISTER_IO_BUF
#define UBLK_U_IO_REGISTER_IO_BUF	_IOWR('u', 0x23, struct ublksrv_io_cmd)
#define UBLK_U_IO_UNREGISTER_IO_BUF	_IOWR('u', 0x24, struct ublksrv_io_cmd)
#endif
#ifndef UBLK_AUTO_BUF_REG_FALLBACK
/*
 * AUTO_BUF_REG's per-command request, carried in sqe->addr as
 * index | flags << 16 | reserved0 << 24 | reserved1 << 32 (reserved: 0).
 * FALLBACK: if the registration fails, deliver the request anyway with
 * UBLK_IO_F_NEED_REG_BUF in its descriptor's flags (else it fails).
 */
#define UBLK_AUTO_BUF_REG_FALLBACK	(1 << 0)
#define UBLK_AUTO_BUF_REG_F_MASK	UBLK_AUTO_BUF_REG_FALLBACK
#define UBLK_IO_F_NEED_REG_BUF		(1U << 17)
struct ublk_auto_buf_reg {
	__u16	index;		/* sparse buffer table slot */
	__u8	flags;		/* UBLK_AUTO_BUF_REG_* */
	__u8	reserved0;
	__u32	reserved1;
};
#endif
/* the sqe->addr that asks AUTO_BUF_REG for table slot @index */
static inline __u64 zublk_auto_buf_reg_addr(__u16 index, __u8 flags)
{
	return (__u64)index | (__u64)flags << 16;
}

/*
 * Batched IO commands (UBLK_F_BATCH_IO, 7.0), with their upstream numbers
 * and layouts; a <linux/ublk_cmd.h> that has UBLK_U_IO_PREP_IO_CMDS has
 * all of them.  A device added with the flag takes no FETCH_REQ or
 * COMMIT_AND_FETCH_REQ: PREP_IO_CMDS hands the driver a queue's tags (an
 * array of elements), the multishot FETCH_IO_CMDS (IORING_URING_CMD_
 * MULTISHOT with a provided buffer ring) posts the tags of ready requests
 * into a selected buffer, 2 bytes each (cqe->res bytes), and COMMIT_IO_CMDS
 * completes an array of elements (result: bytes handled).  An element is
 * struct ublk_elem_header, followed by the buffer address when the
 * command's flags carry UBLK_BATCH_F_HAS_BUF_ADDR (io buffers, no
 * USER_COPY) and the zone LBA with UBLK_BATCH_F_HAS_ZONE_LBA; elem_bytes
 * is its size (8, 16 or 24).
 *
 * With UBLK_F_AUTO_BUF_REG (no buffer address: elem_bytes 8) an element's
 * buf_index is the sparse buffer table slot, on the ring of the fetch
 * that delivers the tag's next request, where the driver registers that
 * request's pages (PREP: the first request's; COMMIT: the next one's).
 * A COMMIT first drops the registration the tag's previous PREP or COMMIT
 * named, so a server keeps the pages registered until its fixed-buffer
 * ops on them are done simply by committing after them.  UBLK_BATCH_F_
 * AUTO_BUF_REG_FALLBACK in the command's flags is AUTO_BUF_REG's FALLBACK
 * for all its elements (it excludes HAS_BUF_ADDR).  With UBLK_F_SUPPORT_
 * ZERO_COPY, REGISTER_IO_BUF and UNREGISTER_IO_BUF stay per-request
 * commands (struct ublksrv_io_cmd) that a BATCH_IO device takes from any
 * task; elements carry no slot, and a request completes once its commit
 * and the unregisters are all in.
 */
#ifndef UBLK_F_BATCH_IO
#define UBLK_F_BATCH_IO		(1ULL << 15)
#endif
#ifndef UBLK_U_IO_PREP_IO_CMDS
struct ublk_elem_header {
	__u16	tag;
	__u16	buf_index;	/* UBLK_F_AUTO_BUF_REG: the buffer table slot */
	__s32	result;		/* COMMIT_IO_CMDS: the request's result */
};

/* the 16-byte command payload of the three batch commands */
struct ublk_batch_io {
	__u16	q_id;
#define UBLK_BATCH_F_HAS_ZONE_LBA		(1 << 0)
#define UBLK_BATCH_F_HAS_BUF_ADDR		(1 << 1)
#define UBLK_BATCH_F_AUTO_BUF_REG_FALLBACK	(1 << 2)
	__u16	flags;
	__u16	nr_elem;	/* FETCH: elements the buffer holds */
	__u8	elem_bytes;	/* FETCH: 2 (a tag) */
	__u8	reserved;
	__u64	reserved2;
};

#define UBLK_U_IO_PREP_IO_CMDS		_IOWR('u', 0x25, struct ublk_batch_io)
#define UBLK_U_IO_COMMIT_IO_CMDS	_IOWR('u', 0x26, struct ublk_batch_io)
#define UBLK_U_IO_FETCH_IO_CMDS		_IOWR('u', 0x27, struct ublk_batch_io)
#endif

/*
 * Parameter types of later kernels that zublk implements (DMA_ALIGN from
 * 6.13, SEGMENT from 6.15), with their upstream numbers and layouts.  A
 * newer <linux/ublk_cmd.h> defines each type together with its struct, so
 * the type's macro guards both.
 */
#ifndef UBLK_PARAM_TYPE_DMA_ALIGN
#define UBLK_PARAM_TYPE_DMA_ALIGN	(1 << 4)
/* Request buffers are aligned to alignment + 1 bytes (a power of 2). */
struct ublk_param_dma_align {
	__u32	alignment;	/* mask: < page size, + 1 a power of 2 */
	__u8	pad[4];
};
#endif
#ifndef UBLK_PARAM_TYPE_SEGMENT
#define UBLK_PARAM_TYPE_SEGMENT		(1 << 5)
#define UBLK_MIN_SEGMENT_SIZE		4096
/* Scatter-gather limits of a request. */
struct ublk_param_segment {
	__u64	seg_boundary_mask;	/* no segment crosses a multiple of
					 * mask + 1 (a power of 2, >= 4096) */
	__u32	max_segment_size;	/* bytes, >= 4096 */
	__u16	max_segments;		/* per request */
	__u8	pad[2];
};
#endif

/*
 * The parameters zublk speaks in SET_PARAMS and GET_PARAMS: upstream's
 * struct ublk_params up to the segment limits, whatever the size of the
 * ublk_params of the <linux/ublk_cmd.h> at hand (6.12's ends after zoned).
 * The layout is upstream's: a server passes its own struct ublk_params
 * and its len; zublk reads and writes min(len, sizeof(struct
 * zublk_params)) bytes.  Types zublk does not know are masked off (as
 * upstream does); DEVT is read-only and ZONED is not supported (-EINVAL).
 */
struct zublk_params {
	__u32				len;
	__u32				types;	/* UBLK_PARAM_TYPE_* */
	struct ublk_param_basic		basic;
	struct ublk_param_discard	discard;
	struct ublk_param_devt		devt;
	struct ublk_param_zoned		zoned;
	struct ublk_param_dma_align	dma;
	struct ublk_param_segment	seg;
};

/*
 * ZUBLK_F_PIN_BUF: long-term pinned FETCH buffers.
 *
 * The buffer a tag's FETCH_REQ (or COMMIT_AND_FETCH_REQ) names is pinned
 * once, FOLL_LONGTERM, for ublksrv_ctrl_dev_info.max_io_buf_bytes bytes,
 * and reused for every request on that tag: no page-table walk or pin per
 * IO.  Pins are counted per folio, so a 2 MiB hugepage is one pin.  The
 * pin moves when a COMMIT_AND_FETCH_REQ names a different address, and is
 * dropped when the char node is released.
 *
 * As without the flag (and as upstream), a COMMIT_AND_FETCH_REQ's addr is
 * the buffer holding that commit's data (a read's) and the buffer for the
 * tag's next request: the driver pins it, copies the read from it, then
 * drops the old pin.  With UBLK_F_NEED_GET_DATA, FETCH (and a commit of
 * anything but a read) may pass addr 0: nothing is pinned for it.
 *
 * Memory limit (also for ZUBLK_F_STORE): long-term pins are charged like
 * io_uring's registered buffers, every page of the range: to the pinning
 * task's mm (VmPin in /proc/PID/status) and, unless the task has
 * CAP_IPC_LOCK, to its user's locked memory against its RLIMIT_MEMLOCK,
 * shared with its other charges (io_uring's registered buffers).  The
 * charge lasts as long as the pin, whichever task drops it.  A pin that
 * would pass the limit fails its command (FETCH_REQ, COMMIT_AND_FETCH_REQ,
 * REGISTER_STORE) with -ENOMEM and nothing pinned; the driver logs one
 * line naming the device (queue, tag) and the limit.  Moving a buffer
 * pins the new one before dropping the old: a server that moves buffers
 * needs room for one more buffer than it holds.
 *
 * Consequence a server must know: the driver keeps using the pages it
 * pinned.  A server that unmaps the buffer and maps new memory at the same
 * address without naming a new address is reading and writing pages the
 * driver no longer uses (its data goes to the old pages, which stay
 * allocated until the pin is dropped): nothing outside the buffer is ever
 * touched, but the server sees stale data.  Name a new address to move.
 *
 * A buffer that cannot be pinned long term (unmapped, read-only, or a
 * shared mapping of a file that forbids long-term pins) fails its FETCH
 * with -EFAULT (or the pin's errno) and the driver logs one line naming
 * the device, queue and tag.
 */
#define ZUBLK_F_PIN_BUF		(1ULL << 63)

/*
 * ZUBLK_F_STORE: single-copy store region.
 *
 * The server registers one region of its memory per device (its RAM store,
 * say) with ZUBLK_U_IO_REGISTER_STORE before it fetches any tag; the
 * driver pins it long term (per folio, as above) until the char node is
 * released.  From then on, FETCH_REQ carries no buffer (addr is ignored),
 * a write is delivered without its data, and COMMIT_AND_FETCH_REQ's addr
 * is a byte offset into the store:
 *
 *   READ,  result = n > 0:  the driver copies store[addr, addr + n) into the
 *                           request's pages, then completes it with n.
 *   WRITE, result = n > 0:  the driver copies the request's first n bytes to
 *                           store[addr, addr + n), then completes it.
 *   addr == ZUBLK_STORE_NONE, or result <= 0, or a request without data
 *   (flush, discard, write-zeroes): nothing is copied.
 *
 * So data crosses memory once, in the server's task, within the commit
 * it already sends: no extra round trip.  A range outside the region fails
 * the request with -EIO (logged once per device).  A null server commits
 * every request with ZUBLK_STORE_NONE and moves no data at all.
 *
 * ZUBLK_F_STORE excludes UBLK_F_USER_COPY and UBLK_F_NEED_GET_DATA
 * (ADD_DEV fails with -EINVAL if both are asked for).
 */
#define ZUBLK_F_STORE		(1ULL << 62)

/* COMMIT_AND_FETCH_REQ addr meaning "move no data" under ZUBLK_F_STORE. */
#define ZUBLK_STORE_NONE	(~0ULL)

/*
 * Store registration, the 16-byte payload of a ZUBLK_U_IO_REGISTER_STORE
 * uring_cmd on the char node (it fits the SQE's command area, so no
 * SQE128 is needed).  addr and len must be page aligned; len > 0.
 * Completes with 0, -EINVAL (alignment, flag not granted), -EBUSY
 * (already registered, or a tag already fetched) or the pin's errno
 * (-ENOMEM past RLIMIT_MEMLOCK, see "Memory limit" above).
 */
struct zublk_store_reg {
	__u64	addr;		/* user address of the region */
	__u64	len;		/* bytes */
};

#define ZUBLK_U_IO_REGISTER_STORE	_IOW('Z', 0x01, struct zublk_store_reg)

/*
 * Feature discovery: ZUBLK_U_CMD_GET_EXT_FEATURES, a control command
 * (128-byte SQE on the control node, like UBLK_U_CMD_GET_FEATURES; dev_id
 * ignored) whose 8-byte payload at addr (len must be 8) receives every
 * feature flag zublk implements: the upstream UBLK_F_* bits and the
 * ZUBLK_F_* bits above.  A server asks it first and falls back to
 * GET_FEATURES when it fails: the in-tree ublk_drv refuses a command of
 * ioctl type 'Z' (-EOPNOTSUPP, or -EINVAL), so there it sees no zublk
 * extensions.
 *
 * UBLK_U_CMD_GET_FEATURES itself reports the ZUBLK_F_* bits too, except
 * when zublk stands in for ublk_drv (module parameter upstream_names=1):
 * then it reports upstream bits only, as tools written for ublk_drv
 * expect every bit to be one they know.
 *
 * The number is GET_FEATURES' (0x13), so a driver that looked at the
 * number alone would answer with its upstream features, never act.
 */
#define ZUBLK_U_CMD_GET_EXT_FEATURES	_IOR('Z', 0x13, struct ublksrv_ctrl_cmd)

/*
 * Per-queue cost counters, debugfs:
 *   /sys/kernel/debug/zublk/<char node name>/queue<Q>
 * one "name value" pair per line, in the order of ZUBLK_QSTATS below, all
 * monotonic u64 since ADD_DEV.  New lines may be added; readers must skip
 * names they do not know.
 *
 * ZUBLK_QSTATS(X) is the one list of them: X(ID, name, what it counts) per
 * counter, expanded by the driver (its ZST_ID indexes and debugfs names)
 * and by servers that parse the file (ramsrv).  copies: one per request
 * through a FETCH buffer or the store, one per pread/pwrite on the char
 * node (user copy).  tw_requests / tw_batches is the task-work batch size.
 */
#define ZUBLK_QSTATS(X)							\
	X(REQUESTS,	requests,	"requests delivered to the server") \
	X(BYTES,	bytes,		"data bytes of those requests")	\
	X(COPIES,	copies,		"data copies the driver made")	\
	X(COPY_BYTES,	copy_bytes,	"bytes those copies moved")	\
	X(COPY_NS,	copy_ns,	"nanoseconds spent in them")	\
	X(PINS,		pins,		"folios pinned (a 2 MiB hugepage is one)") \
	X(UNPINS,	unpins,		"folios unpinned")		\
	X(TW_BATCHES,	tw_batches,	"task-work runs that delivered requests") \
	X(TW_REQUESTS,	tw_requests,	"requests those runs delivered")

#define ZUBLK_DEBUGFS_DIR	"/sys/kernel/debug/zublk"

#endif /* ZUBLK_UAPI_H */
