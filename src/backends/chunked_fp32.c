/* chunked_fp32.c — exact_diff's float32 arithmetic evaluated in row × column blocks
 * with per-block top-3 lists merged under the canonical tie rule (SPEC §3): the way a
 * memory-bounded PyTorch implementation would run the original formula
 *   for rows in chunks: for cols in chunks: d = formula(x[rows], x[cols]);
 *       cand = cat(best, topk(d, 3)); best = topk(cand, 3)
 * Must agree bit for bit with exact_diff (values and indices) on every case.
 *
 * Why it does: the values of a block row come from exact_diff's own kernel
 * (dx = qx − x_j; t = eps + dx·dx; ((t0 + t1) + t2); sqrt, any SIMD level gives the same
 * bits), so every value is bit-identical; the ranking is a total order (value, then atom index), and the
 * top-3 of a union is the top-3 of the union of the parts' top-3s, whatever the block
 * boundaries — including boundaries that split a group of equal values, since the index
 * breaks the tie the same way in a block and in the merge (fpr_top3_insert).
 *
 * Options: rows=R (rows per block, within the driver's row block; default 16),
 * cols=C (columns per block; default 2048).
 *
 * Error bound: exact_diff's, γ8·(D² + 3·eps_f), same arithmetic.
 *
 * PyTorch memory (per sample, R' = min(R, N_token), C' = min(C, N)): the block of the
 * original formula — two [R',C',3] float32 tensors alive at once plus the float pair mask
 * block, 28·R'·C' bytes (exact_diff's 28N² on a block) — plus the running best values
 * and indices for every query row ([N_token,3] f32 + int64) and the concatenated
 * candidates of the block ([R',6] f32 + int64): S·(28R'C' + 36N_token + 72R') + N
 * (the per-atom chain ids). */
#include <math.h>
#include <string.h>

#include "internal.h"

/* the same arithmetic — exact_diff's own kernel is called for each block row, so the
 * values are its values by construction — hence the same bound and value map */
extern const fpr_backend fpr_backend_exact_diff;

typedef struct chunk_cfg {
    int64_t rows, cols;
} chunk_cfg;

static const chunk_cfg dflt = {16, 2048};

/* Selection speed-up (same result): a block's top-3 lies among its values ≤ T, where
 * T is the third smallest of the 16 lane minima (v[k], v[k+16], … for k = 0..15):
 * those are 16 distinct columns, so at least three values of the block are ≤ T. The
 * block is then scanned with the row's scan seeded by three sentinels just above T
 * (value nextafter(T), index INT32_MAX), so only values ≤ T are inserted — a handful
 * instead of the dozens a fresh top-3 takes while its third is still large. The
 * sentinels are always displaced (three values ≤ T exist and each ranks before them),
 * so the block's top-3 is exactly what one-by-one insertion gives. Returns 0 (use the
 * plain scan) when the block is short or T is not finite (NaN/inf values). */
#ifdef FPR_HAVE_X86_SIMD
#include <immintrin.h>
__attribute__((target("avx512f"))) static void lane_min_avx512(const float *v, int64_t n,
                                                               float m[16])
{
    __m512 acc = _mm512_loadu_ps(v);
    for (int64_t j = 16; j + 16 <= n; j += 16)
        acc = _mm512_min_ps(acc, _mm512_loadu_ps(v + j)); /* a NaN lane is caught below */
    _mm512_storeu_ps(m, acc);
}
#endif

static int third_bound(const float *v, int64_t n, float *T)
{
    if (n < 48)
        return 0;
    float m[16];
#ifdef FPR_HAVE_X86_SIMD
    if (fpr_simd_level() == FPR_SIMD_AVX512) {
        lane_min_avx512(v, n, m);
    } else
#endif
    {
        for (int k = 0; k < 16; k++)
            m[k] = v[k];
        for (int64_t j = 16; j + 16 <= n; j += 16)
            for (int k = 0; k < 16; k++)
                m[k] = v[j + k] < m[k] ? v[j + k] : m[k];
    }
    float b0 = INFINITY, b1 = INFINITY, b2 = INFINITY;
    for (int k = 0; k < 16; k++) {
        float x = m[k];
        if (!isfinite(x))
            return 0;
        if (x < b2) {
            if (x < b1) {
                b2 = b1;
                if (x < b0) {
                    b1 = b0;
                    b0 = x;
                } else {
                    b1 = x;
                }
            } else {
                b2 = x;
            }
        }
    }
    *T = b2;
    return 1;
}

static void block_row_top3(const float *v, const int32_t *idx, int64_t n, fpr_top3 *blk)
{
    float T;
    fpr_top3_init(blk);
    if (third_bound(v, n, &T)) {
        double above = (double)nextafterf(T, INFINITY);
        blk->n = 3;
        for (int k = 0; k < 3; k++) {
            blk->val[k] = above;
            blk->idx[k] = INT32_MAX;
        }
        fpr_top3_scan_f32(blk, v, idx, n);
        if (blk->idx[2] != INT32_MAX)
            return;
        fpr_top3_init(blk); /* cannot happen (see above); stay correct regardless */
    }
    fpr_top3_scan_f32(blk, v, idx, n);
}

