/* exact_diff.c — the reference formula in float32, operation by operation (SPEC §3):
 *   dx = x_ic − x_jc; sq = dx·dx; t = eps + sq; sum = (t0 + t1) + t2; d = sqrt(sum).
 * This is what OpenFold3 computed before the cdist change.
 *
 * Error bound. With u = 2^-24 and each operation rounded to nearest:
 *   dx̂ = dx(1+δ1), sq̂ = dx²(1+δ1)²(1+δ2), t̂ = (eps_f + sq̂)(1+δ3),
 *   sum = ((t̂0 + t̂1)(1+δ4) + t̂2)(1+δ5), d̂ = sqrt(sum)(1+δ6).
 * Every term is non-negative, so no cancellation: each of the three terms carries at
 * most six relative factors (1+δ) and the ranked value squared d̂² carries two more,
 * hence |d̂² − (D² + 3·eps_f)| ≤ γ8 · (D² + 3·eps_f), γn = n·u / (1 − n·u).
 * The computed D² is d̂² − 3·eps_f, so the bound on |computed D² − D²| is the same
 * (eps_f = eps rounded to float32). It grows with D² itself, not with |x|: the
 * difference formula does not degrade far from the origin. */
#include <math.h>
#include <string.h>

#include "internal.h"

/* One pair, as written. The vector paths below perform exactly these IEEE
 * operations lane by lane (sub, mul, add, add, add, sqrt, each correctly rounded;
 * no FMA), so every SIMD level gives the same bits. */
static void eval_scalar(float e, float qx, float qy, float qz, const float *restrict x,
                        const float *restrict y, const float *restrict z, int64_t j,
                        int64_t n, float *restrict out)
{
    for (; j < n; j++) {
        float dx = qx - x[j];
        float dy = qy - y[j];
        float dz = qz - z[j];
        float t0 = e + dx * dx;
        float t1 = e + dy * dy;
        float t2 = e + dz * dz;
        out[j] = sqrtf((t0 + t1) + t2);
    }
}

#ifdef FPR_HAVE_X86_SIMD
#include <immintrin.h>

__attribute__((target("avx512f"))) static void eval_avx512(float e, float qx, float qy, float qz,
                                                           const float *x, const float *y,
                                                           const float *z, int64_t n,
                                                           float *out)
{
    const __m512 ve = _mm512_set1_ps(e), vx = _mm512_set1_ps(qx), vy = _mm512_set1_ps(qy),
                 vz = _mm512_set1_ps(qz);
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
        __m512 dx = _mm512_sub_ps(vx, _mm512_loadu_ps(x + j));
        __m512 dy = _mm512_sub_ps(vy, _mm512_loadu_ps(y + j));
        __m512 dz = _mm512_sub_ps(vz, _mm512_loadu_ps(z + j));
        __m512 t0 = _mm512_add_ps(ve, _mm512_mul_ps(dx, dx));
        __m512 t1 = _mm512_add_ps(ve, _mm512_mul_ps(dy, dy));
        __m512 t2 = _mm512_add_ps(ve, _mm512_mul_ps(dz, dz));
        _mm512_storeu_ps(out + j, _mm512_sqrt_ps(_mm512_add_ps(_mm512_add_ps(t0, t1), t2)));
    }
    eval_scalar(e, qx, qy, qz, x, y, z, j, n, out);
}

__attribute__((target("avx2"))) static void eval_avx2(float e, float qx, float qy, float qz,
                                                      const float *x, const float *y,
                                                      const float *z, int64_t n, float *out)
{
    const __m256 ve = _mm256_set1_ps(e), vx = _mm256_set1_ps(qx), vy = _mm256_set1_ps(qy),
                 vz = _mm256_set1_ps(qz);
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 dx = _mm256_sub_ps(vx, _mm256_loadu_ps(x + j));
        __m256 dy = _mm256_sub_ps(vy, _mm256_loadu_ps(y + j));
        __m256 dz = _mm256_sub_ps(vz, _mm256_loadu_ps(z + j));
        __m256 t0 = _mm256_add_ps(ve, _mm256_mul_ps(dx, dx));
        __m256 t1 = _mm256_add_ps(ve, _mm256_mul_ps(dy, dy));
        __m256 t2 = _mm256_add_ps(ve, _mm256_mul_ps(dz, dz));
        _mm256_storeu_ps(out + j, _mm256_sqrt_ps(_mm256_add_ps(_mm256_add_ps(t0, t1), t2)));
    }
    eval_scalar(e, qx, qy, qz, x, y, z, j, n, out);
}
#endif

