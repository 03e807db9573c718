/* matmul_common.h — shared pieces of the torch.cdist-identity backends (SPEC §3):
 * the GEMM operand layout, option parsing, operand rounding to TF32/bfloat16, the
 * a-priori error bound of the identity and the PyTorch memory model of cdist.
 * Header-only (static functions) so that each backend file still exports exactly one
 * descriptor and reads as the whole arithmetic of its variant.
 *
 * The identity, as torch.cdist's _euclidean_dist builds it (ATen Distance.cpp):
 *   n_i   = x_i.pow(2).sum(-1)            float32: (x0² + x1²) + x2², each op rounded
 *   A_i   = [−2x_i0, −2x_i1, −2x_i2, n_i, 1]      (cat of x1.mul(-2), norm, ones)
 *   B_j   = [ x_j0,   x_j1,   x_j2,  1,  n_j]     (cat of x2, ones, norm)
 *   dot   = A_i · B_j                      one GEMM, K = 5
 *   value = sqrt(clamp_min(dot, 0))        no eps
 * −2x is exact (a power-of-two scaling), so A and B hold exactly the float32 values a
 * GEMM would read; fast-float32-matmul modes then reduce both operands (TF32, bf16).
 * Per-chain precomputation (norms, rounded operands) is done once in prepare_chain and
 * stored in the chain's aux block as structure-of-arrays, so eval is a tight loop. */
#ifndef FPR_MATMUL_COMMON_H
#define FPR_MATMUL_COMMON_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

/* ------------------------------------------------------------------ options */
enum { MM_ORDER_SEQ = 0, MM_ORDER_REV = 1, MM_ORDER_PAIRWISE = 2 };
/* Operand reduction to a narrower significand (TF32 or bfloat16). */
enum { MM_ROUND_ZERO = 0, MM_ROUND_NEAREST_AWAY = 1, MM_ROUND_NEAREST_EVEN = 2 };

typedef struct mm_cfg {
    int order; /* MM_ORDER_* : accumulation order of the 5-term dot */
    int fma;   /* 1: each product after the first is fused into the running sum */
    int round; /* MM_ROUND_* : operand reduction (TF32 / bf16 variants only) */
    int acc;   /* MM_ACC_* : accumulation model (matmul_tf32 only) */
    /* The constants of the backend's d2_error_bound under these options (its unit
     * roundoffs, γ's), set by its configure after mm_configure: a bound is asked for
     * every compared pair, and ldexp and γ's divisions cost more than the rest of it.
     * Each is the expression the bound would evaluate, so the bound's bits are the
     * same. bound_set = 0 (a zeroed or default cfg): the bound computes them itself. */
    double bound_k[4];
    int bound_set;
} mm_cfg;
/* Accumulation of the 5-term dot: IEEE float32 operation by operation, or the
 * tensor-core block model of matmul_tf32 (acc=tc). */
enum { MM_ACC_F32 = 0, MM_ACC_TC = 1 };

/* Parses "k=v,..." for the keys in `allowed` (a subset of "order", "fma", "round", "acc").
 * round: zero, nearest_away, nearest_even ("nearest" is an alias of nearest_even).
 * Unknown keys or values are usage errors naming the backend and the valid choices. */
