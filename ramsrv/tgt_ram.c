// SPDX-License-Identifier: GPL-2.0
/*
 * ramsrv: ram target. The store is anonymous memory (2 MiB hugepages when
 * possible, else THP-advised normal pages) or a shared mapping of a backing
 * file on tmpfs/hugetlbfs. NUMA policy: interleaved across the nodes the
 * device's queues run on (every queue reaches every block).
 * With --copy zc, io_uring reads and writes the store as a file
 * (d->store_fd): the backing file, or a memfd when anonymous (normal pages:
 * hugetlbfs files cannot be written, fs_uring_writable); the mapping serves
 * the other ops.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <numaif.h>
#include <stdlib.h>
#include "ramsrv.h"

#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#endif

/* d->tgt_data */
struct ram_dev {
	int backing_fd;		/* -1: anonymous store */
	bool durable;		/* backing on a real fs: flush = msync */
	bool memfd;		/* backing_fd is zc's anonymous memfd */
};

static void store_policy(struct rs_dev *d)
{
	unsigned long mask[16] = { 0 };
	int i;

	for (i = 0; i < d->nr_nodes; i++)
		if (d->nodes[i] >= 0 && d->nodes[i] < 16 * 64)
			mask[d->nodes[i] / 64] |= 1UL << (d->nodes[i] % 64);
	if (d->nr_nodes > 1)
		(void)mbind(d->store, d->store_len, MPOL_INTERLEAVE, mask,
			    sizeof(mask) * 8, 0);
	else if (d->nr_nodes == 1)
		(void)mbind(d->store, d->store_len, MPOL_PREFERRED, mask,
			    sizeof(mask) * 8, 0);
	snprintf(d->st->store_policy, sizeof(d->st->store_policy), "%s",
		 d->nr_nodes > 1 ? "interleave" : "preferred");
}

/* the store: @fd (@what, for messages) shared-mapped; 0, or -1 with errno */
static int map_store(struct rs_dev *d, struct ram_dev *r, int fd, size_t len,
		     bool huge, const char *what)
{
	int err;

	d->store = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (d->store == MAP_FAILED) {
		err = errno;
		d->store = NULL;
		rs_err("%s: mmap %zu bytes: %s%s", what, len, strerror(err),
		       huge ? " (not enough hugepages?)" : "");
		errno = err;
		return -1;
	}
	d->store_len = len;
	d->store_huge = huge;
	r->backing_fd = fd;
	return 0;
}

/*
 * The rule for zc's store (--copy zc and zc-explicit): their data op is an
 * io_uring READ_FIXED / WRITE_FIXED on the store as a file (d->store_fd),
 * and hugetlbfs files cannot be written that way (no write_iter), so a store
 * on hugetlbfs cannot serve zc. @f_type: statfs()'s f_type for the store's
 * file system.
 */
static bool fs_uring_writable(long f_type)
{
	return f_type != HUGETLBFS_MAGIC;
}

/* statfs()'s f_type for PATH, or for the directory it would be created in
 * (0 if neither) */
static long path_fs_type(const char *path)
{
	char dir[RS_PATH_MAX];
	struct statfs sfs;
	char *slash;

	if (statfs(path, &sfs) == 0)
		return (long)sfs.f_type;
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		slash[slash == dir] = '\0';
	return statfs(dir, &sfs) == 0 ? (long)sfs.f_type : 0;
}

/*
 * target_ops.store_writable: fs_uring_writable()'s rule before the store
 * exists. A --backing file is the store; --hugepages on asks for hugetlb
 * pages, which a zc store cannot have (rs_opts_validate refuses --copy zc
 * with it), so auto does not pick zc then, backing or not.
 */
static bool ram_store_writable(const struct rs_opts *o)
{
	if (o->huge == RS_HUGE_ON)
		return false;
	return !o->backing[0] || fs_uring_writable(path_fs_type(o->backing));
}