static void eval(const fpr_backend *b, const void *cfg, void *scratch, const fpr_chain_view *cv,
                 int64_t q, int64_t j0, int64_t n, float *out)
{
    (void)b;
    (void)cfg;
    (void)scratch;
    const float e = fpr_eps_f32(cv->eps);
    const float qx = cv->x[q], qy = cv->y[q], qz = cv->z[q];
    const float *x = cv->x + j0, *y = cv->y + j0, *z = cv->z + j0;
#ifdef FPR_HAVE_X86_SIMD
    switch (fpr_simd_level()) {
    case FPR_SIMD_AVX512: eval_avx512(e, qx, qy, qz, x, y, z, n, out); return;
    case FPR_SIMD_AVX2: eval_avx2(e, qx, qy, qz, x, y, z, n, out); return;
    default: break;
    }
#endif
    eval_scalar(e, qx, qy, qz, x, y, z, 0, n, out);
}

/* ------------------------------------------------------------------ fused brute force */
/* scan_f32: exact_diff's values streamed straight into a row's top-3. Most pairs are
 * one comparison: sqrt is correctly rounded, hence non-decreasing, so with t the current
 * third value, sqrtf(sum) ≤ t ⟺ sum ≤ L(t), L(t) the largest float32 whose sqrtf is
 * ≤ t (fpr_sqrt_limits_f32: from fl(t²) by stepping a few ulps while checking sqrtf). The kernel
 * computes the sums exactly as eval does (sub, mul, add eps, ((t0 + t1) + t2), lane by
 * lane the same IEEE operations at every SIMD level), compares them with L, and takes
 * the sqrt (the same correctly rounded sqrtf, so the same bits as eval's value) only of
 * the few that pass, which are then inserted by the tie rule (value, then index); a
 * column already in the top-3 is skipped, so a seed window offered first and offered
 * again in the full pass counts once. Every column that can end in the top-3 passes the
 * comparison when it is reached (its value is ≤ the third at that time), so the result
 * is eval + insertion's, whatever the order. The driver offers every column once (the
 * seed window, then the rest), so the count of values tying the third (eq3) is too. */
static float sum_limit(fpr_top3 *t)
{
    if (t->n < 3)
        return INFINITY;
    float lo, hi;
    fpr_top3_sq_limits(t, &lo, &hi); /* exact: the value is a float32 */
    return hi;
}


static void scan_scalar(float e, float qx, float qy, float qz, const float *restrict x,
                        const float *restrict y, const float *restrict z,
                        const int32_t *idx, int64_t j, int64_t n, fpr_top3 *t)
{
    float lim = sum_limit(t);
    for (; j < n; j++) {
        float dx = qx - x[j];
        float px = dx * dx;
        if (px > lim) /* sum ≥ t0 ≥ px: rounding is monotone, every term ≥ 0 */
            continue;
        float dy = qy - y[j];
        float dz = qz - z[j];
        float t0 = e + px;
        float t1 = e + dy * dy;
        float t2 = e + dz * dz;
        float s = (t0 + t1) + t2;
        if (s <= lim && fpr_top3_offer_sq(t, s, idx[j]))
            lim = sum_limit(t);
    }
}