static inline int mm_configure(const fpr_backend *b, const char *params, const mm_cfg *dflt,
                        unsigned allowed, void **out)
{
    enum { K_ORDER = 1, K_FMA = 2, K_ROUND = 4, K_ACC = 8 };
    mm_cfg *c = fpr_calloc(1, sizeof *c);
    if (!c)
        return FPR_ENOMEM;
    *c = *dflt;
    const char *p = params ? params : "";
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[64];
        if (len >= sizeof item) {
            free(c);
            return fpr_error(FPR_EUSAGE, "backend %s: option too long: '%.*s'", b->name,
                             (int)len, p);
        }
        memcpy(item, p, len);
        item[len] = 0;
        char *eq = strchr(item, '=');
        const char *val = eq ? eq + 1 : "";
        if (eq)
            *eq = 0;
        int ok = 0;
        if (len == 0) {
            ok = 1;
        } else if ((allowed & K_ORDER) && strcmp(item, "order") == 0) {
            ok = 1;
            if (strcmp(val, "seq") == 0) c->order = MM_ORDER_SEQ;
            else if (strcmp(val, "rev") == 0) c->order = MM_ORDER_REV;
            else if (strcmp(val, "pairwise") == 0) c->order = MM_ORDER_PAIRWISE;
            else ok = 0;
        } else if ((allowed & K_FMA) && strcmp(item, "fma") == 0) {
            ok = 1;
            if (strcmp(val, "0") == 0) c->fma = 0;
            else if (strcmp(val, "1") == 0) c->fma = 1;
            else ok = 0;
        } else if ((allowed & K_ROUND) && strcmp(item, "round") == 0) {
            ok = 1;
            if (strcmp(val, "zero") == 0) c->round = MM_ROUND_ZERO;
            else if (strcmp(val, "nearest") == 0) c->round = MM_ROUND_NEAREST_EVEN;
            else if (strcmp(val, "nearest_even") == 0) c->round = MM_ROUND_NEAREST_EVEN;
            else if (strcmp(val, "nearest_away") == 0) c->round = MM_ROUND_NEAREST_AWAY;
            else ok = 0;
        } else if ((allowed & K_ACC) && strcmp(item, "acc") == 0) {
            ok = 1;
            if (strcmp(val, "f32") == 0) c->acc = MM_ACC_F32;
            else if (strcmp(val, "tc") == 0) c->acc = MM_ACC_TC;
            else ok = 0;
        }
        if (!ok) {
            free(c);
            return fpr_error(FPR_EUSAGE, "backend %s: bad option '%.*s'; valid: %s", b->name,
                             (int)len, p, b->params_help ? b->params_help : "(none)");
        }
        p += len;
        if (*p == ',')
            p++;
    }
    *out = c;
    return FPR_OK;
}

static inline void mm_cfg_free(void *cfg) { free(cfg); }

/* ------------------------------------------------------------------ operand reduction */
/* Rounds a float32 to `bits` significant bits (11 = TF32, 8 = bfloat16), exponent range
 * unchanged (both formats share float32's 8-bit exponent), by integer arithmetic on the
 * encoding: exact, and the same on every platform. Inf/NaN never occur (validated
 * coordinates are finite and |x| is far below overflow). With d = 24 − bits dropped
 * bits, h = 2^(d−1) and the kept part's last bit l, the encoding u becomes
 * (u + add + (l & lsb)) with the low d bits cleared: a carry out of the dropped bits
 * rounds the magnitude up, and carries into the exponent correctly:
 *   nearest even: add = h − 1, lsb = 1 (up iff low > h, or low = h and l = 1);
 *   nearest away: add = h,     lsb = 0 (up iff low ≥ h);
 *   zero:         add = 0,     lsb = 0 (truncation).
 * One formula for every mode, without branches, so the array loop vectorizes. */
typedef struct mm_rnd {
    uint32_t keep, add, lsb;
    int drop;
} mm_rnd;

static inline mm_rnd mm_rnd_of(int bits, int mode)
{
    mm_rnd r;
    r.drop = 24 - bits;
    r.keep = ~((1u << r.drop) - 1);
    const uint32_t half = 1u << (r.drop - 1);
    r.add = mode == MM_ROUND_NEAREST_EVEN ? half - 1 : mode == MM_ROUND_NEAREST_AWAY ? half : 0;
    r.lsb = mode == MM_ROUND_NEAREST_EVEN ? 1u : 0u;
    return r;
}

static inline float mm_round(float v, mm_rnd r)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    u = (u + r.add + ((u >> r.drop) & r.lsb)) & r.keep;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* Unit roundoff of a reduction to `bits` significant bits: RN gives 2^-bits, RZ (or
 * a truncating tensor core) up to 2^(1-bits). */
static inline double mm_reduce_u(int bits, int mode)
{
    return ldexp(1.0, mode == MM_ROUND_ZERO ? 1 - bits : -bits);
}

/* ------------------------------------------------------------------ operand layout */
/* The chain's GEMM operands, structure of arrays: a[k][j] = A_j[k], b[k][j] = B_j[k]
 * (already reduced for the TF32 / bf16 variants; bf16x3 adds the low parts). */
