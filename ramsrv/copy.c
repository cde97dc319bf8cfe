// SPDX-License-Identifier: GPL-2.0
/*
 * ramsrv: data paths (struct rs_path): how a request's data reaches the
 * target's, chosen once per device.
 *
 * The classic path copies with rs_copy(): glibc's memcpy uses "rep movsb" for
 * large copies, which some CPUs and emulators (qemu TCG: ~10x slower) run
 * badly; a plain 64-bit word loop is sometimes faster. Measure both at start
 * for small and large copies and use the faster (RAMSRV_COPY=libc|words
 * forces one).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>
#include <sys/mman.h>
#include <linux/io_uring.h>
#include "ramsrv.h"

#define RS_COPY_SPLIT	16384

static void *(*copy_small)(void *, const void *, size_t) = memcpy;
static void *(*copy_large)(void *, const void *, size_t) = memcpy;

/* plain 64-bit moves: no memcpy call, no SSE (slow under TCG) */
__attribute__((optimize("no-tree-loop-distribute-patterns", "no-tree-vectorize")))
static void *copy_words(void *dst, const void *src, size_t len)
{
	uint64_t *d = dst;
	const uint64_t *s = src;
	size_t i, n = len / 8;

	for (i = 0; i + 4 <= n; i += 4) {
		uint64_t a = s[i], b = s[i + 1], c = s[i + 2], e = s[i + 3];

		d[i] = a;
		d[i + 1] = b;
		d[i + 2] = c;
		d[i + 3] = e;
	}
	for (; i < n; i++)
		d[i] = s[i];
	if (len % 8)
		memcpy((char *)dst + n * 8, (const char *)src + n * 8, len % 8);
	return dst;
}

static uint64_t best_of(void *(*fn)(void *, const void *, size_t), char *dst,
			const char *src, size_t len)
{
	uint64_t best = UINT64_MAX, t;
	int i;

	for (i = 0; i < 5; i++) {
		t = rs_now_ns();
		fn(dst, src, len);
		t = rs_now_ns() - t;
		if (t < best)
			best = t;
	}
	return best;
}

const char *rs_copy_init(void)
{
	static char desc[48];
	const char *env = getenv("RAMSRV_COPY");
	size_t len = 128 << 10;
	char *a, *b;

	if (env && !strcmp(env, "libc")) {
		copy_small = copy_large = memcpy;
		return "libc";
	}
	if (env && !strcmp(env, "words")) {
		copy_small = copy_large = copy_words;
		return "words";
	}
	a = malloc(len);
	b = malloc(len);
	if (!a || !b) {
		free(a);
		free(b);
		return "libc";
	}
	memset(a, 1, len);
	memset(b, 2, len);
	copy_small = best_of(copy_words, b, a, 4096) < best_of(memcpy, b, a, 4096) ?
		     copy_words : memcpy;
	copy_large = best_of(copy_words, b, a, len) < best_of(memcpy, b, a, len) ?
		     copy_words : memcpy;
	free(a);
	free(b);
	snprintf(desc, sizeof(desc), "small %s, large %s",
		 copy_small == memcpy ? "libc" : "words",
		 copy_large == memcpy ? "libc" : "words");
	return desc;
}

void rs_copy(void *dst, const void *src, size_t len)
{
	if (len <= RS_COPY_SPLIT)
		copy_small(dst, src, len);
	else
		copy_large(dst, src, len);
}

/* ---- the data paths ---- */

static inline void *io_buf(struct rs_queue *q, unsigned int tag)
{
	return (char *)q->buf.addr + (size_t)tag * q->dev->max_io;
}

static int buf_to_req(struct rs_queue *q, unsigned int tag, const void *data,
		      size_t len)
{
	rs_copy(io_buf(q, tag), data, len);
	q->st->copies++;
	q->st->copy_bytes += len;
	return 0;
}

static int buf_from_req(struct rs_queue *q, unsigned int tag, void *data,
			size_t len)
{
	rs_copy(data, io_buf(q, tag), len);
	q->st->copies++;
	q->st->copy_bytes += len;
	return 0;
}

static int scratch_to_req(struct rs_queue *q, unsigned int tag,
			  const void *data, size_t len)
{
	(void)data;
	return rs_ucopy_to_req(q, tag, q->buf.addr, len);
}

static int scratch_from_req(struct rs_queue *q, unsigned int tag, void *data,
			    size_t len)
{
	(void)data;
	return rs_ucopy_from_req(q, tag, q->buf.addr, len);
}

/* the driver copies at commit, to/from the store offset named here */
static int store_name(struct rs_queue *q, unsigned int tag, const void *data,
		      size_t len)
{
	(void)tag;
	(void)len;
	q->store_off = (uint64_t)((const char *)data - (const char *)q->dev->store);
	return 0;
}

