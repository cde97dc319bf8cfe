// SPDX-License-Identifier: GPL-2.0
/*
 * ramsrv: data copy for the ram target. glibc's memcpy uses "rep movsb" for
 * large copies, which some CPUs and emulators (qemu TCG: ~10x slower) run
 * badly; a plain 64-bit word loop is sometimes faster. Measure both at start
 * for small and large copies and use the faster (RAMSRV_COPY=libc|words
 * forces one).
 */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>
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

static uint64_t ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static uint64_t best_of(void *(*fn)(void *, const void *, size_t), char *dst,
			const char *src, size_t len)
{
	uint64_t best = UINT64_MAX, t;
	int i;

	for (i = 0; i < 5; i++) {
		t = ns();
		fn(dst, src, len);
		t = ns() - t;
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