typedef struct mm_aux {
    int64_t n;
    float cx, cy, cz;  /* centroid subtracted (matmul_centered), else 0 */
    float *a[5], *b[5];
    float *alo[5], *blo[5]; /* bf16x3 only: low bfloat16 parts; NULL otherwise */
} mm_aux;

static inline size_t mm_aux_bytes_k(int64_t n, int with_lo)
{
    size_t arrays = with_lo ? 20 : 10;
    return sizeof(mm_aux) + 64 + arrays * ((size_t)n * sizeof(float) + 64);
}

/* Lays the arrays out inside the aux block (64-byte aligned each). */
static inline mm_aux *mm_aux_layout(void *aux, int64_t n, int with_lo)
{
    mm_aux *m = aux;
    char *p = (char *)aux + sizeof(mm_aux);
    size_t arr = ((size_t)n * sizeof(float) + 63) & ~(size_t)63;
    p = (char *)(((uintptr_t)p + 63) & ~(uintptr_t)63);
    m->n = n;
    m->cx = m->cy = m->cz = 0;
    for (int k = 0; k < 5; k++) {
        m->a[k] = (float *)p, p += arr;
        m->b[k] = (float *)p, p += arr;
        if (with_lo) {
            m->alo[k] = (float *)p, p += arr;
            m->blo[k] = (float *)p, p += arr;
        } else {
            m->alo[k] = m->blo[k] = NULL;
        }
    }
    return m;
}

/* Fills the float32 operands of the identity from coordinates (x − c) — c = 0 except
 * for matmul_centered. The shifted coordinate is rounded to float32 (as a PyTorch
 * `x - centroid` is); the norm is torch's x.pow(2).sum(-1): (x0² + x1²) + x2². */
static inline void mm_fill_f32(mm_aux *m, const fpr_chain_view *cv)
{
    for (int64_t j = 0; j < cv->n; j++) {
        float x0 = cv->x[j] - m->cx, x1 = cv->y[j] - m->cy, x2 = cv->z[j] - m->cz;
        float nrm = (x0 * x0 + x1 * x1) + x2 * x2;
        m->a[0][j] = -2.0f * x0;
        m->a[1][j] = -2.0f * x1;
        m->a[2][j] = -2.0f * x2;
        m->a[3][j] = nrm;
        m->a[4][j] = 1.0f;
        m->b[0][j] = x0;
        m->b[1][j] = x1;
        m->b[2][j] = x2;
        m->b[3][j] = 1.0f;
        m->b[4][j] = nrm;
    }
}

/* Reduces every GEMM operand to `bits` significant bits (TF32: 11, bf16: 8). With
 * `with_lo` (bf16x3) the operand v becomes hi + lo, hi = reduce(v), lo = reduce(v − hi)
 * (v − hi is exact in float32: it is v's own low bits). The ones stay exact. */
static inline void mm_reduce_array(float *restrict v, float *restrict lo, int64_t n, mm_rnd r)
{
    if (lo) {
        #pragma omp simd
        for (int64_t j = 0; j < n; j++) {
            float hi = mm_round(v[j], r);
            lo[j] = mm_round(v[j] - hi, r);
            v[j] = hi;
        }
    } else {
        #pragma omp simd
        for (int64_t j = 0; j < n; j++)
            v[j] = mm_round(v[j], r);
    }
}

static inline void mm_reduce_operands(mm_aux *m, int bits, int mode, int with_lo)
{
    const mm_rnd r = mm_rnd_of(bits, mode);
    for (int k = 0; k < 5; k++) {
        mm_reduce_array(m->a[k], with_lo ? m->alo[k] : NULL, m->n, r);
        mm_reduce_array(m->b[k], with_lo ? m->blo[k] : NULL, m->n, r);
    }
}

/* ------------------------------------------------------------------ the 5-term dot */
/* Explicit SIMD for the two sequential orders (the default, and fma=0, which is what
 * Debian's PyTorch computes: reference BLAS sgemm, k in order, no FMA). Lane by lane
 * the same IEEE operations as the scalar loops below: mul, fmadd (or mul + add), max
 * with +0 (MAXPS returns its second operand, +0, for NaN and for ±0: exactly
 * `s > 0 ? s : 0`); the sqrt follows in fpr_eval_f32_from_sq. Written out because the generic
 * loops only vectorise when sqrtf may skip errno (-fno-math-errno must come after
 * -fno-fast-math). */
