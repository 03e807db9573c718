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
 * eval_sq and the fused scan (scan_f32) compute that sum leaving out only what the
 * operands' ones make exact (X3_TERMS): 9 products and 12 additions instead of 15 and
 * 14, the same roundings, the same bits.
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

static const mm_cfg dflt = {MM_ORDER_SEQ, 1, MM_ROUND_NEAREST_EVEN, MM_ACC_F32, {0, 0, 0, 0}, 0};

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

/* The 15 terms in the order above, less what the ones of the operands make exact (set
 * by mm_fill_f32, kept by the split: 1 is a bfloat16): A_i4 = B_j3 = 1 have hi = 1 and
 * lo = 0, so lo_a4·hi_b4 and hi_a3·lo_b3 are +0 (0 times a norm ≥ 0) and adding them
 * leaves s as it is, except a −0 that becomes +0 — which changes no later sum but a zero
 * one, and the clamp makes every zero +0; lo_a3·1, 1·lo_b4, hi_a3·1 and 1·hi_b4 are the
 * other factor, exactly. So: 9 products, 12 additions, each rounded as before. */
#define X3_TERMS(MUL, ADD, s, al, ah, b0h, b1h, b2h, b4h, b0l, b1l, b2l, b4l)            \
    do {                                                                               \
        s = MUL(al[0], b0h);                                                           \
        s = ADD(s, MUL(al[1], b1h));                                                   \
        s = ADD(s, MUL(al[2], b2h));                                                   \
        s = ADD(s, al[3]);                                                             \
        s = ADD(s, MUL(ah[0], b0l));                                                   \
        s = ADD(s, MUL(ah[1], b1l));                                                   \
        s = ADD(s, MUL(ah[2], b2l));                                                   \
        s = ADD(s, b4l);                                                               \
        s = ADD(s, MUL(ah[0], b0h));                                                   \
        s = ADD(s, MUL(ah[1], b1h));                                                   \
        s = ADD(s, MUL(ah[2], b2h));                                                   \
        s = ADD(s, ah[3]);                                                             \
        s = ADD(s, b4h);                                                               \
    } while (0)
#define X3_MUL(a, b) ((a) * (b))
#define X3_ADD(a, b) ((a) + (b))

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
        float s;
        X3_TERMS(X3_MUL, X3_ADD, s, al, ah, bh[0][j], bh[1][j], bh[2][j], bh[4][j], bl[0][j],
                 bl[1][j], bl[2][j], bl[4][j]);
        out[j] = s > 0.0f ? s : 0.0f;
    }
}

/* scan_f32: the same sums streamed into the row's top-3 (mm_offer16: sqrtf only of the
 * sums that can enter), 16 columns per step; without AVX2 eval_sq in blocks. */
#ifdef FPR_HAVE_X86_SIMD
__attribute__((target("avx2,fma"))) static void scan_avx2(const mm_aux *m, int64_t q,
                                                          const int32_t *idx, int64_t j0,
                                                          int64_t n, fpr_top3 *t)
{
    __m256 ah[4], al[4];
    float ahs[4], als[4];
    for (int k = 0; k < 4; k++) {
        ahs[k] = m->a[k][q];
        als[k] = m->alo[k][q];
        ah[k] = _mm256_set1_ps(ahs[k]);
        al[k] = _mm256_set1_ps(als[k]);
    }
    const float *bh0 = m->b[0] + j0, *bh1 = m->b[1] + j0, *bh2 = m->b[2] + j0, *bh4 = m->b[4] + j0;
    const float *bl0 = m->blo[0] + j0, *bl1 = m->blo[1] + j0, *bl2 = m->blo[2] + j0,
                *bl4 = m->blo[4] + j0;
    idx += j0;
    mm_lim L;
    mm_lim_set(t, &L);
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
        __m256 s0, s1;
#define LD(p, o) _mm256_loadu_ps((p) + j + (o))
        X3_TERMS(_mm256_mul_ps, _mm256_add_ps, s0, al, ah, LD(bh0, 0), LD(bh1, 0), LD(bh2, 0),
                 LD(bh4, 0), LD(bl0, 0), LD(bl1, 0), LD(bl2, 0), LD(bl4, 0));
        X3_TERMS(_mm256_mul_ps, _mm256_add_ps, s1, al, ah, LD(bh0, 8), LD(bh1, 8), LD(bh2, 8),
                 LD(bh4, 8), LD(bl0, 8), LD(bl1, 8), LD(bl2, 8), LD(bl4, 8));
#undef LD
        mm_offer16(t, s0, s1, idx + j, &L);
    }
    for (; j < n; j++) {
        float s;
        X3_TERMS(X3_MUL, X3_ADD, s, als, ahs, bh0[j], bh1[j], bh2[j], bh4[j], bl0[j], bl1[j],
                 bl2[j], bl4[j]);
        mm_offer1(t, s, idx[j], &L);
    }
}
#endif

static void scan(const fpr_backend *b, const void *cfg, void *scratch, const fpr_chain_view *cv,
                 int64_t q, int64_t j0, int64_t n, fpr_top3 *t)
{
#ifdef FPR_HAVE_X86_SIMD
    if (fpr_simd_level() >= FPR_SIMD_AVX2) {
        scan_avx2(cv->aux, q, cv->idx, j0, n, t);
        return;
    }
#endif
    fpr_scan_sq_blocks(b, cfg, scratch, cv, q, j0, n, t);
}

/* The bound's constants under c (mm_cfg.bound_k): γ3(u), δ, the growth factor, γ14(2u). */
static void bound_consts(const mm_cfg *c, double k[4])
{
    const double u = 0x1p-24, ub = mm_reduce_u(8, c->round);
    k[0] = mm_gamma(3, u);
    k[1] = (1 + ub * ub) * (1 + ub * ub) - 1 + (1 + ub) * (1 + ub) * ub * ub;
    k[2] = (1 + ub) * (1 + ub) * (1 + ub) * (1 + ub);
    k[3] = mm_gamma(14, 2 * u);
}

static int configure(const fpr_backend *b, const char *params, void **cfg)
{
    int rc = mm_configure(b, params, &dflt, 4, cfg);
    if (!rc) {
        mm_cfg *c = *cfg;
        bound_consts(c, c->bound_k);
        c->bound_set = 1;
    }
    return rc;
}

static double bound(const fpr_backend *b, const void *cfg, const float xi[3], const float xj[3],
                    double chain_absmax)
{
    (void)b;
    (void)chain_absmax;
    const mm_cfg *c = cfg ? cfg : &dflt;
    const double u = 0x1p-24;
    double kc[4];
    if (!c->bound_set)
        bound_consts(c, kc);
    const double *k = c->bound_set ? c->bound_k : kc;
    const double g3 = k[0], delta = k[1], grow = k[2];
    mm_pair p = mm_pair_facts(xi, xj);
    double nn = p.ni + p.nj;
    double E = k[3] * grow * (2 * p.cross + (1 + g3) * nn) +
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
    .scan_f32 = scan,
    .configure = configure,
    .cfg_free = mm_cfg_free,
    .params_help = "round=nearest|nearest_away|zero (float32 -> bf16 splits, default nearest)",
    .d2_error_bound = bound,
    .torch_peak_bytes = torch_peak,
    .value_to_d2 = mm_value_to_d2,
};