#ifdef FPR_HAVE_X86_SIMD
__attribute__((target("avx512f"))) static void scan_avx512(float e, float qx, float qy,
                                                           float qz, const float *x,
                                                           const float *y, const float *z,
                                                           const int32_t *idx, int64_t n,
                                                           fpr_top3 *t)
{
    const __m512 ve = _mm512_set1_ps(e), vx = _mm512_set1_ps(qx), vy = _mm512_set1_ps(qy),
                 vz = _mm512_set1_ps(qz);
    __m512 vlim = _mm512_set1_ps(sum_limit(t));
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
        __m512 dx = _mm512_sub_ps(vx, _mm512_loadu_ps(x + j));
        __m512 px = _mm512_mul_ps(dx, dx);
        if (!_mm512_cmp_ps_mask(px, vlim, _CMP_LE_OQ))
            continue; /* x alone already too far for all 16 */
        __m512 dy = _mm512_sub_ps(vy, _mm512_loadu_ps(y + j));
        __m512 dz = _mm512_sub_ps(vz, _mm512_loadu_ps(z + j));
        __m512 t0 = _mm512_add_ps(ve, px);
        __m512 t1 = _mm512_add_ps(ve, _mm512_mul_ps(dy, dy));
        __m512 t2 = _mm512_add_ps(ve, _mm512_mul_ps(dz, dz));
        __m512 s = _mm512_add_ps(_mm512_add_ps(t0, t1), t2);
        __mmask16 m = _mm512_cmp_ps_mask(s, vlim, _CMP_LE_OQ);
        if (!m)
            continue;
        float sv[16];
        _mm512_storeu_ps(sv, s);
        if (fpr_top3_offer_lanes_sq(t, sv, idx + j, m))
            vlim = _mm512_set1_ps(sum_limit(t));
    }
    scan_scalar(e, qx, qy, qz, x, y, z, idx, j, n, t);
}

__attribute__((target("avx2"))) static void scan_avx2(float e, float qx, float qy, float qz,
                                                      const float *x, const float *y,
                                                      const float *z, const int32_t *idx,
                                                      int64_t n, fpr_top3 *t)
{
    const __m256 ve = _mm256_set1_ps(e), vx = _mm256_set1_ps(qx), vy = _mm256_set1_ps(qy),
                 vz = _mm256_set1_ps(qz);
    __m256 vlim = _mm256_set1_ps(sum_limit(t));
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) { /* two vectors per step: more work in flight */
        __m256 dx = _mm256_sub_ps(vx, _mm256_loadu_ps(x + j));
        __m256 ex = _mm256_sub_ps(vx, _mm256_loadu_ps(x + j + 8));
        __m256 px = _mm256_mul_ps(dx, dx), qx2 = _mm256_mul_ps(ex, ex);
        /* x alone already too far for all 16 (sum ≥ t0 ≥ px): the usual case */
        if (_mm256_testz_ps(_mm256_or_ps(_mm256_cmp_ps(px, vlim, _CMP_LE_OQ),
                                         _mm256_cmp_ps(qx2, vlim, _CMP_LE_OQ)),
                            _mm256_castsi256_ps(_mm256_set1_epi32(-1))))
            continue;
        __m256 dy = _mm256_sub_ps(vy, _mm256_loadu_ps(y + j));
        __m256 dz = _mm256_sub_ps(vz, _mm256_loadu_ps(z + j));
        __m256 ey = _mm256_sub_ps(vy, _mm256_loadu_ps(y + j + 8));
        __m256 ez = _mm256_sub_ps(vz, _mm256_loadu_ps(z + j + 8));
        __m256 s0 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(ve, px),
                                                _mm256_add_ps(ve, _mm256_mul_ps(dy, dy))),
                                  _mm256_add_ps(ve, _mm256_mul_ps(dz, dz)));
        __m256 s1 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(ve, qx2),
                                                _mm256_add_ps(ve, _mm256_mul_ps(ey, ey))),
                                  _mm256_add_ps(ve, _mm256_mul_ps(ez, ez)));
        unsigned m = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(s0, vlim, _CMP_LE_OQ)) |
                     (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(s1, vlim, _CMP_LE_OQ)) << 8;
        if (!m)
            continue;
        float sv[16];
        _mm256_storeu_ps(sv, s0);
        _mm256_storeu_ps(sv + 8, s1);
        if (fpr_top3_offer_lanes_sq(t, sv, idx + j, m))
            vlim = _mm256_set1_ps(sum_limit(t));
    }
    scan_scalar(e, qx, qy, qz, x, y, z, idx, j, n, t);
}
#endif

