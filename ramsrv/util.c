// SPDX-License-Identifier: GPL-2.0
/* ramsrv: pure helpers (size parsing, option checks, paths, node mapping). */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include "ramsrv.h"

char rs_last_err[256];
bool rs_quiet;

void rs_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rs_last_err, sizeof(rs_last_err), fmt, ap);
	va_end(ap);
	if (!rs_quiet)
		fprintf(stderr, "ramsrv: %s\n", rs_last_err);
}

void rs_warn(const char *fmt, ...)
{
	va_list ap;

	fputs("ramsrv: warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * Tail for the message of a pin that failed with @err: zublk charges what
 * it pins long term to RLIMIT_MEMLOCK (unless CAP_IPC_LOCK) and fails
 * with ENOMEM over it, so name the limit then; "" otherwise.
 */
const char *rs_memlock_hint(int err)
{
	static __thread char hint[160];
	struct rlimit rl;

	if (err != -ENOMEM || getrlimit(RLIMIT_MEMLOCK, &rl))
		return "";
	if (rl.rlim_cur == RLIM_INFINITY)
		return " (RLIMIT_MEMLOCK is unlimited: out of memory)";
	snprintf(hint, sizeof(hint),
		 " (over RLIMIT_MEMLOCK? %llu KiB here: raise it, ulimit -l, or grant CAP_IPC_LOCK)",
		 (unsigned long long)rl.rlim_cur >> 10);
	return hint;
}

/* "4096", "64K", "1M", "2G", "1T", "512k", "1GiB" -> bytes */
int rs_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;
	int shift = 0;

	if (!s || !*s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: return -EINVAL;
	}
	if (shift && (!strcmp(end, "iB") || !strcmp(end, "B") || !strcmp(end, "ib")))
		end += strlen(end);
	if (*end)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

int rs_parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v;
	char *end;

	if (!s || !*s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	if (v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

void rs_opts_default(struct rs_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->queues = 1;
	o->depth = RS_DEF_DEPTH;
	o->bs = 512;
	o->max_io = RS_DEF_MAX_IO;
	o->huge = RS_HUGE_AUTO;
	o->id = -1;
	o->copy = RS_COPY_AUTO;	/* the cheapest path the driver offers */
}

/* --copy none with a target that keeps data */
static int copy_none_msg(char *buf, size_t len)
{
	char ts[48];

	snprintf(buf, len, "--copy none needs %s (a ram disk must move its data)",
		 rs_target_list(ts, sizeof(ts), RS_TGT_DATA, 0));
	return -EINVAL;
}

int rs_opts_validate(const struct rs_opts *o, char *msg, size_t len)
{
#define BAD(...) do { snprintf(msg, len, __VA_ARGS__); return -EINVAL; } while (0)
	const struct target_ops *t = rs_target_find(o->target);
	char ts[64];

	if (!t)
		BAD("unknown target '%s' (use %s)", o->target,
		    rs_target_list(ts, sizeof(ts), 0, 0));
	if (o->bs != 512 && o->bs != 4096)
		BAD("--bs %u: block size must be 512 or 4096", o->bs);
	if (o->size_set && o->size == 0)
		BAD("--size 0: size must be greater than zero");
	if (o->size_set && o->size % o->bs)
		BAD("--size %llu: not a multiple of the block size %u",
		    (unsigned long long)o->size, o->bs);
	if (o->depth < 1 || o->depth > RS_MAX_DEPTH)
		BAD("--depth %u: out of range 1-%u", o->depth, RS_MAX_DEPTH);
	if (o->queues < 1 || o->queues > RS_MAX_QUEUES)
		BAD("--queues %u: out of range 1-%u", o->queues, RS_MAX_QUEUES);
	if (o->max_io < 4096 || o->max_io > RS_MAX_MAX_IO || o->max_io % 4096)
		BAD("--max-io %u: must be a multiple of 4096 between 4K and 32M",
		    o->max_io);
	if (o->max_io < o->bs)
		BAD("--max-io %u: smaller than the block size", o->max_io);
	if (o->backing[0] && !(t->caps & RS_TGT_BACKING))
		BAD("--backing needs %s", rs_target_list(ts, sizeof(ts), RS_TGT_BACKING,
							 RS_TGT_BACKING));
	if (o->recovery != RS_REC_OFF && (t->caps & RS_TGT_RECOVER_NEEDS_BACKING) &&
	    !o->backing[0])
		BAD("--recovery %s needs --backing for -t %s: an anonymous store dies with the server, so its data would be lost",
		    rs_recovery_name(o->recovery), t->name);
	if (o->pin == RS_PIN_ON && o->copy != RS_COPY_CLASSIC && o->copy != RS_COPY_AUTO)
		BAD("--pin on needs --copy classic (only classic has io buffers to pin)");
	if (o->copy == RS_COPY_NONE && (t->caps & RS_TGT_DATA))
		return copy_none_msg(msg, len);
	if ((o->copy == RS_COPY_ZC || o->copy == RS_COPY_ZC_REG) && o->huge == RS_HUGE_ON &&
	    (t->caps & RS_TGT_DATA))
		BAD("--copy %s --hugepages on: the zc store is a file io_uring writes, and hugetlbfs files cannot be written (use --hugepages auto or off)",
		    rs_copy_name(o->copy));
	if (o->batch && o->threads > o->queues)
		BAD("--batch --threads %u with %u queue(s): batch mode with more threads than queues (UBLK_F_PER_IO_DAEMON) is not supported",
		    o->threads, o->queues);
	if (o->batch && o->threads && o->threads < o->queues)
		BAD("--batch --threads %u: batch mode serves each queue from a thread of its own (give --threads %u, or leave it out)",
		    o->threads, o->queues);
	if (o->id != -1 && (o->id < 0 || (unsigned int)o->id > RS_MAX_DEV_ID))
		BAD("--id %d: out of range 0-%u", o->id, RS_MAX_DEV_ID);
	return 0;
#undef BAD
}

int rs_dev_paths(const char *ctrl, int id, char *cdev, size_t clen,
		 char *bdev, size_t blen)
{
	const char *base = strrchr(ctrl, '/');
	size_t dirlen, plen;
	const char *suffix = "-control";

	base = base ? base + 1 : ctrl;
	dirlen = base - ctrl;
	plen = strlen(base);
	if (plen <= strlen(suffix) || strcmp(base + plen - strlen(suffix), suffix))
		return -EINVAL;
	plen -= strlen(suffix);
	if (cdev && snprintf(cdev, clen, "%.*s%.*sc%d", (int)dirlen, ctrl,
			     (int)plen, base, id) >= (int)clen)
		return -ENAMETOOLONG;
	if (bdev && snprintf(bdev, blen, "%.*s%.*sb%d", (int)dirlen, ctrl,
			     (int)plen, base, id) >= (int)blen)
		return -ENAMETOOLONG;
	return 0;
}

int rs_pick_node(const cpu_set_t *mask, const int *cpu_node, int ncpus)
{
	int count[RS_MAX_QUEUES * 4] = { 0 };
	int nmax = (int)(sizeof(count) / sizeof(count[0]));
	int best = -1, cpu, n;

	for (cpu = 0; cpu < ncpus && cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, mask))
			continue;
		n = cpu_node[cpu];
		if (n < 0 || n >= nmax)
			continue;
		count[n]++;
	}
	for (n = 0; n < nmax; n++)
		if (count[n] && (best < 0 || count[n] > count[best]))
			best = n;
	return best < 0 ? 0 : best;
}

/* "0-3,8,10-11" */
int rs_cpulist(const cpu_set_t *mask, int ncpus, char *buf, size_t len)
{
	size_t off = 0;
	int cpu = 0, start;

	buf[0] = '\0';
	while (cpu < ncpus && cpu < CPU_SETSIZE) {
		if (!CPU_ISSET(cpu, mask)) {
			cpu++;
			continue;
		}
		start = cpu;
		while (cpu + 1 < ncpus && cpu + 1 < CPU_SETSIZE &&
		       CPU_ISSET(cpu + 1, mask))
			cpu++;
		if (off >= len)
			return -ENOSPC;
		if (start == cpu)
			off += snprintf(buf + off, len - off, "%s%d",
					off ? "," : "", start);
		else
			off += snprintf(buf + off, len - off, "%s%d-%d",
					off ? "," : "", start, cpu);
		cpu++;
	}
	return off >= len ? -ENOSPC : 0;
}

static const char *const copy_names[] = {
	[RS_COPY_AUTO] = "auto",
	[RS_COPY_CLASSIC] = "classic",
	[RS_COPY_SINGLE] = "single",
	[RS_COPY_NONE] = "none",
	[RS_COPY_ZC] = "zc",
	[RS_COPY_ZC_REG] = "zc-explicit",
};

/* index of @s in @names[@n], or -EINVAL */
static int name_index(const char *const *names, unsigned int n, const char *s)
{
	unsigned int i;

	for (i = 0; s && i < n; i++)
		if (names[i] && !strcmp(s, names[i]))
			return (int)i;
	return -EINVAL;
}

const char *rs_copy_name(enum rs_copy_mode m)
{
	return (unsigned int)m < sizeof(copy_names) / sizeof(copy_names[0]) ?
	       copy_names[m] : "?";
}

int rs_copy_parse(const char *s, enum rs_copy_mode *out)
{
	int i = name_index(copy_names, sizeof(copy_names) / sizeof(copy_names[0]), s);

	if (i < 0)
		return i;
	*out = (enum rs_copy_mode)i;
	return 0;
}

/*
 * auto: the cheapest path the driver offers, as measured on 7.3.4
 * (BENCHMARKS.md): a null target moves nothing (none); ram takes zublk's
 * STORE, else upstream's zc (AUTO_BUF_REG: as cheap as USER_COPY at 4k,
 * ~2.4x its IOPS at 128k) when its store may be a file io_uring writes,
 * else USER_COPY, else classic. --pin on means classic.  zc-explicit alone
 * (SUPPORT_ZERO_COPY, 6.15) is not picked: no kernel we test offers it
 * without AUTO_BUF_REG, so its cost there is unmeasured.
 */
static enum rs_copy_mode copy_auto(bool null, enum rs_pin pin, bool store,
				   bool ucopy, bool zc)
{
	if (pin == RS_PIN_ON)
		return RS_COPY_CLASSIC;
	if (null)
		return store || ucopy ? RS_COPY_NONE : RS_COPY_CLASSIC;
	if (store)
		return RS_COPY_SINGLE;
	if (zc)
		return RS_COPY_ZC;
	return ucopy ? RS_COPY_SINGLE : RS_COPY_CLASSIC;
}

int rs_copy_resolve(const struct target_ops *tgt, enum rs_copy_mode want,
		    enum rs_pin pin, uint64_t feat, bool feat_known, bool zc_store,
		    struct rs_copy_plan *out, char *msg, size_t len)
{
	bool ucopy = feat_known && (feat & UBLK_F_USER_COPY);
	bool store = feat_known && (feat & ZUBLK_F_STORE);
	bool pinbuf = feat_known && (feat & ZUBLK_F_PIN_BUF);
	bool null = !(tgt->caps & RS_TGT_DATA);	/* it may move nothing */

	memset(out, 0, sizeof(*out));
	if (want == RS_COPY_NONE && !null)
		return copy_none_msg(msg, len);
	if (pin == RS_PIN_ON && want != RS_COPY_AUTO && want != RS_COPY_CLASSIC) {
		snprintf(msg, len, "--pin on needs --copy classic (only classic has io buffers to pin)");
		return -EINVAL;
	}
	if (want == RS_COPY_AUTO)
		want = copy_auto(null, pin, store, ucopy, zc_store && feat_known &&
				 (feat & UBLK_F_AUTO_BUF_REG));
	if (want == RS_COPY_ZC || want == RS_COPY_ZC_REG) {
		bool reg = want == RS_COPY_ZC_REG;

		if (!feat_known ||
		    !(feat & (reg ? UBLK_F_SUPPORT_ZERO_COPY : UBLK_F_AUTO_BUF_REG))) {
			snprintf(msg, len, "--copy %s: the driver %s %s (zero copy by buffer registration: ublk_drv %s+)",
				 rs_copy_name(want), feat_known ? "does not offer" :
				 "cannot report features (no GET_FEATURES), so no",
				 reg ? "UBLK_F_SUPPORT_ZERO_COPY" : "UBLK_F_AUTO_BUF_REG",
				 reg ? "6.15" : "6.16");
			return -EOPNOTSUPP;
		}
		out->mode = want;
		out->zc = true;
		out->zc_reg = reg;
		return 0;
	}
	if ((want == RS_COPY_SINGLE || want == RS_COPY_NONE) && !store && !ucopy) {
		snprintf(msg, len, "--copy %s: the driver %s UBLK_F_USER_COPY (nor ZUBLK_F_STORE)",
			 rs_copy_name(want), feat_known ? "does not offer" :
			 "cannot report features (no GET_FEATURES), so no");
		return -EOPNOTSUPP;
	}
	if (want == RS_COPY_CLASSIC && pin == RS_PIN_ON && !pinbuf) {
		snprintf(msg, len, "--pin on: the driver %s ZUBLK_F_PIN_BUF",
			 feat_known ? "does not offer" :
			 "cannot report features (no GET_FEATURES), so no");
		return -EOPNOTSUPP;
	}
	out->mode = want;
	out->store = want != RS_COPY_CLASSIC && store;
	out->ucopy = want != RS_COPY_CLASSIC && !store;
	out->pin = want == RS_COPY_CLASSIC && pin != RS_PIN_OFF && pinbuf;
	return 0;
}

const char *rs_copy_path(const struct rs_copy_plan *p)
{
	if (p->store)
		return "store";
	if (p->ucopy)
		return "ucopy";
	if (p->zc)
		return p->zc_reg ? "regbuf" : "autobuf";
	return p->pin ? "pinned" : "buf";
}

static const char *const rec_names[] = {
	[RS_REC_OFF] = "off",
	[RS_REC_QUEUE] = "queue",
	[RS_REC_REISSUE] = "reissue",
	[RS_REC_FAIL] = "fail",
};

const char *rs_recovery_name(enum rs_recovery r)
{
	return (unsigned int)r < sizeof(rec_names) / sizeof(rec_names[0]) ?
	       rec_names[r] : "?";
}

int rs_recovery_parse(const char *s, enum rs_recovery *out)
{
	int i = name_index(rec_names, sizeof(rec_names) / sizeof(rec_names[0]), s);

	if (i < 0)
		return i;
	*out = (enum rs_recovery)i;
	return 0;
}

int rs_recovery_flags(enum rs_recovery r, uint64_t feat, bool feat_known,
		      uint64_t *flags, char *msg, size_t len)
{
	uint64_t want = 0;
	const char *name = NULL;

	switch (r) {
	case RS_REC_OFF:
		*flags = 0;
		return 0;
	case RS_REC_QUEUE:
		want = UBLK_F_USER_RECOVERY;
		break;
	case RS_REC_REISSUE:
		want = UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_REISSUE;
		if (feat_known && (feat & UBLK_F_USER_RECOVERY))
			name = "UBLK_F_USER_RECOVERY_REISSUE";
		break;
	case RS_REC_FAIL:
		want = UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_FAIL_IO;
		if (feat_known && (feat & UBLK_F_USER_RECOVERY))
			name = "UBLK_F_USER_RECOVERY_FAIL_IO";
		break;
	}
	if (!feat_known || (feat & want) != want) {
		snprintf(msg, len, "--recovery %s: the driver %s %s",
			 rs_recovery_name(r), feat_known ? "does not offer" :
			 "cannot report features (no GET_FEATURES), so no",
			 name ? name : "UBLK_F_USER_RECOVERY");
		return -EOPNOTSUPP;
	}
	*flags = want;
	return 0;
}

const char *rs_dev_state_name(int state)
{
	switch (state) {
	case UBLK_S_DEV_DEAD: return "DEAD";
	case UBLK_S_DEV_LIVE: return "LIVE";
	case UBLK_S_DEV_QUIESCED: return "QUIESCED";
	case UBLK_S_DEV_FAIL_IO: return "FAIL_IO";
	}
	return "?";
}

#define RS_DRV_NAME(id, name, what)	[RS_DRV_##id] = #name,
const char *const rs_drv_names[RS_DRV_NR] = {
	ZUBLK_QSTATS(RS_DRV_NAME)
};
#undef RS_DRV_NAME

int rs_drv_parse(const char *text, struct rs_drvq *out)
{
	const char *line = text;
	int n = 0, i;

	memset(out, 0, sizeof(*out));
	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t l = nl ? (size_t)(nl - line) : strlen(line);
		char name[32], *end;
		unsigned long long v;
		const char *sp = memchr(line, ' ', l);

		if (sp && (size_t)(sp - line) < sizeof(name)) {
			memcpy(name, line, (size_t)(sp - line));
			name[sp - line] = '\0';
			errno = 0;
			v = strtoull(sp + 1, &end, 10);
			if (!errno && end > sp + 1 && (end == line + l || *end == '\n'))
				for (i = 0; i < RS_DRV_NR; i++)
					if (!strcmp(name, rs_drv_names[i]) &&
					    !(out->seen & (1U << i))) {
						out->v[i] = v;
						out->seen |= 1U << i;
						n++;
					}
		}
		line = nl ? nl + 1 : NULL;
	}
	return n;
}
