/* matmul_bf16x3.c — the matmul identity with each GEMM operand split into two bfloat16
 * pieces, v ≈ hi + lo (hi = bf16(v), lo = bf16(v − hi)), and the product formed from
 * three bf16 products hi·hi + hi·lo + lo·hi (lo·lo dropped), float32 accumulation:
 * XLA's dot algorithm BF16_BF16_F32_X3 (JAX: precision="BF16_BF16_F32_X3",
 * lax.DotAlgorithmPreset; XLA's PrecisionConfig ALG_DOT_BF16_BF16_F32_X3). It is not a
 * PyTorch CUDA mode: on CUDA "high" is TF32 (matmul_tf32). PyTorch's docs for "high" do
 * allow "the sum of two bfloat16 numbers" where a fast algorithm exists, i.e. on some
 * CPU backends; no PyTorch kernel has been checked against this one.
 * Each bf16 product is exact in float32 (16-bit significand). Accumulation order, as
 * the three-GEMM formulation runs it: the small passes first, all into one float32
 * accumulator: Σ_k lo_a·hi_b, then Σ_k hi_a·lo_b, then Σ_k hi_a·hi_b (k = 0..4).
 *
 * Options: round=nearest|nearest_away|zero (the float32 -> bf16 splits, default nearest).
 *
 * Error bound (u = 2^-24, u_b = 2^-8 nearest / 2^-7 zero). |v − hi| ≤ u_b|v|,
 * |v − hi − lo| ≤ u_b²|v|, |lo| ≤ (1+u_b)u_b|v|. The three products sum to
 * (hi_a+lo_a)(hi_b+lo_b) − lo_a lo_b, so per term
 *   |p̂ − ab| ≤ δ|ab|,  δ = (1+u_b²)² − 1 + (1+u_b)²u_b²  (≈ 3·2^-16),
 * and Σ|products| ≤ (1+u_b)^4 |ab|. 15 products pass through at most 14 additions:
 * γ14(2u) (doubled u: also covers truncating accumulators). Norms carry γ3 first.
 *   E = γ14(2u)(1+u_b)^4 (2Σ|x_ik x_jk| + (1+γ3)(n_i+n_j)) + δ·2Σ|x_ik x_jk|
 *       + ((1+δ)(1+γ3) − 1)(n_i + n_j),
 *   |v² − D²| ≤ E + (2u+u²)(D² + E)   (clamp and sqrt as matmul).
 * ≈ 3·2^-16(|x_i|² + |x_j|²): between TF32 and float32.
 *
 * PyTorch memory: as matmul, plus the split operand copies (O(N)). */
#include "backends/matmul_common.h"

static const mm_cfg dflt = {MM_ORDER_SEQ, 1, MM_ROUND_NEAREST_EVEN, MM_ACC_F32};

static size_t aux_bytes(const fpr_backend *b, int64_t n)
{
    (void)b;
    return mm_aux_bytes_k(n, 1);
}

static int prepare(const fpr_backend *b, const void *cfg, fpr_chain_view *cv)
{
    (void)b;
    const mm_cfg *c = cfg ? cfg : &dflt;
    mm_aux *m = mm_aux_layout(cv->aux, cv->n, 1);
    mm_fill_f32(m, cv);
    mm_reduce_operands(m, 8, c->round, 1);
    return FPR_OK;
}

static void eval_sq(const fpr_backend *b, const void *cfg, void *scratch,
                    const fpr_chain_view *cv, int64_t q, int64_t j0, int64_t n, float *restrict out)
{
    (void)b;
    (void)cfg;
    (void)scratch;
    const mm_aux *m = cv->aux;
    float ah[5], al[5];
    const float *restrict bh[5], *restrict bl[5];
    for (int k = 0; k < 5; k++) {
        ah[k] = m->a[k][q];
        al[k] = m->alo[k][q];
        bh[k] = m->b[k] + j0;
        bl[k] = m->blo[k] + j0;
    }
    #pragma omp simd
    for (int64_t j = 0; j < n; j++) {
        /* every product is exact (bf16 x bf16), so a*b + s is one rounding, as an FMA */
        float s = al[0] * bh[0][j];
        s = s + al[1] * bh[1][j];
        s = s + al[2] * bh[2][j];
        s = s + al[3] * bh[3][j];
        s = s + al[4] * bh[4][j];
        s = s + ah[0] * bl[0][j];
        s = s + ah[1] * bl[1][j];
        s = s + ah[2] * bl[2][j];
        s = s + ah[3] * bl[3][j];
        s = s + ah[4] * bl[4][j];
        s = s + ah[0] * bh[0][j];
        s = s + ah[1] * bh[1][j];
        s = s + ah[2] * bh[2][j];
        s = s + ah[3] * bh[3][j];
        s = s + ah[4] * bh[4][j];
        out[j] = s > 0.0f ? s : 0.0f;
    }
}

static int configure(const fpr_backend *b, const char *params, void **cfg)
{
    return mm_configure(b, params, &dflt, 4, cfg);
}

static double bound(const fpr_backend *b, const void *cfg, const float xi[3], const float xj[3],
                    double chain_absmax)
{
    (void)b;
    (void)chain_absmax;
    const mm_cfg *c = cfg ? cfg : &dflt;
    const double u = 0x1p-24, ub = mm_reduce_u(8, c->round);
    const double g3 = mm_gamma(3, u);
    const double delta = (1 + ub * ub) * (1 + ub * ub) - 1 + (1 + ub) * (1 + ub) * ub * ub;
    const double grow = (1 + ub) * (1 + ub) * (1 + ub) * (1 + ub);
    mm_pair p = mm_pair_facts(xi, xj);
    double nn = p.ni + p.nj;
    double E = mm_gamma(14, 2 * u) * grow * (2 * p.cross + (1 + g3) * nn) +
               delta * 2 * p.cross + ((1 + delta) * (1 + g3) - 1) * nn;
    double B = E + (2 * u + u * u) * (p.d2 + E);
    return B * (1 + 0x1p-40) + 0x1p-120;
}

static double torch_peak(const fpr_backend *b, const void *cfg, double n_atom, double n_token,
                         double S)
{
    (void)b;
    (void)cfg;
    (void)n_token;
    return mm_torch_peak(n_atom, S, 40.0); /* + hi/lo bf16 copies of the [S,N,5] operands */
}

const fpr_backend fpr_backend_matmul_bf16x3 = {
    .version = 1,
    .name = "matmul_bf16x3",
    .summary = "torch.cdist identity, operands split in two bf16 pieces, 3 products (XLA BF16_BF16_F32_X3; not a PyTorch CUDA mode)",
    .precision = FPR_PREC_F32,
    .chain_aux_bytes = aux_bytes,
    .prepare_chain = prepare,
    .eval_f32 = fpr_eval_f32_from_sq,
    .eval_sq_f32 = eval_sq,
    .configure = configure,
    .cfg_free = mm_cfg_free,
    .params_help = "round=nearest|nearest_away|zero (float32 -> bf16 splits, default nearest)",
    .d2_error_bound = bound,
    .torch_peak_bytes = torch_peak,
    .value_to_d2 = mm_value_to_d2,
};
