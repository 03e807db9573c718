/* error.c — status codes, the per-thread error message, small system helpers. */
#include <stdarg.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "internal.h"

static _Thread_local char errbuf[2048];

static const char *const code_text[] = {
    "ok", "out of memory", "input/output error", "bad file format",
    "invalid data", "usage error", "case too large for the memory limit",
    "internal error",
};

const char *fpr_strerror(int code)
{
    if (code > 0 || code < FPR_EINTERNAL)
        return "unknown error";
    return code_text[-code];
}

int fpr_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
    return code;
}

const char *fpr_errmsg(void)
{
    return errbuf[0] ? errbuf : "no error";
}

void fpr_clear_error(void) { errbuf[0] = '\0'; }

void *fpr_calloc(size_t n, size_t size)
{
    if (n == 0)
        n = 1;
    if (size != 0 && n > SIZE_MAX / size) {
        fpr_error(FPR_ENOMEM, "allocation of %zu x %zu bytes overflows", n, size);
        return NULL;
    }
    void *p = calloc(n, size);
    if (!p)
        fpr_error(FPR_ENOMEM, "out of memory allocating %zu bytes", n * size);
    return p;
}

void *fpr_malloc_n(size_t n, size_t size)
{
    if (n == 0)
        n = 1;
    if (size != 0 && n > SIZE_MAX / size) {
        fpr_error(FPR_ENOMEM, "allocation of %zu x %zu bytes overflows", n, size);
        return NULL;
    }
    void *p = malloc(n * size);
    if (!p)
        fpr_error(FPR_ENOMEM, "out of memory allocating %zu bytes", n * size);
    return p;
}

char *fpr_strdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *p = fpr_calloc(n, 1);
    if (p)
        memcpy(p, s, n);
    return p;
}

double fpr_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

uint64_t fpr_peak_rss(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)ru.ru_maxrss * 1024u; /* Linux reports KiB */
}
