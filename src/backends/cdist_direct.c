/* cdist_direct.c — torch.cdist's direct (non-matmul) kernel in float32 (SPEC §3): what
 * torch.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist") computes, and what the
 * default compute mode computes when both inputs have ≤ 25 rows.
 *
 * Facts from PyTorch's sources (read through the search tool, pytorch/pytorch):
 *  - aten/src/ATen/native/Distance.cpp, cdist_impl: for p = 2 the matrix-product path
 *    (_euclidean_dist) is taken when mode = 1, or mode = 0 and r1 > 25 or r2 > 25;
 *    otherwise `result = at::empty(output_shape)` and cdist_stub fills it. The inputs are
 *    `x.expand(...).contiguous().view(...)`, which copies nothing for a contiguous
 *    [S, N, 3] input. No eps anywhere.
 *  - aten/src/ATen/native/cpu/DistanceOpsKernel.cpp, run_parallel_cdist with tdist_calc:
 *    per output element `agg = 0; for x in 0..m-1: agg = agg + |a_x − b_x| * |a_x − b_x|;
 *    result = sqrt(agg)` — scalar code (not the Vec path pdist uses), coordinates in
 *    order 0, 1, 2. The kernel is compiled once per CPU capability (DEFAULT, AVX2,
 *    AVX512); Debian's torch 1.13 is built by GCC 12 in GNU C++ mode, whose default
 *    -ffp-contract=fast fuses `agg + d*d` into an FMA wherever the capability's flags
 *    allow FMA. Measured here (torch 1.13, 2,000 random atoms, 4·10^6 pairs): under the
 *    AVX2 capability (the default on this machine) the result equals
 *    sqrt(fma(d2, d2, fma(d1, d1, d0·d0))) on every pair and differs from the unfused
 *    form on 11% of them; with ATEN_CPU_CAPABILITY=default it equals the unfused form
 *    on every pair. Hence fma=1 is the default and fma=0 models the DEFAULT capability
 *    (and non-x86 builds without contraction).
 *  - aten/src/ATen/native/cuda/DistanceKernel.cu, cdist_kernel_cuda_impl: one block of
 *    256 threads per output element; thread t squares coordinate t (threads 3..255 hold
 *    0), then cuda_utils::BlockReduce (block_reduce.cuh) adds with WARP_SHFL_DOWN at
 *    offsets 16, 8, 4, 2, 1 inside the warp and again across warps. Adding the zero
 *    lanes changes nothing; lane 0 gets (sq0 + sq2) at offset 2, then + sq1 at offset 1:
 *    sum = (sq0 + sq2) + sq1, each square a plain product (agg starts at 0, so a fused
 *    0 + d·d rounds once, as the product does); sqrt is sqrtf (IEEE, no fast math).
 *    That is the order=cuda option (not checked against a GPU here: none available).
 *
 * Options: order=cpu|cuda (default cpu: (sq0 + sq1) + sq2), fma=0|1 (cpu order only;
 * default 1, see above). The ranked value is v = sqrt(sum); the computed D² is v².
 *
 * Error bound (u = 2^-24, γk = ku/(1−ku)). dx̂ = (a − b)(1+δ1); sq̂ = dx̂²(1+δ2) (or, fused,
 * the square enters the sum exactly); every term is non-negative, so the sum of three
 * terms with two additions satisfies |ŝ − D²| ≤ γ5·D² (a term passes at most the
 * difference, the square counted twice, and two additions); the sqrt and the exact
 * squaring of v add two more factors: |v² − D²| ≤ γ7·D², whatever order or fusion.
 * Like exact_diff (γ8·(D² + 3eps)) it grows with D², not with |x|: far from the origin
 * it keeps the difference formula's accuracy. Underflow (|dx| < 2^-63) adds at most a
 * few 2^-149 absolutely; a 2^-120 floor covers it.
 *
 * PyTorch memory (SPEC §6), per the accounting above: the [S, N, N] float32 result
 * (4·S·N²), then the PR's boolean pair mask [N, N] (N²) and its negation in
 * masked_fill_(~pair_mask, inf) (N²): S·4N² + 2N². The same as the matmul path minus its
 * two [S, N, 5] augmented operands — the direct kernel keeps cdist's memory gain. */
#include <math.h>
#include <string.h>

#include "internal.h"

typedef struct dcfg {
    int cuda; /* order=cuda: (sq0 + sq2) + sq1 */
    int fma;  /* cpu order: agg = fma(d, d, agg) */
} dcfg;

static const dcfg dflt = {0, 1};