static void scan(const fpr_backend *b, const void *cfg, void *scratch, const fpr_chain_view *cv,
                 int64_t q, int64_t j0, int64_t n, fpr_top3 *t)
{
    (void)b;
    (void)cfg;
    (void)scratch;
    const float e = fpr_eps_f32(cv->eps);
    const float qx = cv->x[q], qy = cv->y[q], qz = cv->z[q];
    const float *x = cv->x + j0, *y = cv->y + j0, *z = cv->z + j0;
    const int32_t *idx = cv->idx + j0;
#ifdef FPR_HAVE_X86_SIMD
    switch (fpr_simd_level()) {
    case FPR_SIMD_AVX512: scan_avx512(e, qx, qy, qz, x, y, z, idx, n, t); return;
    case FPR_SIMD_AVX2: scan_avx2(e, qx, qy, qz, x, y, z, idx, n, t); return;
    default: break;
    }
#endif
    scan_scalar(e, qx, qy, qz, x, y, z, idx, 0, n, t);
}

static double exact_d2_approx(const float xi[3], const float xj[3])
{
    double s = 0;
    for (int k = 0; k < 3; k++) {
        double d = (double)xi[k] - (double)xj[k];
        s += d * d;
    }
    return s;
}

static double bound(const fpr_backend *b, const void *cfg, const float xi[3], const float xj[3],
                    double chain_absmax)
{
    (void)b;
    (void)cfg;
    (void)chain_absmax;
    const double u = 0x1p-24, g8 = 8 * u / (1 - 8 * u);
    const double e3 = 3.0 * (double)fpr_eps_f32(1e-8);
    /* the binary64 estimate of D² is within a relative 2^-50 of the exact value */
    return g8 * (exact_d2_approx(xi, xj) * (1 + 0x1p-50) + e3);
}

static double value_to_d2(const fpr_backend *b, const void *cfg, double v)
{
    (void)b;
    (void)cfg;
    return v * v - 3.0 * (double)fpr_eps_f32(1e-8);
}

/* PyTorch, original formula, per sample (batch S):
 *   diff = x[..., None, :] - x[..., None, :, :]   [N,N,3] f32   12N²
 *   sq = diff ** 2                                 [N,N,3]       12N² (diff still alive)
 *   t = eps + sq                                   [N,N,3]       12N² (sq alive, diff freed)
 * so the peak of the distance stage is two [N,N,3] tensors, 24N² bytes, then the
 * masking line d * pair_mask + inf * (1 - pair_mask) holds d, the float pair mask and
 * three [N,N] temporaries (the seed: 4–5 [N,N] float32 at once), 20N². The distance
 * stage dominates; the model is its 24N² plus what is alive beside it: the float pair
 * mask (4N²) and the boolean same-chain comparison it was built from (N²), 29N² in all.
 * Checked against PyTorch 1.13 (scripts/torch_oracle.py, reports/ORACLE.md): measured
 * 29.0 bytes per N² at 1k–8k atoms. */
static double torch_peak(const fpr_backend *b, const void *cfg, double n_atom, double n_token,
                         double S)
{
    (void)b;
    (void)cfg;
    (void)n_token;
    return S * (24.0 + 4.0 + 1.0) * n_atom * n_atom;
}

const fpr_backend fpr_backend_exact_diff = {
    .version = 1,
    .name = "exact_diff",
    .summary = "reference difference formula in float32, op by op (OpenFold3 before the change)",
    .precision = FPR_PREC_F32,
    .eval_f32 = eval,
    .scan_f32 = scan,
    .d2_error_bound = bound,
    .torch_peak_bytes = torch_peak,
    .value_to_d2 = value_to_d2,
};