#ifdef FPR_HAVE_X86_SIMD
#include <immintrin.h>

__attribute__((target("avx512f"))) static void mm_seq_avx512(int fma, const float a[5],
                                                             const float *const b[5],
                                                             int64_t n, float *out)
{
    const __m512 a0 = _mm512_set1_ps(a[0]), a1 = _mm512_set1_ps(a[1]),
                 a2 = _mm512_set1_ps(a[2]), a3 = _mm512_set1_ps(a[3]),
                 a4 = _mm512_set1_ps(a[4]), zero = _mm512_setzero_ps();
    int64_t j = 0;
    if (fma) {
        for (; j + 16 <= n; j += 16) {
            __m512 s = _mm512_mul_ps(a0, _mm512_loadu_ps(b[0] + j));
            s = _mm512_fmadd_ps(a1, _mm512_loadu_ps(b[1] + j), s);
            s = _mm512_fmadd_ps(a2, _mm512_loadu_ps(b[2] + j), s);
            s = _mm512_fmadd_ps(a3, _mm512_loadu_ps(b[3] + j), s);
            s = _mm512_fmadd_ps(a4, _mm512_loadu_ps(b[4] + j), s);
            _mm512_storeu_ps(out + j, _mm512_max_ps(s, zero));
        }
    } else {
        for (; j + 16 <= n; j += 16) {
            __m512 s = _mm512_add_ps(_mm512_mul_ps(a0, _mm512_loadu_ps(b[0] + j)),
                                     _mm512_mul_ps(a1, _mm512_loadu_ps(b[1] + j)));
            s = _mm512_add_ps(s, _mm512_mul_ps(a2, _mm512_loadu_ps(b[2] + j)));
            s = _mm512_add_ps(s, _mm512_mul_ps(a3, _mm512_loadu_ps(b[3] + j)));
            s = _mm512_add_ps(s, _mm512_mul_ps(a4, _mm512_loadu_ps(b[4] + j)));
            _mm512_storeu_ps(out + j, _mm512_max_ps(s, zero));
        }
    }
    for (; j < n; j++) {
        float s;
        if (fma) {
            s = a[0] * b[0][j];
            s = fmaf(a[1], b[1][j], s);
            s = fmaf(a[2], b[2][j], s);
            s = fmaf(a[3], b[3][j], s);
            s = fmaf(a[4], b[4][j], s);
        } else {
            s = a[0] * b[0][j] + a[1] * b[1][j];
            s = s + a[2] * b[2][j];
            s = s + a[3] * b[3][j];
            s = s + a[4] * b[4][j];
        }
        out[j] = s > 0.0f ? s : 0.0f;
    }
}
#endif

/* out[j] = max(0, A_q · B_j) (a NaN sum clamps to 0, as in the SIMD max) with the
 * configured order and FMA use: the sum the value is the sqrt of (eval_sq_f32). The
 * switch is outside the loops so that each loop is a straight SIMD loop (checked with
 * -fopt-info-vec: all six loops vectorise under -O2 -march=native). */
