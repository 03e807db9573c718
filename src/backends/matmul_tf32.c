/* matmul_tf32.c — the matmul identity as a GPU runs a float32 GEMM in TF32 mode
 * (SPEC §3): both GEMM operands A_i = [−2x_i, n_i, 1] and B_j = [x_j, 1, n_j] — the
 * squared-norm columns included — reduced to TF32 (8-bit exponent, 11-bit significand)
 * before the products; products of two TF32 values are exact in float32 (22 bits), and
 * the accumulation is float32. This is what torch.cdist does on an Ampere-or-later GPU
 * when torch.set_float32_matmul_precision("high") is in effect — and OpenFold3's own
 * entry point sets exactly that. On CUDA "medium" means the same: PyTorch's docs for
 * set_float32_matmul_precision (1.12, 2.0) say the flag affects only CUDA, where "high"
 * or "medium" select TF32. The norms themselves are elementwise ops (x.pow(2).sum),
 * computed in full float32, and only then fed to the GEMM.
 *
 * round= — how float32 operands become TF32. Default nearest_away (round to nearest,
 * ties away from zero). The evidence, as facts:
 *  - pytorch PR 49625 (ptrblck, NVIDIA, merged Dec 2020): "Minor doc fix in clarifying
 *    that the input data is rounded not truncated" — the CUDA notes' TF32 section says
 *    "rounds input data to have 10 bits of mantissa". (The numerical-accuracy note
 *    still says "only the first 10 bits of the input mantissa are read", pytorch PR
 *    79537; the two notes disagree, the NVIDIA engineer's correction is the later word
 *    on rounding.)
 *  - CUTLASS converts float -> tfloat32_t with round_half_ulp_truncate (add half an ulp
 *    of TF32, then truncate: round half away from zero) per SPEC §3; its
 *    numeric_conversion.h is in the search corpus but its body was not read here. The
 *    PTX instruction cvt.rna.tf32.f32 ("rna": round to nearest, ties away) is what cutf's
 *    docs say a TF32 cast uses on CC >= 8, and LLVM/MLIR's NVVM tests lower the "rna"
 *    float-to-tf32 conversion to llvm.nvvm.f2tf32.rna.
 *  - pytorch issue 53635 (RTX 3090, PyTorch 1.8, CUDA 11.1): [1024.5] @ [[1.0]] gives
 *    1025. 1024.5 needs 12 significant bits; TF32 keeps 11, so it is exactly halfway
 *    between 1024 and 1025: truncation gives 1024, ties-to-even gives 1024, only ties
 *    away gives 1025. tests/test_backends.c pins this value.
 *  - SPEC §3 also lists jax issue 14157 and pytorch issues 58688 and 78275 (A100
 *    results reproduced by round to nearest, not by truncation); this file's author
 *    could not find those threads in the search corpus, so they are cited from SPEC.
 * round=zero stays: a bare tensor core reads only the top mantissa bits when nothing
 * rounds first (Fasi, Higham, Mikaitis, Pranesh 2021), and what cuBLAS's Hopper (wgmma)
 * kernels feed it is not documented. round=nearest_even (alias nearest) is IEEE RN.
 *
 * acc= — how the 5 products are accumulated. acc=f32 (default): IEEE float32, operation
 * by operation in `order`, with or without FMA (the products are exact, so fma only
 * matters through the order). acc=tc: the tensor-core block FMA measured by Fasi,
 * Higham, Mikaitis and Pranesh, "Numerical behavior of NVIDIA tensor cores", PeerJ
 * Comput. Sci. 7:e330 (2021): products exact; a block of 4 products and the
 * accumulator c is added as follows — the terms' significands are aligned to the
 * largest exponent among them and truncated (toward zero) to 24 bits at that
 * alignment, the aligned terms are added exactly with no normalisation in between, and
 * the sum is normalised and truncated to float32 once. K = 5 is two blocks: products
 * 0..3 with c = 0, then product 4 (and three zero pads) with c = the first result.
 * The number of alignment bits (24, no guard bit) and the block size of 4 for TF32
 * are that paper's A100 reading as SPEC §3 states it; no GPU has checked this here
 * (make oracle-gpu does). Then clamp at 0 and sqrtf (elementwise, round to nearest).
 *
 * Error bound (u = 2^-24; u_t = 2^-11 for nearest, 2^-10 for zero): every operand
 * carries |â − a| ≤ u_t|a| (the norm also its float32 γ3), each product is exact, and
 * the accumulation of 5 terms is bounded with γ5(2u) — a doubled unit roundoff so the
 * bound also covers accumulators that truncate. acc=tc: a block's truncations cost
 * < q per term (q = 2^(e_max−23) ≤ 2^-23·max|term|) plus < 2^-23|sum| for the final
 * truncation: block 1 ≤ 5·2^-23·Σ|p0..3|, block 2 ≤ 3·2^-23(|ŝ1| + |p4|), in all
 * < 8.1·2^-23·Σ|p̂| ≤ γ5(4u)Σ|p̂|, so acc=tc uses γ5(4u). With the sqrt as in matmul:
 *   |v² − D²| ≤ E + (2u+u²)(D² + E),
 *   E = γ5(ku)Σ|p̂| + ((1+u_t)²−1)·2Σ|x_ik x_jk| + ((1+u_t)(1+γ3)−1)(n_i + n_j).
 * ≈ 3u_t(|x_i|² + |x_j|²): 2^-11·|x|² is already ~1 Å² at |x| = 45 Å, so TF32 cdist
 * cannot rank neighbours even at the origin of an ordinary protein frame.
 *
 * PyTorch memory: as matmul (cuBLAS converts on the fly inside the tensor cores). */
