/*
 * bench_util.h -- what every benchmark program needs besides the thing it
 * measures: a monotonic clock, latency summaries (mean and percentiles), a
 * seeded PRNG, the machine description that goes into every result file
 * and a few JSON helpers (jansson).
 *
 * CLOCK.  dcf_bench_now_ns reads CLOCK_MONOTONIC.  dcf_bench_timer_cost_ns
 * measures what one reading costs on this machine so results can say how
 * much of a per-query latency is the timer itself.
 *
 * LATENCIES are kept as one uint32 of nanoseconds per sample (a sample
 * longer than 4 s saturates); dcf_bench_lat_summary sorts a copy.
 *
 * Header-only because each bench/<name>.c is its own executable.  Nothing here
 * keeps global state; everything is reentrant.
 */
#ifndef DCF_BENCH_UTIL_H
#define DCF_BENCH_UTIL_H

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "deconflict/core.h"

/* --------------------------------------------------------------- clock -- */

static inline uint64_t dcf_bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

/* Mean cost in ns of one dcf_bench_now_ns call, over `n` calls. */
static inline double dcf_bench_timer_cost_ns(unsigned n) {
    uint64_t t0 = dcf_bench_now_ns(), sink = 0;
    for (unsigned i = 0; i < n; i++)
        sink += dcf_bench_now_ns();
    uint64_t t1 = dcf_bench_now_ns();
    return sink == 0 ? 0.0 : (double)(t1 - t0) / (double)n;
}

static inline uint32_t dcf_bench_sat32(uint64_t ns) {
    return ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

/* ---------------------------------------------------------------- PRNG -- */

/* splitmix64: small, fast, and the same sequence on every machine. */
typedef struct {
    uint64_t s;
} dcf_bench_rng_t;

static inline uint64_t dcf_bench_rng_next(dcf_bench_rng_t *r) {
    uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0 (the bias of a 64-bit modulus is negligible). */
static inline uint64_t dcf_bench_rng_below(dcf_bench_rng_t *r, uint64_t n) {
    return dcf_bench_rng_next(r) % n;
}

/* Uniform in [0, 1), 53 bits. */
static inline double dcf_bench_rng_unit(dcf_bench_rng_t *r) {
    return (double)(dcf_bench_rng_next(r) >> 11) * 0x1.0p-53;
}

/* ----------------------------------------------------------- latencies -- */

typedef struct {
    size_t n;
    double mean_ns, p50_ns, p90_ns, p99_ns, max_ns;
} dcf_bench_lat_t;

static inline int dcf_bench_cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted s[0..n-1], 0 < p <= 100. */
static inline double dcf_bench_pct(const uint32_t *s, size_t n, double p) {
    if (n == 0)
        return 0.0;
    size_t rank = (size_t)((p / 100.0) * (double)n + 0.999999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)s[rank - 1];
}

/* Summarise n samples (ns).  Returns false when out of memory. */
static inline bool dcf_bench_lat_summary(const uint32_t *ns, size_t n, dcf_bench_lat_t *out) {
    memset(out, 0, sizeof *out);
    out->n = n;
    if (n == 0)
        return true;
    uint32_t *s = malloc(n * sizeof *s);
    if (s == NULL)
        return false;
    memcpy(s, ns, n * sizeof *s);
    qsort(s, n, sizeof *s, dcf_bench_cmp_u32);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += s[i];
    out->mean_ns = sum / (double)n;
    out->p50_ns = dcf_bench_pct(s, n, 50);
    out->p90_ns = dcf_bench_pct(s, n, 90);
    out->p99_ns = dcf_bench_pct(s, n, 99);
    out->max_ns = s[n - 1];
    free(s);
    return true;
}

/* ------------------------------------------------------------- machine -- */

/* Copy the first line of `cmd`'s output into buf (empty on failure). */
static inline void dcf_bench_cmd_line(const char *cmd, char *buf, size_t len) {
    buf[0] = '\0';
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return;
    if (fgets(buf, (int)len, p) == NULL)
        buf[0] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    pclose(p);
}

/* The value of the first "key<spaces>: value" line of a /proc file. */
static inline void dcf_bench_proc_field(const char *path, const char *key, char *buf, size_t len) {
    char line[512];
    size_t klen = strlen(key);
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, key, klen) != 0)
            continue;
        const char *v = strchr(line + klen, ':');
        if (v == NULL)
            continue;
        v++;
        while (*v == ' ' || *v == '\t')
            v++;
        snprintf(buf, len, "%s", v);
        buf[strcspn(buf, "\r\n")] = '\0';
        break;
    }
    fclose(f);
}