static int ram_open_backing(struct rs_dev *d, struct ram_dev *r)
{
	const char *path = d->opts.backing;
	struct statfs sfs;
	struct stat sb;
	char what[300];
	size_t maplen;
	bool hugefs;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		rs_err("backing file %s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &sb) < 0 || fstatfs(fd, &sfs) < 0) {
		rs_err("backing file %s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		rs_err("backing file %s: not a regular file", path);
		errno = EINVAL;
		goto fail;
	}
	hugefs = sfs.f_type == HUGETLBFS_MAGIC;
	if (d->zc && !fs_uring_writable((long)sfs.f_type)) {
		rs_err("backing file %s: --copy zc writes the store with io_uring, and hugetlbfs files cannot be written (use a tmpfs file)",
		       path);
		errno = EINVAL;
		goto fail;
	}
	r->durable = !hugefs && sfs.f_type != TMPFS_MAGIC &&
		     sfs.f_type != RAMFS_MAGIC;
	if (!d->opts.size_set && sb.st_size > 0) {
		d->size = (uint64_t)sb.st_size & ~(uint64_t)(d->opts.bs - 1);
		if (!d->size) {
			rs_err("backing file %s: smaller than one block", path);
			errno = EINVAL;
			goto fail;
		}
	}
	maplen = d->size;
	if (hugefs)
		maplen = (maplen + RS_HUGEPAGE_SIZE - 1) & ~(RS_HUGEPAGE_SIZE - 1);
	if (sb.st_size == 0) {
		if (ftruncate(fd, (off_t)maplen) < 0) {
			rs_err("backing file %s: cannot size to %zu: %s", path,
			       maplen, strerror(errno));
			goto fail;
		}
	} else if ((uint64_t)sb.st_size < d->size) {
		rs_err("backing file %s holds %lld bytes, less than the size %llu",
		       path, (long long)sb.st_size, (unsigned long long)d->size);
		errno = EINVAL;
		goto fail;
	}
	snprintf(what, sizeof(what), "backing file %s", path);
	if (map_store(d, r, fd, maplen, hugefs, what) < 0)
		goto fail;
	return 0;
fail:
	close(fd);
	return errno ? -errno : -EINVAL;
}

/* zc without --backing: the store is a memfd, shared-mapped */
static int ram_open_memfd(struct rs_dev *d, struct ram_dev *r)
{
	size_t len = (d->size + 4095) & ~(size_t)4095;
	int fd = memfd_create("ramsrv-store", MFD_CLOEXEC);

	if (fd < 0 || ftruncate(fd, (off_t)len) < 0) {
		rs_err("dev %d: ram store memfd of %zu bytes: %s", d->info.dev_id,
		       len, strerror(errno));
		goto fail;
	}
	if (map_store(d, r, fd, len, false, "ram store memfd") < 0)
		goto fail;
	r->memfd = true;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	return -ENOMEM;
}

static int ram_init(struct rs_dev *d)
{
	struct ram_dev *r = calloc(1, sizeof(*r));
	size_t hlen;
	int ret;

	if (!r) {
		rs_err("dev %d: ram target: %s", d->info.dev_id, strerror(ENOMEM));
		return -ENOMEM;
	}
	r->backing_fd = -1;
	d->tgt_data = r;
	if (d->opts.backing[0]) {
		ret = ram_open_backing(d, r);
		if (ret < 0)
			return ret;
	} else if (d->zc) {
		ret = ram_open_memfd(d, r);
		if (ret < 0)
			return ret;
	} else {
		hlen = (d->size + RS_HUGEPAGE_SIZE - 1) & ~(RS_HUGEPAGE_SIZE - 1);
		d->store = MAP_FAILED;
		if (d->opts.huge != RS_HUGE_OFF) {
			d->store = mmap(NULL, hlen, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB |
					MAP_HUGE_2MB, -1, 0);
			if (d->store == MAP_FAILED && !rs_huge_warned++)
				rs_warn("dev %d: ram store: not enough free hugepages for %zu MiB, using normal pages",
					d->info.dev_id, hlen >> 20);
		}
		if (d->store != MAP_FAILED) {
			d->store_len = hlen;
			d->store_huge = true;
		} else {
			d->store_len = (d->size + 4095) & ~(size_t)4095;
			d->store = mmap(NULL, d->store_len, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
					-1, 0);
			if (d->store == MAP_FAILED) {
				d->store = NULL;
				rs_err("dev %d: ram store of %llu bytes: %s",
				       d->info.dev_id,
				       (unsigned long long)d->size,
				       strerror(errno));
				return -ENOMEM;
			}
			if (d->opts.huge != RS_HUGE_OFF)
				(void)madvise(d->store, d->store_len, MADV_HUGEPAGE);
		}
	}
	store_policy(d);
	if (d->zc)
		d->store_fd = r->backing_fd;
	/*
	 * Store and zc mode: the driver (io_uring) copies a write into the
	 * store after handle() returns, so a FUA write cannot be synced here;
	 * without FUA the block layer follows such a write with a flush.
	 */
	d->attrs = !r->durable ? 0 : d->store_mode || d->zc ? UBLK_ATTR_VOLATILE_CACHE :
		   UBLK_ATTR_VOLATILE_CACHE | UBLK_ATTR_FUA;
	return 0;
}

/* Zero [off, off+len): free whole pages where the store allows, memset the rest. */
static void ram_zero(struct rs_dev *d, uint64_t off, uint64_t len)
{
	const struct ram_dev *r = d->tgt_data;
	uint64_t g = d->store_huge ? RS_HUGEPAGE_SIZE : 4096;
	uint64_t a = (off + g - 1) & ~(g - 1), b = (off + len) & ~(g - 1);
	char *s = d->store;
	int ret = -1;

	/*
	 * hugetlb pages go back to the pool and might not come back: keep
	 * them. A registered store (ZUBLK_F_STORE) stays pinned by the driver:
	 * freed pages would be replaced by new ones the driver never sees.
	 */
	if (a < b && !d->store_huge && !d->store_mode) {
		if (r->backing_fd >= 0)
			ret = fallocate(r->backing_fd,
					FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					(off_t)a, (off_t)(b - a));
		else
			ret = madvise(s + a, b - a, MADV_DONTNEED);
	}
	if (ret < 0) {
		memset(s + off, 0, len);
		return;
	}
	memset(s + off, 0, a - off);
	memset(s + b, 0, off + len - b);
}

/* a FUA write reaches the backing before it completes */
static int ram_fua(struct rs_dev *d, uint64_t off, uint64_t len)
{
	uint64_t a = off & ~4095ULL;

	return msync((char *)d->store + a, off + len - a, MS_SYNC) < 0 ? -EIO : 0;
}

static int ram_handle(struct rs_queue *q, unsigned int tag,
		      const struct ublksrv_io_desc *iod)
{
	struct rs_dev *d = q->dev;
	const struct ram_dev *r = d->tgt_data;
	uint64_t off = iod->start_sector << 9;
	uint64_t len = (uint64_t)iod->nr_sectors << 9;
	char *s = d->store;
	int ret;

	if (off + len > d->size || off + len < off)
		return -EIO;
	switch (ublksrv_get_op(iod)) {
	case UBLK_IO_OP_READ:
		return rs_path_to_req(q, tag, s + off, len) ?: (int)len;
	case UBLK_IO_OP_WRITE:
		ret = rs_path_from_req(q, tag, s + off, len);
		if (ret < 0)
			return ret;
		/*
		 * FUA is offered only where a write is in the store when this
		 * returns (not in store or zc mode: the copy comes after it)
		 */
		if ((ublksrv_get_flags(iod) & (UBLK_IO_F_FUA >> 8)) &&
		    (d->attrs & UBLK_ATTR_FUA))
			return ram_fua(d, off, len) ?: (int)len;
		return (int)len;
	case UBLK_IO_OP_FLUSH:
		if (r->durable &&
		    (msync(s, d->store_len, MS_SYNC) < 0 || fdatasync(r->backing_fd) < 0))
			return -EIO;
		return 0;
	case UBLK_IO_OP_DISCARD:
	case UBLK_IO_OP_WRITE_ZEROES:
		ram_zero(d, off, len);
		return 0;
	}
	return -EOPNOTSUPP;
}

static void ram_fini(struct rs_dev *d)
{
	struct ram_dev *r = d->tgt_data;

	if (!r)
		return;
	if (d->store && r->backing_fd >= 0 && !r->memfd) {
		if (msync(d->store, d->store_len, MS_SYNC) < 0)
			rs_warn("dev %d: msync backing: %s", d->info.dev_id,
				strerror(errno));
		if (fsync(r->backing_fd) < 0)
			rs_warn("dev %d: fsync backing: %s", d->info.dev_id,
				strerror(errno));
	}
	if (r->backing_fd >= 0)
		close(r->backing_fd);
	d->store_fd = -1;
	if (d->store)
		munmap(d->store, d->store_len);
	d->store = NULL;
	free(r);
	d->tgt_data = NULL;
}

const struct target_ops tgt_ram_ops = {
	.name = "ram",
	.caps = RS_TGT_DATA | RS_TGT_BACKING | RS_TGT_RECOVER_NEEDS_BACKING,
	.init = ram_init,
	.handle = ram_handle,
	.store_writable = ram_store_writable,
	.fini = ram_fini,
};
