/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the checking test programs (ublk-check, zublk-zc) share: one line
 * per check, "ok   WHAT (GOT)" or "FAIL WHAT: got ..., want ...", counted
 * in failures; and an SQE or an exit.
 */
#ifndef ZU_PROGS_CHECK_H
#define ZU_PROGS_CHECK_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <liburing.h>

static int failures;		/* FAIL lines so far */

static inline void check(const char *what, long got, long want)
{
	if (got == want) {
		printf("ok   %s (%ld)\n", what, got);
		return;
	}
	printf("FAIL %s: got %ld (%s), want %ld (%s)\n", what, got,
	       got < 0 ? strerror((int)-got) : "-", want,
	       want < 0 ? strerror((int)-want) : "-");
	failures++;
}

/* @sqe, or exit 2 when the submission queue was full (a setup error). */
static inline struct io_uring_sqe *sqe_or_exit(struct io_uring_sqe *sqe)
{
	if (!sqe) {
		fprintf(stderr, "%s: submission queue full\n", program_invocation_short_name);
		exit(2);
	}
	return sqe;
}

#endif /* ZU_PROGS_CHECK_H */
