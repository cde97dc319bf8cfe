/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ublk commands over io_uring, shared by ramsrv and the test programs
 * (tests/progs): the control node and its ring, control and io command
 * SQEs, waiting for one result, the char node and its descriptor arrays.
 * Built from source into each program (their Makefiles); needs liburing
 * 2.3 (Debian 12) or later.  Nothing here prints: errors are returned as
 * -errno for the caller to report.
 */
#ifndef ZU_URING_CMD_H
#define ZU_URING_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <liburing.h>
#include <linux/ublk_cmd.h>
#include "../include/zublk.h"

/* A control node and the ring its commands go through. */
struct zu_ctrl {
	int fd;
	bool has_ring;
	struct io_uring ring;
};

/*
 * Open the control node @path and a ring of @entries with @ring_flags
 * (IORING_SETUP_SQE128 for control commands).  0, or -errno: c->fd < 0
 * when the open failed, else the ring setup did; zu_ctrl_close() either way.
 */
int zu_ctrl_open(struct zu_ctrl *c, const char *path, unsigned int entries,
		 unsigned int ring_flags);
void zu_ctrl_close(struct zu_ctrl *c);

/*
 * A zeroed SQE (both halves on an SQE128 ring); when the SQ is full, what
 * is queued is submitted first.  NULL when still none is free.
 */
struct io_uring_sqe *zu_get_sqe(struct io_uring *r);

/*
 * A control command @op for @dev_id (queue_id -1) with buffer @addr of
 * @len bytes and data[0] @data0, on the control node @fd: the SQE, or
 * NULL.  On a ring without SQE128 the header is cut to the 16 bytes of
 * command area a 64-byte SQE has (the driver must refuse it).
 */
struct io_uring_sqe *zu_prep_ctrl(struct io_uring *r, int fd, unsigned int op,
				  uint32_t dev_id, void *addr, uint16_t len,
				  uint64_t data0);

/* The control header of an SQE zu_prep_ctrl() made on an SQE128 ring. */
static inline struct ublksrv_ctrl_cmd *zu_ctrl_hdr(struct io_uring_sqe *sqe)
{
	return (struct ublksrv_ctrl_cmd *)sqe->cmd;
}

/*
 * An io command @op (FETCH, COMMIT_AND_FETCH, NEED_GET_DATA) for @q/@tag
 * on the char node @fd; user_data is @tag.  The SQE, or NULL.
 */
struct io_uring_sqe *zu_prep_io(struct io_uring *r, int fd, unsigned int op,
				uint16_t q, uint16_t tag, int32_t result,
				uint64_t addr);

/*
 * ZUBLK_U_IO_REGISTER_STORE of [@addr, @addr + @len) on the char node @fd
 * (its payload fits any SQE).  The SQE, or NULL.
 */
struct io_uring_sqe *zu_prep_store(struct io_uring *r, int fd, void *addr,
				   uint64_t len);

/* Wait for one completion: its res (its user_data in *@ud), or -errno. */
int zu_wait(struct io_uring *r, uint64_t *ud);

/* Submit what is queued, then zu_wait(). */
int zu_submit_wait(struct io_uring *r, uint64_t *ud);

/* A control command on @c, submitted and waited for: its result. */
int zu_ctrl_cmd(struct zu_ctrl *c, unsigned int op, uint32_t dev_id,
		void *addr, uint16_t len, uint64_t data0);

/*
 * open(@path, @flags), retried every 100 ms up to @tries times while it
 * fails with ENOENT (udev still making the node) or, with @busy, EBUSY
 * (the previous holder still letting go).  The fd, or -errno.
 */
int zu_open_wait(const char *path, int flags, unsigned int tries, bool busy);

/* Bytes of a queue's descriptor array mapping (@depth tags, page-rounded). */
size_t zu_descs_len(unsigned int depth);

/*
 * Map queue @q's descriptor array (@depth tags) of the char node @fd
 * read-only, with @mmap_flags besides MAP_SHARED (MAP_POPULATE, say).
 * The mapping (zu_descs_len(@depth) bytes) or MAP_FAILED (errno set).
 */
struct ublksrv_io_desc *zu_map_descs(int fd, unsigned int q, unsigned int depth,
				     int mmap_flags);

/*
 * Basic params of a plain disk: 512-byte logical and 4 KiB physical blocks
 * (io_min 512, io_opt 4 KiB), @max_io bytes a request, @dev_bytes long.
 */
void zu_params_basic(struct ublk_param_basic *b, uint32_t max_io, uint64_t dev_bytes);

#endif /* ZU_URING_CMD_H */