static int block_top3(const fpr_backend *b, const void *cfgv, void *scratch,
                      const fpr_chain_view *cv, const int64_t *q, int64_t nq, fpr_top3 *out,
                      fpr_row_extra *extra)
{
    (void)b;
    (void)scratch;
    (void)extra;
    const chunk_cfg *cfg = cfgv ? cfgv : &dflt;
    int64_t R = cfg->rows < nq ? cfg->rows : nq;
    int64_t C = cfg->cols < cv->n ? cfg->cols : cv->n;
    if (R < 1)
        R = 1;
    if (C < 1)
        C = 1;
    float *buf = malloc((size_t)R * (size_t)C * sizeof(float));
    if (!buf)
        return fpr_error(FPR_ENOMEM, "chunked_fp32: no memory for a %lld x %lld block",
                         (long long)R, (long long)C);
    for (int64_t i = 0; i < nq; i++)
        fpr_top3_init(&out[i]);
    for (int64_t r0 = 0; r0 < nq; r0 += R) {
        int64_t nr = nq - r0 < R ? nq - r0 : R;
        for (int64_t c0 = 0; c0 < cv->n; c0 += C) {
            int64_t nc = cv->n - c0 < C ? cv->n - c0 : C;
            /* the block's values ... */
            for (int64_t i = 0; i < nr; i++)
                fpr_backend_exact_diff.eval_f32(&fpr_backend_exact_diff, NULL, NULL, cv,
                                                q[r0 + i], c0, nc, buf + i * C);
            /* ... its own top-3 per row, merged into the row's running top-3 */
            for (int64_t i = 0; i < nr; i++) {
                /* columns ascend by index: an equal value never displaces the third
                 * (the driver's vectorised scan, same rule as inserting one by one) */
                fpr_top3 blk;
                block_row_top3(buf + i * C, cv->idx + c0, nc, &blk);
                fpr_top3 *o = &out[r0 + i];
                for (int k = 0; k < blk.n; k++)
                    fpr_top3_insert(o, blk.val[k], blk.idx[k]);
                /* the block's own outsiders equal to its third tie the row's third
                 * when the two thirds are equal (else they rank after it) */
                if (blk.n == 3 && o->n == 3 && blk.val[2] == o->val[2])
                    o->eq3 += blk.eq3;
            }
        }
    }
    free(buf);
    return FPR_OK;
}

/* --search grid evaluates the candidates the grid keeps with the same kernel (values
 * are exact_diff's by construction; the grid's cells are the blocks). */
static void eval(const fpr_backend *b, const void *cfg, void *scratch, const fpr_chain_view *cv,
                 int64_t q, int64_t j0, int64_t n, float *out)
{
    (void)b;
    (void)cfg;
    fpr_backend_exact_diff.eval_f32(&fpr_backend_exact_diff, NULL, scratch, cv, q, j0, n, out);
}

static int parse_pos(const char *v, int64_t *out)
{
    char *end;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || x < 1 || x > (1LL << 24))
        return -1;
    *out = x;
    return 0;
}

static int configure(const fpr_backend *b, const char *params, void **out)
{
    chunk_cfg *c = fpr_calloc(1, sizeof *c);
    if (!c)
        return FPR_ENOMEM;
    *c = dflt;
    const char *p = params ? params : "";
    while (*p) {
        size_t len = strcspn(p, ",");
        char item[64];
        int ok = len < sizeof item;
        if (ok) {
            memcpy(item, p, len);
            item[len] = 0;
            char *eq = strchr(item, '=');
            ok = eq != NULL;
            if (ok) {
                *eq = 0;
                if (strcmp(item, "rows") == 0)
                    ok = parse_pos(eq + 1, &c->rows) == 0;
                else if (strcmp(item, "cols") == 0)
                    ok = parse_pos(eq + 1, &c->cols) == 0;
                else
                    ok = 0;
            }
        }
        if (len && !ok) {
            free(c);
            return fpr_error(FPR_EUSAGE, "backend %s: bad option '%.*s'; valid: %s", b->name,
                             (int)len, p, b->params_help);
        }
        p += len;
        if (*p == ',')
            p++;
    }
    if (c->rows * c->cols > (1LL << 26)) {
        free(c);
        return fpr_error(FPR_EUSAGE, "backend %s: rows*cols must be at most 2^26", b->name);
    }
    *out = c;
    return FPR_OK;
}

static void cfg_free(void *c) { free(c); }

static double bound(const fpr_backend *b, const void *cfg, const float xi[3], const float xj[3],
                    double chain_absmax)
{
    (void)b;
    (void)cfg;
    return fpr_backend_exact_diff.d2_error_bound(&fpr_backend_exact_diff, NULL, xi, xj,
                                                 chain_absmax);
}

static double value_to_d2(const fpr_backend *b, const void *cfg, double v)
{
    (void)b;
    (void)cfg;
    return fpr_backend_exact_diff.value_to_d2(&fpr_backend_exact_diff, NULL, v);
}

static double torch_peak(const fpr_backend *b, const void *cfgv, double n_atom, double n_token,
                         double S)
{
    (void)b;
    const chunk_cfg *cfg = cfgv ? cfgv : &dflt;
    double R = fmin((double)cfg->rows, n_token), C = fmin((double)cfg->cols, n_atom);
    return S * (28.0 * R * C + 36.0 * n_token + 72.0 * R) + 4.0 * n_atom;
}

const fpr_backend fpr_backend_chunked_fp32 = {
    .version = 1,
    .name = "chunked_fp32",
    .summary = "exact_diff arithmetic in row x column blocks, per-block top-3 merged",
    .precision = FPR_PREC_F32,
    .block_top3 = block_top3,
    .eval_f32 = eval,
    .configure = configure,
    .cfg_free = cfg_free,
    .params_help = "rows=R (rows per block, default 16, within the driver's row block); "
                   "cols=C (columns per block, default 2048)",
    .d2_error_bound = bound,
    .torch_peak_bytes = torch_peak,
    .value_to_d2 = value_to_d2,
};
