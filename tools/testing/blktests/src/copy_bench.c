// SPDX-License-Identifier: GPL-2.0
/*
 * Measurements of `make bench`: copy throughput, guest CPU time, latency and
 * kernel memory of four ways to copy within a block device, and the
 * memory-copy bandwidth of one CPU.
 *
 *   copy_bench memcpy [-s SIZE] [-r REPS]
 *   copy_bench idle [-s SECONDS] [-r REPS]
 *   copy_bench fill DEV OFF LEN
 *   copy_bench copy -m METHOD [-s SIZE] [-n RANGES] [-G] [-t MIN] [-r REPS]
 *                   [-R ROUNDS | -c ROUNDS] [-i FIRST] [-l] [-b BUF] [-M] [-L LABEL]
 *                   DEV SRC DST
 *
 * METHOD is
 *   rw       pread() + pwrite() through a BUF-byte buffer (default 1 MiB),
 *            O_DIRECT
 *   splice   copy_file_range() on buffered descriptors, then fdatasync();
 *            the page cache of both ranges is dropped before each repetition
 *   onload   BLKCOPY, expected to be copied by the kernel
 *   offload  BLKCOPY, expected to be offloaded
 * (which of the last two BLKCOPY does is set by queue/copy_max_bytes).
 *
 * Each repetition makes max(1, MIN / SIZE) calls (MIN defaults to 8 MiB) of
 * SIZE bytes each, call i from SRC + i * SIZE to DST + i * SIZE. With
 * RANGES > 1 (BLKCOPY only), each call has RANGES ranges of SIZE / RANGES
 * bytes with a gap of the same size after each, so that they cannot merge.
 * -G gathers: the destination ranges of a call follow each other without
 * gaps, as in garbage collection (NVMe: one command, as its Copy command has
 * many source ranges but one destination).
 * With ROUNDS > 1 a repetition makes its calls that many times over, to copy
 * more than the device holds: long enough for the guest's CPU accounting,
 * which counts ticks. -c does the same for timing alone: a call of a few
 * milliseconds, timed once, is at the mercy of the emulator's jitter.
 * Repetitions are numbered from FIRST (default 0), so that one repetition of
 * each of several runs can be made in turn and compared with its neighbours.
 *
 * Every repetition is checked: BLKCOPY's out_flags and the disk's
 * copy_stats/ must show the expected method, and two destination blocks
 * overwritten before the repetition must hold the source afterwards.
 *
 * Prints one JSON object per line: "memcpy" per repetition, "idle" per
 * repetition (guest CPU seconds while sleeping SECONDS), "copy" per
 * repetition (seconds, guest CPU seconds from /proc/stat, per-call latency
 * p50 and p99, "check": "ok" or what was wrong), "mem" instead of "copy" with
 * -M (idle and peak kernel memory sampled from /proc/meminfo while copying;
 * the sampling costs CPU, so these runs are not for time or CPU), "cpu"
 * instead of "copy" with -R, "latency" with -l (runs for the latency
 * target, made in turn with those they are compared with).
 * Sizes take a K, M or G suffix. Exits 1 on a failed call, 2 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include "errno_name.h"
#include "mono_time.h"
#include <linux/blk-copy.h>

#define BLK 4096

enum method { M_RW, M_SPLICE, M_ONLOAD, M_OFFLOAD };
static const char *const method_names[] = { "rw", "splice", "onload", "offload" };

struct opts {
	enum method method;
	unsigned long long size, min_bytes, buf_bytes, src, dst;
	unsigned int ranges, reps, rounds, first_rep;
	int mem, gather, cpu, latency;
	const char *label, *dev;
};

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "copy_bench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static unsigned long long parse_size(const char *s)
{
	const char *units = "KMG", *unit;
	unsigned long long v;
	char *end;

	v = strtoull(s, &end, 0);
	unit = *end ? strchr(units, *end) : NULL;
	if (unit)
		v <<= 10 * (unit - units + 1);
	if (end == s || (*end && (!unit || end[1]))) {
		fprintf(stderr, "copy_bench: bad size '%s'\n", s);
		exit(2);
	}
	return v;
}

/* Guest CPU time so far, all CPUs, in seconds: user+nice, system+irq+softirq. */
static void cpu_times(double *user, double *sys)
{
	unsigned long long u, n, s, idle, iow, irq, sirq;
	FILE *f = fopen("/proc/stat", "r");

	if (!f || fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu",
			 &u, &n, &s, &idle, &iow, &irq, &sirq) != 7)
		die("cannot read /proc/stat");
	fclose(f);
	*user = (double)(u + n) / sysconf(_SC_CLK_TCK);
	*sys = (double)(s + irq + sirq) / sysconf(_SC_CLK_TCK);
}