static inline void mm_eval_dot5_sq(const mm_cfg *c, const mm_aux *m, int64_t q, int64_t j0,
                                   int64_t n, float *restrict out)
{
    const float a0 = m->a[0][q], a1 = m->a[1][q], a2 = m->a[2][q], a3 = m->a[3][q],
                a4 = m->a[4][q];
    const float *restrict b0 = m->b[0] + j0, *restrict b1 = m->b[1] + j0,
                          *restrict b2 = m->b[2] + j0, *restrict b3 = m->b[3] + j0,
                          *restrict b4 = m->b[4] + j0;
#ifdef FPR_HAVE_X86_SIMD
    if (c->order == MM_ORDER_SEQ && fpr_simd_level() == FPR_SIMD_AVX512) {
        const float a[5] = {a0, a1, a2, a3, a4};
        const float *const bb[5] = {b0, b1, b2, b3, b4};
        mm_seq_avx512(c->fma, a, bb, n, out);
        return;
    }
#endif
    if (c->order == MM_ORDER_SEQ && c->fma) {
        #pragma omp simd
        for (int64_t j = 0; j < n; j++) {
            float s = a0 * b0[j];
            s = fmaf(a1, b1[j], s);
            s = fmaf(a2, b2[j], s);
            s = fmaf(a3, b3[j], s);
            s = fmaf(a4, b4[j], s);
            out[j] = s > 0.0f ? s : 0.0f;
        }
    } else if (c->order == MM_ORDER_SEQ) {
        #pragma omp simd
        for (int64_t j = 0; j < n; j++) {
            float s = a0 * b0[j] + a1 * b1[j];
            s = s + a2 * b2[j];
            s = s + a3 * b3[j];
            s = s + a4 * b4[j];
            out[j] = s > 0.0f ? s : 0.0f;
        }
    } else if (c->order == MM_ORDER_REV && c->fma) {
        #pragma omp simd
        for (int64_t j = 0; j < n; j++) {
            float s = a4 * b4[j];
            s = fmaf(a3, b3[j], s);
            s = fmaf(a2, b2[j], s);
            s = fmaf(a1, b1[j], s);
            s = fmaf(a0, b0[j], s);
            out[j] = s > 0.0f ? s : 0.0f;
        }
    } else if (c->order == MM_ORDER_REV) {
        #pragma omp simd
        for (int64_t j = 0; j < n; j++) {
            float s = a4 * b4[j] + a3 * b3[j];
            s = s + a2 * b2[j];
            s = s + a1 * b1[j];
            s = s + a0 * b0[j];
            out[j] = s > 0.0f ? s : 0.0f;
        }
    } else if (c->fma) { /* pairwise: ((p0 + p1) + (p2 + p3)) + p4 */
        #pragma omp simd
        for (int64_t j = 0; j < n; j++) {
            float s01 = fmaf(a1, b1[j], a0 * b0[j]);
            float s23 = fmaf(a3, b3[j], a2 * b2[j]);
            float s = fmaf(a4, b4[j], s01 + s23);
            out[j] = s > 0.0f ? s : 0.0f;
        }
    } else {
        #pragma omp simd
        for (int64_t j = 0; j < n; j++) {
            float s01 = a0 * b0[j] + a1 * b1[j];
            float s23 = a2 * b2[j] + a3 * b3[j];
            float s = (s01 + s23) + a4 * b4[j];
            out[j] = s > 0.0f ? s : 0.0f;
        }
    }
}

/* ------------------------------------------------------------------ fused scan */
/* scan_f32 of the identity backends: the 5-term dot streamed straight into a row's
 * top-3. The ones of the operands are structural (A_i4 = B_j3 = 1, exact under every
 * operand reduction), so for the sequential order the products a3·1 and 1·b4 are exact
 * and fma(a3, 1, s) = fl(s + a3), fma(1, b4, s) = fl(s + b4): the same roundings as
 * mm_eval_dot5_sq's loop with one multiply-add and one load fewer per column. Each clamped
 * sum is compared with the third's limits (fpr_top3_sq_limits); sqrtf is taken only of
 * the sums that pass (fpr_top3_offer_sq), and a lane group wholly equal to the third
 * after it in index is only counted (eq3). Other orders, acc=tc and the scalar level go
 * through eval_sq in blocks and fpr_top3_scan_sq_f32: the same values either way. */
#ifdef FPR_HAVE_X86_SIMD
/* A fused scan's view of a row's third: its limits as lanes (fpr_top3_sq_limits) and,
 * with a full top-3, the third's index (lanes equal to the third and after it in index
 * only count: eq3). */
typedef struct mm_lim {
    float lo, hi;
    __m256 vlo, vhi;
    __m256i i2;
} mm_lim;

__attribute__((target("avx2,fma"))) static inline void mm_lim_index(const fpr_top3 *t, mm_lim *L)
{
    L->i2 = _mm256_set1_epi32(t->n == 3 ? t->idx[2] : INT32_MAX);
}

__attribute__((target("avx2,fma"))) static inline void mm_lim_set(fpr_top3 *t, mm_lim *L)
{
    fpr_top3_sq_limits(t, &L->lo, &L->hi);
    L->vlo = _mm256_set1_ps(L->lo);
    L->vhi = _mm256_set1_ps(L->hi);
    mm_lim_index(t, L);
}