/* Peak resident set size in bytes (VmHWM), or 0. */
static inline uint64_t dcf_bench_peak_rss(void) {
    char v[64];
    dcf_bench_proc_field("/proc/self/status", "VmHWM", v, sizeof v);
    return (uint64_t)strtoull(v, NULL, 10) * 1024u;
}

/* How the sources are fingerprinted (run from the repository root);
 * scripts/bench-engine runs the same command. */
#define DCF_BENCH_SOURCE_SHA_CMD                                                                   \
    "cat CMakeLists.txt include/deconflict/*.h src/*.c src/*/*.[ch] bench/*.[ch] 2>/dev/null | "   \
    "sha256sum | cut -c1-16"

/* A JSON object describing the machine and the source: nproc, CPU model,
 * memory, kernel, load average, UTC date, git commit (and whether the work
 * tree had uncommitted or untracked changes to what is built), a SHA-256
 * prefix of the sources (DCF_BENCH_SOURCE_SHA when set), compiler.  NULL on
 * allocation failure. */
static inline json_t *dcf_bench_machine_json(void) {
    char cpu[256], mem[64], commit[64], dirty[16], date[32], load[128], src[80];
    struct utsname u;
    time_t now = time(NULL);
    struct tm tm;

    dcf_bench_proc_field("/proc/cpuinfo", "model name", cpu, sizeof cpu);
    dcf_bench_proc_field("/proc/meminfo", "MemTotal", mem, sizeof mem);
    dcf_bench_cmd_line("git rev-parse HEAD 2>/dev/null", commit, sizeof commit);
    /* Uncommitted or untracked changes to anything that is built. */
    dcf_bench_cmd_line("git status --porcelain -- src include bench CMakeLists.txt 2>/dev/null | "
                       "wc -l",
                       dirty, sizeof dirty);
    /* A fingerprint of the sources, whatever git says: the one
     * scripts/bench-engine took right after building, else the tree's now. */
    const char *built = getenv("DCF_BENCH_SOURCE_SHA");
    if (built != NULL && built[0] != '\0')
        snprintf(src, sizeof src, "%s", built);
    else
        dcf_bench_cmd_line(DCF_BENCH_SOURCE_SHA_CMD, src, sizeof src);
    dcf_bench_cmd_line("cat /proc/loadavg 2>/dev/null", load, sizeof load);
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (uname(&u) != 0)
        memset(&u, 0, sizeof u);

    json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s, s:s}", "nproc",
                          (json_int_t)sysconf(_SC_NPROCESSORS_ONLN), "cpu_model", cpu, "mem_total",
                          mem, "date_utc", date, "git_commit", commit, "git_dirty",
                          strtol(dirty, NULL, 10) != 0, "kernel", u.release, "loadavg_at_start",
                          load, "source_sha256_16", src, "compiler",
#if defined(__clang__)
                          "clang " __clang_version__
#elif defined(__GNUC__)
                          "gcc " __VERSION__
#else
                          "unknown"
#endif
    );
    return o;
}

/* A decimal unsigned integer <= max, the whole string; DCF_EINVAL otherwise
 * (no sign, no trailing text). */
static inline int bench_parse_u64(const char *s, uint64_t max, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max)
        return DCF_EINVAL;
    *out = v;
    return DCF_OK;
}

#endif /* DCF_BENCH_UTIL_H */