/*
 * Free pages waiting on the per-CPU lists, in KiB: MemFree counts only the
 * buddy allocator's pages, and these lists grow and shrink with the rate of
 * frees, by megabytes when memory is short.
 */
static long long pcp_free_kib(void)
{
	long long pages = 0, n;
	char line[256];
	FILE *f = fopen("/proc/zoneinfo", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, " count: %lld", &n) == 1)
			pages += n;
	fclose(f);
	return pages * (sysconf(_SC_PAGESIZE) >> 10);
}

/*
 * Kernel memory in KiB: what is neither free (per-CPU lists included), nor
 * page cache, nor anonymous user memory (slab, page tables, stacks, pages
 * drivers allocated).
 */
static long long kernel_kib(void)
{
	static const char *const keys[] = { "MemTotal:", "MemFree:", "Buffers:",
					    "Cached:", "SwapCached:", "AnonPages:" };
	long long v[6] = { 0 }, val;
	char key[64];
	FILE *f = fopen("/proc/meminfo", "r");
	int i;

	if (!f)
		return -1;
	while (fscanf(f, "%63s %lld%*[^\n]", key, &val) == 2)
		for (i = 0; i < 6; i++)
			if (!strcmp(key, keys[i]))
				v[i] = val;
	fclose(f);
	return v[0] - v[1] - v[2] - v[3] - v[4] - v[5] - pcp_free_kib();
}

/* Peak of kernel_kib() while a copy runs, sampled every 2 ms by a thread. */
static struct {
	pthread_t thread;
	atomic_int stop;
	long long peak;
} sampler;

static void *sample(void *arg)
{
	long long kib;

	(void)arg;
	while (!sampler.stop) {
		kib = kernel_kib();
		if (kib > sampler.peak)
			sampler.peak = kib;
		usleep(2000);
	}
	return NULL;
}

/* Idle kernel memory: the smallest of a few samples 10 ms apart. */
static long long idle_kib(void)
{
	long long kib, min = -1;
	int i;

	for (i = 0; i < 10; i++) {
		kib = kernel_kib();
		if (min < 0 || kib < min)
			min = kib;
		usleep(10000);
	}
	return min;
}

/* Write @stamp + offset into the first word of each block of @buf. */
static void stamp(char *buf, size_t len, unsigned long long stamp)
{
	unsigned long long v;
	size_t i;

	for (i = 0; i < len; i += BLK) {
		v = stamp + i;
		memcpy(buf + i, &v, sizeof(v));
	}
}

/* Random words, then stamped: no two blocks written with distinct stamps are equal. */
static void pattern(char *buf, size_t len, unsigned long long off)
{
	static uint64_t x = 0x9e3779b97f4a7c15ULL;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(buf + i, &x, 8);
	}
	stamp(buf, len, off);
}

static void *alloc_aligned(size_t len)
{
	void *p;

	if (posix_memalign(&p, BLK, len))
		die("out of memory for %zu bytes", len);
	return p;
}

static int open_dev(const char *dev, int flags)
{
	int fd = open(dev, flags);

	if (fd < 0)
		die("%s: %s", dev, strerror(errno));
	return fd;
}

static void pread_all(int fd, void *buf, size_t len, off_t off)
{
	ssize_t ret;
	size_t done = 0;

	while (done < len) {
		ret = pread(fd, (char *)buf + done, len - done, off + done);
		if (ret <= 0)
			die("read at %lld: %s", (long long)(off + done),
			    ret ? errno_name(errno) : "end of device");
		done += ret;
	}
}