static int store_to_req(struct rs_queue *q, unsigned int tag, const void *data,
			size_t len)
{
	return store_name(q, tag, data, len);
}

static int store_from_req(struct rs_queue *q, unsigned int tag, void *data,
			  size_t len)
{
	return store_name(q, tag, data, len);
}

/* every request to/from the scratch store's start */
static int sstore_to_req(struct rs_queue *q, unsigned int tag,
			 const void *data, size_t len)
{
	(void)data;
	return store_name(q, tag, q->dev->store, len);
}

static int sstore_from_req(struct rs_queue *q, unsigned int tag, void *data,
			   size_t len)
{
	(void)data;
	return store_name(q, tag, q->dev->store, len);
}

/* classic or none for a target without data: store_off stays STORE_NONE */
static int none_to_req(struct rs_queue *q, unsigned int tag, const void *data,
		       size_t len)
{
	(void)q;
	(void)tag;
	(void)data;
	(void)len;
	return 0;
}

static int none_from_req(struct rs_queue *q, unsigned int tag, void *data,
			 size_t len)
{
	return none_to_req(q, tag, data, len);
}

/*
 * zc: name the fixed-buffer op the queue loop submits after handle(): the
 * request's pages (registered by the driver at table slot = tag) and the
 * store file at @data's offset. A READ request is filled from the store
 * (IORING_OP_READ_FIXED reads the file into the registered buffer), a WRITE
 * request's pages are written to it (WRITE_FIXED).
 */
static int zc_name(struct rs_queue *q, const void *data, size_t len, uint8_t op)
{
	q->zc_op = op;
	q->zc_off = (uint64_t)((const char *)data - (const char *)q->dev->store);
	q->zc_len = (uint32_t)len;
	return 0;
}

static int zc_to_req(struct rs_queue *q, unsigned int tag, const void *data,
		     size_t len)
{
	(void)tag;
	return zc_name(q, data, len, IORING_OP_READ_FIXED);
}

static int zc_from_req(struct rs_queue *q, unsigned int tag, void *data,
		       size_t len)
{
	(void)tag;
	return zc_name(q, data, len, IORING_OP_WRITE_FIXED);
}

static const struct rs_path path_buf = {
	.to_req = buf_to_req, .from_req = buf_from_req,	/* name: rs_copy_init() */
};
static const struct rs_path path_ucopy = {
	.name = "pread/pwrite",
	.to_req = rs_ucopy_to_req, .from_req = rs_ucopy_from_req,
};
static const struct rs_path path_ucopy_scratch = {
	.name = "pread/pwrite scratch", .scratch = true,
	.to_req = scratch_to_req, .from_req = scratch_from_req,
};
static const struct rs_path path_store = {
	.name = "driver, store",
	.to_req = store_to_req, .from_req = store_from_req,
};
static const struct rs_path path_store_scratch = {
	.name = "driver, scratch store",
	.to_req = sstore_to_req, .from_req = sstore_from_req,
};
static const struct rs_path path_zc = {
	.name = "io_uring fixed buffer",
	.to_req = zc_to_req, .from_req = zc_from_req,
};
static const struct rs_path path_none = {
	.name = "none",
	.to_req = none_to_req, .from_req = none_from_req,
};

static const struct rs_path *path_pick(const struct rs_dev *d)
{
	bool data = d->tgt->caps & RS_TGT_DATA;

	if (d->copy == RS_COPY_CLASSIC)
		return data ? &path_buf : &path_none;
	if (d->copy == RS_COPY_NONE)
		return &path_none;
	if (d->zc)	/* null: the driver registers the pages, nobody reads them */
		return data ? &path_zc : &path_none;
	if (d->store_mode)
		return data ? &path_store : &path_store_scratch;
	return data ? &path_ucopy : &path_ucopy_scratch;
}

int rs_path_init(struct rs_dev *d)
{
	d->path = *path_pick(d);
	if (!d->path.name)
		d->path.name = rs_copy_init();
	snprintf(d->st->copy, sizeof(d->st->copy), "%s", d->path.name);
	if (!d->store_mode || (d->tgt->caps & RS_TGT_DATA))
		return 0;
	/*
	 * ZUBLK_F_STORE needs a registered region: single copies every
	 * request to/from its start (max-io bytes), none registers one page
	 * and never names it.
	 */
	d->store_len = d->copy == RS_COPY_SINGLE ? d->max_io : 4096;
	d->store = mmap(NULL, d->store_len, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (d->store == MAP_FAILED) {
		d->store = NULL;
		rs_err("dev %d: scratch store: %s", d->info.dev_id, strerror(errno));
		return -ENOMEM;
	}
	return 0;
}

void rs_path_fini(struct rs_dev *d)
{
	if (!d->tgt || (d->tgt->caps & RS_TGT_DATA) || !d->store)
		return;
	munmap(d->store, d->store_len);
	d->store = NULL;
}