static void eval_sq(const fpr_backend *b, const void *cfgp, void *scratch,
                    const fpr_chain_view *cv, int64_t q, int64_t j0, int64_t n, float *out)
{
    (void)b;
    (void)scratch;
    const dcfg *c = cfgp ? cfgp : &dflt;
    const float qx = cv->x[q], qy = cv->y[q], qz = cv->z[q];
    const float *x = cv->x + j0, *y = cv->y + j0, *z = cv->z + j0;
    if (c->cuda) {
        for (int64_t j = 0; j < n; j++) {
            float d0 = fabsf(qx - x[j]), d1 = fabsf(qy - y[j]), d2 = fabsf(qz - z[j]);
            float s0 = d0 * d0, s1 = d1 * d1, s2 = d2 * d2;
            out[j] = (s0 + s2) + s1;
        }
    } else if (c->fma) {
        for (int64_t j = 0; j < n; j++) {
            float d0 = fabsf(qx - x[j]), d1 = fabsf(qy - y[j]), d2 = fabsf(qz - z[j]);
            float agg = d0 * d0; /* fma(d0, d0, 0) rounds once, as the product does */
            agg = fmaf(d1, d1, agg);
            agg = fmaf(d2, d2, agg);
            out[j] = agg;
        }
    } else {
        for (int64_t j = 0; j < n; j++) {
            float d0 = fabsf(qx - x[j]), d1 = fabsf(qy - y[j]), d2 = fabsf(qz - z[j]);
            float agg = d0 * d0;
            agg = agg + d1 * d1;
            agg = agg + d2 * d2;
            out[j] = agg;
        }
    }
}

static int configure(const fpr_backend *b, const char *params, void **out)
{
    dcfg *c = fpr_calloc(1, sizeof *c);
    if (!c)
        return FPR_ENOMEM;
    *c = dflt;
    int fma_set = 0;
    const char *p = params ? params : "";
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int ok = 0;
        if (len == 0) ok = 1;
        else if (len == 9 && strncmp(p, "order=cpu", 9) == 0) { c->cuda = 0; ok = 1; }
        else if (len == 10 && strncmp(p, "order=cuda", 10) == 0) { c->cuda = 1; ok = 1; }
        else if (len == 5 && strncmp(p, "fma=0", 5) == 0) { c->fma = 0; fma_set = 1; ok = 1; }
        else if (len == 5 && strncmp(p, "fma=1", 5) == 0) { c->fma = 1; fma_set = 1; ok = 1; }
        if (!ok) {
            free(c);
            return fpr_error(FPR_EUSAGE, "backend %s: bad option '%.*s'; valid: %s", b->name,
                             (int)len, p, b->params_help);
        }
        p += len;
        if (*p == ',')
            p++;
    }
    if (c->cuda && fma_set) {
        free(c);
        return fpr_error(FPR_EUSAGE, "backend %s: fma= applies to order=cpu only (the CUDA "
                         "kernel's squares start from 0, so fusion changes nothing)", b->name);
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
    (void)chain_absmax;
    const double u = 0x1p-24, g7 = 7 * u / (1 - 7 * u);
    double s = 0;
    for (int k = 0; k < 3; k++) {
        double d = (double)xi[k] - (double)xj[k]; /* exact: both float32 */
        s += d * d;
    }
    /* s is within a relative 2^-50 of D² (three roundings in binary64) */
    return g7 * s * (1 + 0x1p-50) + 0x1p-120;
}

static double value_to_d2(const fpr_backend *b, const void *cfg, double v)
{
    (void)b;
    (void)cfg;
    return v * v; /* exact in binary64: v is a float32 */
}

static double torch_peak(const fpr_backend *b, const void *cfg, double n_atom, double n_token,
                         double S)
{
    (void)b;
    (void)cfg;
    (void)n_token;
    const double N = n_atom;
    return S * 4.0 * N * N + 2.0 * N * N;
}

const fpr_backend fpr_backend_cdist_direct = {
    .version = 1,
    .name = "cdist_direct",
    .summary = "torch.cdist direct kernel (donot_use_mm_for_euclid_dist): sqrt(sum |dx|^2), no eps",
    .precision = FPR_PREC_F32,
    .eval_f32 = fpr_eval_f32_from_sq,
    .eval_sq_f32 = eval_sq,
    .configure = configure,
    .cfg_free = cfg_free,
    .params_help = "order=cpu|cuda (cpu: (sq0+sq1)+sq2, DistanceOpsKernel.cpp; cuda: "
                   "(sq0+sq2)+sq1, DistanceKernel.cu's block reduction; default cpu); "
                   "fma=0|1 (cpu order: fuse each square into the sum as GCC does in "
                   "PyTorch's AVX2/AVX512 kernels; default 1)",
    .d2_error_bound = bound,
    .torch_peak_bytes = torch_peak,
    .value_to_d2 = value_to_d2,
};