static void pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	ssize_t ret;
	size_t done = 0;

	while (done < len) {
		ret = pwrite(fd, (const char *)buf + done, len - done, off + done);
		if (ret <= 0)
			die("write at %lld: %s", (long long)(off + done),
			    ret ? errno_name(errno) : "end of device");
		done += ret;
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int do_memcpy(int argc, char **argv)
{
	unsigned long long size = 256ULL << 20;
	unsigned int reps = 5, r;
	char *a, *b;
	double t0;
	int opt;

	while ((opt = getopt(argc, argv, "s:r:")) != -1) {
		switch (opt) {
		case 's': size = parse_size(optarg); break;
		case 'r': reps = atoi(optarg); break;
		default: return 2;
		}
	}
	a = alloc_aligned(size);
	b = alloc_aligned(size);
	memset(a, 1, size);
	memset(b, 2, size);
	memcpy(b, a, size);		/* warm up */
	for (r = 0; r < reps; r++) {
		t0 = now();
		memcpy(b, a, size);
		/* the compiler must not drop copies it deems redundant */
		asm volatile("" : : "r"(b) : "memory");
		printf("{\"kind\":\"memcpy\",\"size\":%llu,\"rep\":%u,\"secs\":%.6f}\n",
		       size, r, now() - t0);
		fflush(stdout);
	}
	if (b[size - 1] != 1)
		die("memcpy did not copy");
	return 0;
}

/*
 * What the guest's CPUs do while nothing is copied (timer ticks, RCU, kernel
 * threads): the copy measurements' CPU time includes it.
 */
static int do_idle(int argc, char **argv)
{
	unsigned int secs = 5, reps = 3, r;
	double u0, s0, u1, s1, t0;
	int opt;

	while ((opt = getopt(argc, argv, "s:r:")) != -1) {
		switch (opt) {
		case 's': secs = atoi(optarg); break;
		case 'r': reps = atoi(optarg); break;
		default: return 2;
		}
	}
	for (r = 0; r < reps; r++) {
		cpu_times(&u0, &s0);
		t0 = now();
		sleep(secs);
		cpu_times(&u1, &s1);
		printf("{\"kind\":\"idle\",\"rep\":%u,\"secs\":%.6f,\"cpu_user\":%.3f,\"cpu_sys\":%.3f}\n",
		       r, now() - t0, u1 - u0, s1 - s0);
		fflush(stdout);
	}
	return 0;
}

static int do_fill(int argc, char **argv)
{
	unsigned long long off, len, n, chunk = 1 << 20;
	char *buf;
	int fd;

	if (argc != 4) {
		fprintf(stderr, "usage: copy_bench fill DEV OFF LEN\n");
		return 2;
	}
	fd = open_dev(argv[1], O_WRONLY | O_DIRECT);
	off = parse_size(argv[2]);
	len = parse_size(argv[3]);
	buf = alloc_aligned(chunk);
	pattern(buf, chunk, 0);
	for (n = 0; n < len; n += chunk) {
		chunk = len - n < chunk ? len - n : chunk;
		stamp(buf, chunk, off + n);
		pwrite_all(fd, buf, chunk, off + n);
	}
	if (fsync(fd))
		die("fsync: %s", strerror(errno));
	close(fd);
	free(buf);
	return 0;
}

/* The copy_stats/ counters of the disk of @fd; -1 when there are none. */
static const char *const stat_names[] = {
	"offloaded_bytes", "onloaded_bytes", "fallback_bytes", "error_bytes"
};
#define NR_STATS 4

static void copy_stats(int fd, long long *v)
{
	char path[128];
	struct stat st;
	FILE *f;
	int i;

	for (i = 0; i < NR_STATS; i++) {
		v[i] = -1;
		if (fstat(fd, &st))
			continue;
		snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/copy_stats/%s",
			 major(st.st_rdev), minor(st.st_rdev), stat_names[i]);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fscanf(f, "%lld", &v[i]) != 1)
			v[i] = -1;
		fclose(f);
	}
}

