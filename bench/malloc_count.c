/* malloc_count: an LD_PRELOAD shim that counts heap calls made inside a time
 * window of a process's life, for the steady-state allocation figure.
 *
 * Environment:
 *   MALLOC_COUNT_OUT    file the counts are written to at exit (required;
 *                       without it the shim only forwards)
 *   MALLOC_COUNT_FROM   seconds after start the window opens (default 0)
 *   MALLOC_COUNT_TO     seconds after start it closes (default: never)
 *
 * Calls are forwarded to glibc's __libc_* functions. Allocations are split
 * by the library that called: libzmq and libstdc++ (only ZeroMQ brings C++
 * into the daemon) against everything else, and the other callers' return
 * addresses are kept (up to 32) and named at exit with dladdr, so a per
 * sample or per message allocation in the daemon is found by name.
 */
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t m);
void *__libc_realloc(void *p, size_t n);
void __libc_free(void *p);

static double from_s = 0, to_s = 1e300, start_s;
static const char *out_path;
static atomic_ulong n_malloc, n_calloc, n_realloc, n_free, n_zmq, n_other;
static _Thread_local int busy;

#define CALLERS 32
static atomic_uintptr_t caller_pc[CALLERS];
static atomic_ulong caller_n[CALLERS];
static uintptr_t zmq_lo[8], zmq_hi[8];
static int n_zmq_ranges;

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int in_window(void)
{
    if (!out_path || busy)
        return 0;
    double t = mono_s() - start_s;
    return t >= from_s && t <= to_s;
}

/* Whether pc lies in libzmq or libstdc++, by dladdr; remembered as ranges. */
static int from_zmq(uintptr_t pc)
{
    for (int i = 0; i < n_zmq_ranges; i++)
        if (pc >= zmq_lo[i] && pc < zmq_hi[i])
            return 1;
    Dl_info info;
    busy = 1;
    int ok = dladdr((void *)pc, &info);
    busy = 0;
    if (!ok || !info.dli_fname)
        return 0;
    if (!strstr(info.dli_fname, "libzmq") && !strstr(info.dli_fname, "libstdc++"))
        return 0;
    if (n_zmq_ranges < 8) {
        /* The library's text lies within 64 MB of its base. */
        zmq_lo[n_zmq_ranges] = (uintptr_t)info.dli_fbase;
        zmq_hi[n_zmq_ranges] = (uintptr_t)info.dli_fbase + (64u << 20);
        n_zmq_ranges++;
    }
    return 1;
}

static void count_alloc(uintptr_t pc)
{
    if (from_zmq(pc)) {
        atomic_fetch_add(&n_zmq, 1);
        return;
    }
    atomic_fetch_add(&n_other, 1);
    for (int i = 0; i < CALLERS; i++) {
        uintptr_t expected = 0;
        if (atomic_load(&caller_pc[i]) == pc ||
            atomic_compare_exchange_strong(&caller_pc[i], &expected, pc)) {
            if (atomic_load(&caller_pc[i]) == pc) {
                atomic_fetch_add(&caller_n[i], 1);
                return;
            }
        }
    }
}

void *malloc(size_t n)
{
    if (in_window()) {
        atomic_fetch_add(&n_malloc, 1);
        count_alloc((uintptr_t)__builtin_return_address(0));
    }
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
    if (in_window()) {
        atomic_fetch_add(&n_calloc, 1);
        count_alloc((uintptr_t)__builtin_return_address(0));
    }
    return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
    if (in_window()) {
        atomic_fetch_add(&n_realloc, 1);
        count_alloc((uintptr_t)__builtin_return_address(0));
    }
    return __libc_realloc(p, n);
}

void free(void *p)
{
    if (p && in_window())
        atomic_fetch_add(&n_free, 1);
    __libc_free(p);
}

__attribute__((constructor)) static void setup(void)
{
    start_s = mono_s();
    const char *v = getenv("MALLOC_COUNT_FROM");
    if (v)
        from_s = atof(v);
    v = getenv("MALLOC_COUNT_TO");
    if (v)
        to_s = atof(v);
    out_path = getenv("MALLOC_COUNT_OUT");
}

__attribute__((destructor)) static void report(void)
{
    if (!out_path)
        return;
    const char *path = out_path;
    out_path = NULL; /* stop counting: the report's own allocations are not ours */
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    double end = mono_s() - start_s;
    double window = (end < to_s ? end : to_s) - from_s;
    fprintf(f, "window_s %.3f malloc %lu calloc %lu realloc %lu free %lu zmq %lu other %lu\n",
            window, atomic_load(&n_malloc), atomic_load(&n_calloc), atomic_load(&n_realloc),
            atomic_load(&n_free), atomic_load(&n_zmq), atomic_load(&n_other));
    for (int i = 0; i < CALLERS; i++) {
        uintptr_t pc = atomic_load(&caller_pc[i]);
        if (!pc)
            break;
        Dl_info info;
        const char *sym = "?", *obj = "?";
        uintptr_t off = 0;
        if (dladdr((void *)pc, &info)) {
            if (info.dli_sname)
                sym = info.dli_sname;
            if (info.dli_fname)
                obj = info.dli_fname;
            off = pc - (uintptr_t)info.dli_fbase; /* for addr2line -f -e obj off */
        }
        fprintf(f, "caller %s (%s+0x%lx) %lu\n", sym, obj, (unsigned long)off,
                atomic_load(&caller_n[i]));
    }
    fclose(f);
}