/* Offers the unclamped sums s0, s1 of columns idx[0..15] to t. The clamp max(s, 0)
 * passes hi exactly when !(s > hi): hi ≥ 0 always, and a NaN sum, which max_ps turns
 * into 0, passes too. So the usual lane group is rejected before the clamp, which only
 * the groups that pass need. */
__attribute__((target("avx2,fma"))) static inline void mm_offer16(fpr_top3 *t, __m256 s0, __m256 s1,
                                                                 const int32_t *idx, mm_lim *L)
{
    __m256 l0 = _mm256_cmp_ps(s0, L->vhi, _CMP_NGT_UQ), l1 = _mm256_cmp_ps(s1, L->vhi, _CMP_NGT_UQ);
    unsigned m = (unsigned)_mm256_movemask_ps(l0) | (unsigned)_mm256_movemask_ps(l1) << 8;
    if (!m)
        return;
    const __m256 zero = _mm256_setzero_ps();
    s0 = _mm256_max_ps(s0, zero);
    s1 = _mm256_max_ps(s1, zero);
    /* e: equal to the third (lo <= s <= hi) and after it (idx > idx[2]) */
    __m256 e0 = _mm256_and_ps(
        _mm256_and_ps(l0, _mm256_cmp_ps(s0, L->vlo, _CMP_GE_OQ)),
        _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_loadu_si256((const __m256i *)idx), L->i2)));
    __m256 e1 = _mm256_and_ps(
        _mm256_and_ps(l1, _mm256_cmp_ps(s1, L->vlo, _CMP_GE_OQ)),
        _mm256_castsi256_ps(
            _mm256_cmpgt_epi32(_mm256_loadu_si256((const __m256i *)(idx + 8)), L->i2)));
    unsigned e = (unsigned)_mm256_movemask_ps(e0) | (unsigned)_mm256_movemask_ps(e1) << 8;
    if (!(m & ~e)) {
        t->eq3 += __builtin_popcount(e);
        return;
    }
    float sv[16];
    _mm256_storeu_ps(sv, s0);
    _mm256_storeu_ps(sv + 8, s1);
    if (fpr_top3_offer_lanes_sq(t, sv, idx, m))
        mm_lim_set(t, L);
    else
        mm_lim_index(t, L);
}

/* The scalar tail of a fused scan: the clamped sum s of column idx offered to t. */
static inline void mm_offer1(fpr_top3 *t, float s, int32_t idx, mm_lim *L)
{
    s = s > 0.0f ? s : 0.0f;
    if (s <= L->hi && fpr_top3_offer_sq(t, s, idx))
        mm_lim_set(t, L);
}

__attribute__((target("avx2,fma"))) static void mm_scan_avx2(int fma, const float a[4],
                                                             const float *b0, const float *b1,
                                                             const float *b2, const float *b4,
                                                             const int32_t *idx, int64_t n,
                                                             fpr_top3 *t)
{
    const __m256 a0 = _mm256_set1_ps(a[0]), a1 = _mm256_set1_ps(a[1]),
                 a2 = _mm256_set1_ps(a[2]), a3 = _mm256_set1_ps(a[3]);
    mm_lim L;
    mm_lim_set(t, &L);
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
        __m256 s0, s1;
        if (fma) {
            s0 = _mm256_mul_ps(a0, _mm256_loadu_ps(b0 + j));
            s1 = _mm256_mul_ps(a0, _mm256_loadu_ps(b0 + j + 8));
            s0 = _mm256_fmadd_ps(a1, _mm256_loadu_ps(b1 + j), s0);
            s1 = _mm256_fmadd_ps(a1, _mm256_loadu_ps(b1 + j + 8), s1);
            s0 = _mm256_fmadd_ps(a2, _mm256_loadu_ps(b2 + j), s0);
            s1 = _mm256_fmadd_ps(a2, _mm256_loadu_ps(b2 + j + 8), s1);
        } else {
            s0 = _mm256_add_ps(_mm256_mul_ps(a0, _mm256_loadu_ps(b0 + j)),
                               _mm256_mul_ps(a1, _mm256_loadu_ps(b1 + j)));
            s1 = _mm256_add_ps(_mm256_mul_ps(a0, _mm256_loadu_ps(b0 + j + 8)),
                               _mm256_mul_ps(a1, _mm256_loadu_ps(b1 + j + 8)));
            s0 = _mm256_add_ps(s0, _mm256_mul_ps(a2, _mm256_loadu_ps(b2 + j)));
            s1 = _mm256_add_ps(s1, _mm256_mul_ps(a2, _mm256_loadu_ps(b2 + j + 8)));
        }
        s0 = _mm256_add_ps(s0, a3);
        s1 = _mm256_add_ps(s1, a3);
        s0 = _mm256_add_ps(s0, _mm256_loadu_ps(b4 + j));
        s1 = _mm256_add_ps(s1, _mm256_loadu_ps(b4 + j + 8));
        mm_offer16(t, s0, s1, idx + j, &L);
    }
    for (; j < n; j++) {
        float s;
        if (fma) {
            s = a[0] * b0[j];
            s = fmaf(a[1], b1[j], s);
            s = fmaf(a[2], b2[j], s);
        } else {
            s = a[0] * b0[j] + a[1] * b1[j];
            s = s + a[2] * b2[j];
        }
        s = s + a[3];
        s = s + b4[j];
        mm_offer1(t, s, idx[j], &L);
    }
}
#endif