/* Append a problem to @check (at most @len bytes). */
static void problem(char *check, size_t len, const char *fmt, ...)
{
	size_t used = strlen(check);
	va_list ap;

	if (used)
		used += snprintf(check + used, len - used, "; ");
	if (used >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(check + used, len - used, fmt, ap);
	va_end(ap);
}

struct copier {
	const struct opts *o;
	int fd, in, out;
	char *buf;
	struct blkcopy *arg;
	unsigned long long stride, rlen;
	unsigned int offloaded;
};

static unsigned long long src_of(const struct copier *c, unsigned long long call,
				 unsigned int range)
{
	return c->o->src + call * c->stride + range * 2 * c->rlen;
}

static unsigned long long dst_of(const struct copier *c, unsigned long long call,
				 unsigned int range)
{
	return c->o->dst + call * c->stride + range * (c->o->gather ? 1 : 2) * c->rlen;
}

/* Copy call number @call. */
static void copy_one(struct copier *c, unsigned long long call)
{
	const struct opts *o = c->o;
	unsigned long long src = src_of(c, call, 0), dst = dst_of(c, call, 0);
	unsigned long long done, n;
	loff_t in_pos, out_pos;
	unsigned int i;
	ssize_t ret;

	switch (o->method) {
	case M_RW:
		for (done = 0; done < o->size; done += n) {
			n = o->size - done < o->buf_bytes ? o->size - done : o->buf_bytes;
			pread_all(c->fd, c->buf, n, src + done);
			pwrite_all(c->fd, c->buf, n, dst + done);
		}
		break;
	case M_SPLICE:
		in_pos = src;
		out_pos = dst;
		for (done = 0; done < o->size; done += ret) {
			ret = copy_file_range(c->in, &in_pos, c->out, &out_pos,
					      o->size - done, 0);
			if (ret <= 0)
				die("copy_file_range at %llu: %s", src + done,
				    ret ? errno_name(errno) : "returned 0");
		}
		break;
	case M_ONLOAD:
	case M_OFFLOAD:
		c->arg->nr_ranges = o->ranges;
		c->arg->flags = 0;
		c->arg->out_flags = 0;
		for (i = 0; i < o->ranges; i++) {
			c->arg->ranges[i].src = src_of(c, call, i);
			c->arg->ranges[i].dst = dst_of(c, call, i);
			c->arg->ranges[i].len = c->rlen;
			c->arg->ranges[i].copied = 0;
		}
		if (ioctl(c->fd, BLKCOPY, c->arg))
			die("BLKCOPY at %llu: %s", src, errno_name(errno));
		for (i = 0; i < o->ranges; i++)
			if (c->arg->ranges[i].copied != c->rlen)
				die("BLKCOPY at %llu: range %u copied %llu of %llu", src, i,
				    (unsigned long long)c->arg->ranges[i].copied, c->rlen);
		if (c->arg->out_flags & BLKCOPY_OFFLOADED)
			c->offloaded++;
		break;
	}
}

/* Write back and drop the page cache of the buffered descriptors. */
static void drop_cache(struct copier *c)
{
	if (fdatasync(c->out) || fdatasync(c->in))
		die("fdatasync: %s", strerror(errno));
	posix_fadvise(c->in, 0, 0, POSIX_FADV_DONTNEED);
	posix_fadvise(c->out, 0, 0, POSIX_FADV_DONTNEED);
}

/* The destination blocks the check looks at: the first and the last. */
static void probe_blocks(const struct copier *c, unsigned long long calls,
			 unsigned long long *src, unsigned long long *dst)
{
	unsigned int last = c->o->ranges - 1;

	src[0] = src_of(c, 0, 0);
	dst[0] = dst_of(c, 0, 0);
	src[1] = src_of(c, calls - 1, last) + c->rlen - BLK;
	dst[1] = dst_of(c, calls - 1, last) + c->rlen - BLK;
}

static int do_copy(int argc, char **argv)
{
	struct opts o = {
		.size = 1 << 20, .min_bytes = 8 << 20, .buf_bytes = 1 << 20,
		.ranges = 1, .reps = 5, .rounds = 1, .label = "",
	};
	unsigned long long calls, span, devsize, i, n, psrc[2], pdst[2];
	long long st0[NR_STATS], st1[NR_STATS], d, want[NR_STATS], idle = 0;
	double u0, s0, u1, s1, t0, t1, *lat;
	char *pbuf, *sbuf, check[512];
	struct copier c = { .o = &o };
	int opt, m = -1, p;
	unsigned int r, k;

	while ((opt = getopt(argc, argv, "m:s:n:Gt:r:R:c:i:lb:ML:")) != -1) {
		switch (opt) {
		case 'm':
			for (k = 0; k < 4; k++)
				if (!strcmp(optarg, method_names[k]))
					m = k;
			break;
		case 's': o.size = parse_size(optarg); break;
		case 'n': o.ranges = atoi(optarg); break;
		case 't': o.min_bytes = parse_size(optarg); break;
		case 'r': o.reps = atoi(optarg); break;
		case 'R': o.rounds = atoi(optarg); o.cpu = 1; break;
		case 'c': o.rounds = atoi(optarg); o.cpu = 0; break;
		case 'i': o.first_rep = atoi(optarg); break;
		case 'l': o.latency = 1; break;
		case 'b': o.buf_bytes = parse_size(optarg); break;
		case 'M': o.mem = 1; break;
		case 'G': o.gather = 1; break;
		case 'L': o.label = optarg; break;
		default: return 2;
		}
	}
	if (m < 0 || argc - optind != 3) {
		fprintf(stderr, "usage: copy_bench copy -m rw|splice|onload|offload [-s SIZE] [-n RANGES] [-G] [-t MIN] [-r REPS] [-R ROUNDS | -c ROUNDS] [-i FIRST] [-l] [-b BUF] [-M] [-L LABEL] DEV SRC DST\n");
		return 2;
	}
	o.method = m;
	o.dev = argv[optind];
	o.src = parse_size(argv[optind + 1]);
	o.dst = parse_size(argv[optind + 2]);
	if (o.ranges < 1 || o.ranges > BLKCOPY_MAX_RANGES ||
	    (o.ranges > 1 && o.method < M_ONLOAD) || !o.reps || !o.rounds || !o.buf_bytes ||
	    o.size % ((unsigned long long)o.ranges * BLK) || !o.size) {
		fprintf(stderr, "copy_bench: bad ranges, size or repetitions\n");
		return 2;
	}
	c.rlen = o.size / o.ranges;
	c.stride = o.ranges > 1 ? 2 * o.size : o.size;
	calls = o.min_bytes > o.size ? o.min_bytes / o.size : 1;
	span = calls * c.stride;
	n = calls * o.rounds;

	c.fd = open_dev(o.dev, O_RDWR | O_DIRECT);
	if (ioctl(c.fd, BLKGETSIZE64, &devsize))
		die("BLKGETSIZE64: %s", strerror(errno));
	if (o.src + span > o.dst || o.dst + span > devsize)
		die("%llu calls of %llu bytes from %llu to %llu do not fit in %llu bytes",
		    calls, c.stride, o.src, o.dst, devsize);
	if (o.method == M_SPLICE) {
		c.in = open_dev(o.dev, O_RDONLY);
		c.out = open_dev(o.dev, O_WRONLY);
	}
	c.buf = alloc_aligned(o.size < o.buf_bytes ? o.size : o.buf_bytes);
	c.arg = calloc(1, sizeof(*c.arg) + o.ranges * sizeof(c.arg->ranges[0]));
	lat = calloc(n, sizeof(*lat));
	pbuf = alloc_aligned(BLK);
	sbuf = alloc_aligned(BLK);
	if (!c.arg || !lat)
		die("out of memory");
	probe_blocks(&c, calls, psrc, pdst);

	for (r = 0; r < o.reps; r++) {
		/* Overwrite the probe blocks so that a copy that did nothing shows. */
		for (p = 0; p < 2; p++) {
			pattern(pbuf, BLK, ~0ULL - o.first_rep - r);
			pwrite_all(c.fd, pbuf, BLK, pdst[p]);
		}
		if (o.method == M_SPLICE)
			drop_cache(&c);
		c.offloaded = 0;
		copy_stats(c.fd, st0);
		if (o.mem) {
			idle = idle_kib();
			sampler.stop = 0;
			sampler.peak = idle;
			if (pthread_create(&sampler.thread, NULL, sample, NULL))
				die("pthread_create failed");
		}
		cpu_times(&u0, &s0);
		t0 = now();
		for (i = 0; i < n; i++) {
			t1 = now();
			copy_one(&c, i % calls);
			lat[i] = now() - t1;
		}
		if (o.method == M_SPLICE && fdatasync(c.out))
			die("fdatasync: %s", strerror(errno));
		t1 = now();
		cpu_times(&u1, &s1);
		if (o.mem) {
			sampler.stop = 1;
			pthread_join(sampler.thread, NULL);
		}
		copy_stats(c.fd, st1);

		check[0] = 0;
		memset(want, 0, sizeof(want));
		if (o.method == M_OFFLOAD)
			want[0] = n * o.size;
		/*
		 * Onload is BLKCOPY with copy_max_bytes 0: the offload it tries
		 * first is refused (a fallback), then the kernel copies.
		 */
		if (o.method == M_ONLOAD)
			want[1] = want[2] = n * o.size;
		for (k = 0; k < NR_STATS; k++) {
			d = st1[k] - st0[k];
			if (st0[k] < 0 || st1[k] < 0)
				problem(check, sizeof(check), "no copy_stats/%s", stat_names[k]);
			else if (d != want[k])
				problem(check, sizeof(check), "%s moved %lld, expected %lld",
					stat_names[k], d, want[k]);
		}
		if (o.method == M_OFFLOAD && c.offloaded != n)
			problem(check, sizeof(check), "%llu of %llu calls offloaded",
				(unsigned long long)c.offloaded, n);
		if (o.method == M_ONLOAD && c.offloaded)
			problem(check, sizeof(check), "%u calls offloaded", c.offloaded);
		for (p = 0; p < 2; p++) {
			pread_all(c.fd, pbuf, BLK, pdst[p]);
			pread_all(c.fd, sbuf, BLK, psrc[p]);
			if (memcmp(pbuf, sbuf, BLK))
				problem(check, sizeof(check),
					"destination at %llu differs from its source", pdst[p]);
		}

		qsort(lat, n, sizeof(*lat), cmp_double);
		printf("{\"kind\":\"%s\",\"dev\":\"%s\",\"method\":\"%s\",\"size\":%llu,"
		       "\"ranges\":%u,\"gather\":%d,\"rounds\":%u,\"calls\":%llu,\"rep\":%u,\"bytes\":%llu,\"secs\":%.6f,"
		       "\"cpu_user\":%.3f,\"cpu_sys\":%.3f,\"lat_p50_us\":%.1f,\"lat_p99_us\":%.1f,",
		       o.mem ? "mem" : o.latency ? "latency" : o.cpu && o.rounds > 1 ? "cpu" : "copy", o.label,
		       method_names[o.method], o.size, o.ranges, o.gather, o.rounds, n, o.first_rep + r, n * o.size, t1 - t0,
		       u1 - u0, s1 - s0, lat[(n - 1) * 50 / 100] * 1e6, lat[(n - 1) * 99 / 100] * 1e6);
		if (o.mem)
			printf("\"mem_idle_kib\":%lld,\"mem_peak_kib\":%lld,", idle, sampler.peak);
		printf("\"check\":\"%s\"}\n", check[0] ? check : "ok");
		fflush(stdout);
	}
	if (o.method == M_SPLICE)
		drop_cache(&c);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "memcpy"))
		return do_memcpy(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "idle"))
		return do_idle(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "fill"))
		return do_fill(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "copy"))
		return do_copy(argc - 1, argv + 1);
	fprintf(stderr, "usage: copy_bench memcpy|idle|fill|copy ...\n");
	return 2;
}
