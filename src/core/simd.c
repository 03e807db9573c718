/* simd.c — which vector instruction set the hot loops use, chosen at run time.
 * The kernels (driver scan, exact_diff, …) are compiled for AVX-512 and AVX2 with
 * target attributes whatever -march says, and picked here from what the CPU has.
 * FRAMEPREC_SIMD=scalar|avx2|avx512 forces a lower level (tests use it to prove the
 * paths bit-identical: every path performs the same IEEE operations in the same
 * order, only several lanes at a time). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static _Atomic int level_cache = -1;

static int detect(void)
{
    int hw = FPR_SIMD_SCALAR;
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
        hw = FPR_SIMD_AVX2;
    if (__builtin_cpu_supports("avx512f"))
        hw = FPR_SIMD_AVX512;
#endif
    const char *e = getenv("FRAMEPREC_SIMD");
    int want = hw;
    if (e && *e) {
        if (strcmp(e, "scalar") == 0)
            want = FPR_SIMD_SCALAR;
        else if (strcmp(e, "avx2") == 0)
            want = FPR_SIMD_AVX2;
        else if (strcmp(e, "avx512") == 0)
            want = FPR_SIMD_AVX512;
    }
    return want < hw ? want : hw; /* never more than the CPU has */
}

int fpr_simd_env_check(void)
{
    const char *e = getenv("FRAMEPREC_SIMD");
    if (e && *e && strcmp(e, "scalar") && strcmp(e, "avx2") && strcmp(e, "avx512"))
        return fpr_error(FPR_EUSAGE, "FRAMEPREC_SIMD=%s: expected scalar, avx2 or avx512 (or "
                         "unset: the best the CPU has)", e);
    return FPR_OK;
}

int fpr_simd_level(void)
{
    int l = level_cache;
    if (l < 0) {
        l = detect(); /* idempotent: a race computes the same value twice */
        level_cache = l;
    }
    return l;
}

const char *fpr_simd_name(int level)
{
    switch (level) {
    case FPR_SIMD_AVX512: return "avx512";
    case FPR_SIMD_AVX2: return "avx2";
    default: return "scalar";
    }
}

const char *fpr_simd_active(void) { return fpr_simd_name(fpr_simd_level()); }