#include "backends/matmul_common.h"

static const mm_cfg dflt = {MM_ORDER_SEQ, 1, MM_ROUND_NEAREST_AWAY, MM_ACC_F32, {0, 0, 0, 0}, 0};

static int prepare(const fpr_backend *b, const void *cfg, fpr_chain_view *cv)
{
    (void)b;
    const mm_cfg *c = cfg ? cfg : &dflt;
    mm_aux *m = mm_aux_layout(cv->aux, cv->n, 0);
    mm_fill_f32(m, cv);
    mm_reduce_operands(m, 11, c->round, 0);
    return FPR_OK;
}

/* float32 nearest to s in the direction of zero (s in binary64; finite, in range). */
static float trunc_to_f32(double s)
{
    float f = (float)s;
    if (fabs((double)f) > fabs(s))
        f = nextafterf(f, 0.0f);
    return f;
}

/* One tensor-core block: c + Σ t[0..n-1], the t exact products. Terms are aligned to
 * the largest exponent e among all n+1 and truncated toward zero to multiples of
 * q = 2^(e−23); their sum is exact in binary64 (at most 5 terms of ≤ 25 bits above q);
 * then one truncation to float32. */
static float tc_block(float c, const float *t, int n)
{
    double amax = fabs((double)c);
    for (int k = 0; k < n; k++)
        if (fabs((double)t[k]) > amax)
            amax = fabs((double)t[k]);
    if (amax == 0)
        return 0.0f;
    int e;
    frexp(amax, &e); /* amax in [2^(e−1), 2^e) */
    double q = ldexp(1.0, e - 1 - 23);
    double s = trunc((double)c / q) * q; /* exact: c/q is a power-of-two scaling */
    for (int k = 0; k < n; k++)
        s += trunc((double)t[k] / q) * q;
    return trunc_to_f32(s);
}

/* acc=tc: the 5-term dot as two blocks (products 0..3, then 4), clamped at 0. */
static void eval_tc_sq(const mm_aux *m, int64_t q, int64_t j0, int64_t n, float *out)
{
    for (int64_t j = 0; j < n; j++) {
        float p[5];
        for (int k = 0; k < 5; k++)
            p[k] = m->a[k][q] * m->b[k][j0 + j]; /* exact: 11 × 11 significant bits */
        float s = tc_block(0.0f, p, 4);
        s = tc_block(s, p + 4, 1);
        out[j] = s > 0.0f ? s : 0.0f;
    }
}

static void eval_sq(const fpr_backend *b, const void *cfg, void *scratch,
                    const fpr_chain_view *cv, int64_t q, int64_t j0, int64_t n, float *out)
{
    (void)b;
    (void)scratch;
    const mm_cfg *c = cfg ? cfg : &dflt;
    if (c->acc == MM_ACC_TC)
        eval_tc_sq(cv->aux, q, j0, n, out);
    else
        mm_eval_dot5_sq(c, cv->aux, q, j0, n, out);
}

static void bound_consts(const mm_cfg *c, double k[4])
{
    mm_bound_consts(k, mm_reduce_u(11, c->round), c->acc == MM_ACC_TC ? 0x1p-22 : 0x1p-23, 5);
}

static int configure(const fpr_backend *b, const char *params, void **cfg)
{
    int rc = mm_configure(b, params, &dflt, 1 | 2 | 4 | 8, cfg);
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
    mm_pair p = mm_pair_facts(xi, xj);
    double k[4];
    if (!c->bound_set)
        bound_consts(c, k);
    return mm_bound_identity_k(&p, c->bound_set ? c->bound_k : k);
}

static double torch_peak(const fpr_backend *b, const void *cfg, double n_atom, double n_token,
                         double S)
{
    (void)b;
    (void)cfg;
    (void)n_token;
    return mm_torch_peak(n_atom, S, 0.0);
}

const fpr_backend fpr_backend_matmul_tf32 = {
    .version = 1,
    .name = "matmul_tf32",
    .summary = "torch.cdist identity with TF32 GEMM operands (CUDA, matmul precision 'high' or 'medium')",
    .precision = FPR_PREC_F32,
    .chain_aux_bytes = mm_aux_bytes_plain,
    .prepare_chain = prepare,
    .eval_f32 = fpr_eval_f32_from_sq,
    .eval_sq_f32 = eval_sq,
    .scan_f32 = mm_scan_dot5,
    .configure = configure,
    .cfg_free = mm_cfg_free,
    .params_help = "round=nearest_away|nearest_even|zero (float32 -> TF32, default nearest_away "
                   "as cvt.rna.tf32.f32; nearest = nearest_even); acc=f32|tc (default f32; tc: "
                   "tensor-core blocks of 4, aligned and truncated, Fasi et al. 2021); "
                   "order=seq|rev|pairwise (default seq); fma=0|1 (default 1)",
    .d2_error_bound = bound,
    .torch_peak_bytes = torch_peak,
    .value_to_d2 = mm_value_to_d2,
};