/* scan_f32 of the identity backends whose eval_sq_f32 is mm_eval_dot5_sq for acc=f32:
 * offers columns j0..j0+n-1 of row q to t. Without a config (the backend's defaults)
 * the order is the sequential one with FMA and f32 accumulation, every such backend's
 * default; the operand rounding was applied in prepare_chain and does not enter here. */
static inline void mm_scan_dot5(const fpr_backend *b, const void *cfg, void *scratch,
                                const fpr_chain_view *cv, int64_t q, int64_t j0, int64_t n,
                                fpr_top3 *t)
{
    static const mm_cfg seq = {MM_ORDER_SEQ, 1, MM_ROUND_NEAREST_EVEN, MM_ACC_F32, {0, 0, 0, 0}, 0};
    const mm_cfg *c = cfg ? cfg : &seq;
#ifdef FPR_HAVE_X86_SIMD
    if (c->order == MM_ORDER_SEQ && c->acc == MM_ACC_F32 && fpr_simd_level() >= FPR_SIMD_AVX2) {
        const mm_aux *m = cv->aux;
        const float a[4] = {m->a[0][q], m->a[1][q], m->a[2][q], m->a[3][q]};
        mm_scan_avx2(c->fma, a, m->b[0] + j0, m->b[1] + j0, m->b[2] + j0, m->b[4] + j0,
                     cv->idx + j0, n, t);
        return;
    }
#endif
    fpr_scan_sq_blocks(b, cfg, scratch, cv, q, j0, n, t);
}

/* ------------------------------------------------------------------ error bound */
/* gamma_k(u) = k u / (1 − k u) (Higham). */
static inline double mm_gamma(int k, double u) { return k * u / (1.0 - k * u); }

/* Operand-side facts of one pair, in binary64 from the float32 inputs (each within a
 * relative 2^-50 of the exact value; the final bound carries a 2^-40 margin for it). */
typedef struct mm_pair {
    double d2;   /* exact D² (to 2^-50) */
    double ni, nj; /* exact |x_i|², |x_j|² */
    double cross;  /* Σ_k |x_ik x_jk| */
} mm_pair;

static inline mm_pair mm_pair_facts(const float xi[3], const float xj[3])
{
    mm_pair p = {0, 0, 0, 0};
    for (int k = 0; k < 3; k++) {
        double a = xi[k], b = xj[k], d = a - b;
        p.d2 += d * d;
        p.ni += a * a;
        p.nj += b * b;
        p.cross += fabs(a * b);
    }
    return p;
}

/* The a-priori bound of the identity (derivation in matmul.c's header comment):
 *   E = γ_m(u_acc) · Σ|p̂_k|  +  Σ_k |p̂_k − p_k|
 * where p_k are the exact terms (−2 x_ik x_jk for k < 3, n_i, n_j), p̂_k the terms the
 * accumulation actually adds, m the number of roundings a term can pass through
 * (one product + four additions = 5), u_acc the accumulator's unit roundoff, and u_op
 * the relative error of an operand reduction (0 for plain float32). Norms carry γ3(u)
 * from their own float32 evaluation. Then the clamp (never increases the error, since
 * D² ≥ 0) and the sqrt: the ranked value v = sqrtf(c) and value_to_d2 = v² (exact in
 * binary64) satisfy |v² − c| ≤ (2u + u²)·c. Returned: bound on |v² − D²|. */
