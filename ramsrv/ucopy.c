// SPDX-License-Identifier: GPL-2.0
/*
 * ramsrv: UBLK_F_USER_COPY data moves. The driver exposes each in-flight
 * request's pages at a per-(queue, tag) offset of the char node: pread()
 * copies a WRITE request's data out, pwrite() fills a READ request's pages.
 * One syscall, one copy, straight between the request and the store.
 *
 * Plain pread/pwrite, not io_uring READ/WRITE: the 6.12 char node does not
 * set FMODE_NOWAIT, so io_uring would hand every such read/write to an io-wq
 * worker (a thread hop per IO) rather than run it inline in the queue thread.
 *
 * Counting: q->st->ucopies counts transfers, i.e. pread/pwrite calls that moved
 * data (a short transfer that needs a second call counts twice), and
 * q->st->ucopy_bytes the bytes they moved; the kernel makes each of these
 * copies on the server's behalf (zublk counts them in its own "copies",
 * ublk_drv nowhere). See ramsrv(8), STATS.
 */
#include <errno.h>
#include <unistd.h>
#include "ramsrv.h"

/* to_req: @buf -> request pages (pwrite); else request pages -> @buf (pread) */
static int ucopy(struct rs_queue *q, unsigned int tag, void *buf, size_t len,
		 bool to_req)
{
	size_t done = 0;

	while (done < len) {
		off_t pos = rs_ucopy_pos((unsigned int)q->q_id, tag, done);
		ssize_t r = to_req ? pwrite(q->cdev_fd, (char *)buf + done, len - done, pos) :
				     pread(q->cdev_fd, (char *)buf + done, len - done, pos);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		q->st->ucopies++;
		q->st->ucopy_bytes += (uint64_t)r;
		done += (size_t)r;
	}
	return 0;
}

int rs_ucopy_from_req(struct rs_queue *q, unsigned int tag, void *dst, size_t len)
{
	return ucopy(q, tag, dst, len, false);
}

int rs_ucopy_to_req(struct rs_queue *q, unsigned int tag, const void *src, size_t len)
{
	return ucopy(q, tag, (void *)src, len, true);
}