static inline void mm_bound_consts(double k[4], double u_op, double u_acc, int m)
{
    const double u = 0x1p-24;
    const double g3 = mm_gamma(3, u);
    k[0] = (1 + u_op) * (1 + u_op) - 1; /* dop: product of two reduced operands */
    k[1] = (1 + u_op) * (1 + g3) - 1;   /* dnorm: norm, float32 eval, then reduced */
    k[2] = mm_gamma(m, u_acc);
    k[3] = 0;
}

/* mm_bound_identity from its constants (mm_bound_consts). */
static inline double mm_bound_identity_k(const mm_pair *p, const double k[4])
{
    const double u = 0x1p-24;
    const double dop = k[0], dnorm = k[1];
    double terms = (1 + dop) * 2 * p->cross + (1 + dnorm) * (p->ni + p->nj);
    double E = k[2] * terms + dop * 2 * p->cross + dnorm * (p->ni + p->nj);
    double B = E + (2 * u + u * u) * (p->d2 + E);
    return B * (1 + 0x1p-40) + 0x1p-120; /* binary64 evaluation margin; underflow floor */
}

static inline double mm_bound_identity(const mm_pair *p, double u_op, double u_acc, int m)
{
    double k[4];
    mm_bound_consts(k, u_op, u_acc, m);
    return mm_bound_identity_k(p, k);
}

/* ------------------------------------------------------------------ PyTorch memory */
/* torch.cdist with use_mm_for_euclid_dist, then the PR's boolean masks (SPEC §6):
 *   x1_, x2_ = cat([-2x, n, 1]), cat([x, 1, n])   [S,N,5] f32 each   2·20·S·N
 *   result = x1_ @ x2_.mT                           [S,N,N] f32       4·S·N²
 *   clamp_min_(0).sqrt_()                           in place
 *   pair_mask (bool, computed before the distances and shared by the samples):
 *                                                   [N,N] bool        N²
 *   masked_fill_(~pair_mask, inf)                   in place, but ~pair_mask is a
 *                                                   new [N,N] bool    N²
 *   topk(k=3) → [S,N,3]
 * The peak is while the GEMM result, the bool mask, its negation and the augmented
 * operands are alive: S·(4N² + 40N) + 2N².
 * At N = 41,863, S = 1: 10.5 GB — the seed measured ~10 GB for the whole function; with
 * the float32 masks of the PR's first commit the masks are 4N² each and the peak about
 * 12N² = 21 GB before the in-place changes (seed: ~13 GB after cdist alone). Checked
 * against PyTorch 1.13 (reports/ORACLE.md): measured 6.0 bytes per N² at 1k–8k atoms.
 * `extra_per_atom` adds per-atom bytes a variant keeps (e.g. the centred copy of x). */
static inline double mm_torch_peak(double n_atom, double S, double extra_per_atom)
{
    double N = n_atom;
    return S * (4.0 * N * N + 40.0 * N + extra_per_atom * N) + 2.0 * N * N;
}


/* ------------------------------------------------------------------ shared methods */
/* row_key of the 5-term identity backends: the row's five prepared operands A_q (every
 * eval and scan of row q reads those and the columns' B_j alone, with the config). */
static inline int mm_row_key(const fpr_backend *b, const void *cfg, const fpr_chain_view *cv,
                             int64_t q, uint32_t key[8])
{
    (void)b;
    (void)cfg;
    const mm_aux *m = cv->aux;
    for (int k = 0; k < 5; k++)
        memcpy(&key[k], &m->a[k][q], sizeof key[k]);
    return 5;
}

/* The identity backends rank v = sqrt(max(0, dot)), a float32: v² is exact in binary64
 * and is the computed D² their bounds cover. */
static inline double mm_value_to_d2(const fpr_backend *b, const void *cfg, double v)
{
    (void)b;
    (void)cfg;
    return v * v;
}

/* Per-chain operands [x, y, z, norm] in float32 (no low parts). */
static inline size_t mm_aux_bytes_plain(const fpr_backend *b, int64_t n)
{
    (void)b;
    return mm_aux_bytes_k(n, 0);
}

#endif
