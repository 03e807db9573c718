/* matmul_tf32.c — the matmul identity as a GPU runs a float32 GEMM in TF32 mode
 * (SPEC §3): both GEMM operands A_i = [−2x_i, n_i, 1] and B_j = [x_j, 1, n_j] — the
 * squared-norm columns included — reduced to TF32 (8-bit exponent, 11-bit significand)
 * before the products; products of two TF32 values are exact in float32 (22 bits), and
 * the accumulation is float32. This is what torch.cdist does on an Ampere-or-later GPU
 * when torch.set_float32_matmul_precision("high") is in effect — and OpenFold3's own
 * entry point sets exactly that. The norms themselves are elementwise ops
 * (x.pow(2).sum), computed in full float32, and only then fed to the GEMM.
 *
 * Options: round=zero|nearest|nearest_away — how float32 operands become TF32.
 * Default zero: when cuBLAS runs a TF32 GEMM on float32 data, the tensor core reads only
 * the top 10 explicit mantissa bits (PyTorch's numerical-accuracy notes: "only the first
 * 10 bits of the input mantissa are read"), i.e. truncation; nearest_away is PTX's
 * cvt.rna.tf32.f32 (CUTLASS's "round" conversion), nearest is ties-to-even.
 * order=seq|rev|pairwise, fma=0|1 as matmul (products are exact here, so fma only
 * matters through the order).
 *
 * Error bound (u = 2^-24; u_t = 2^-11 for nearest, 2^-10 for zero): every operand
 * carries |â − a| ≤ u_t|a| (the norm also its float32 γ3), each product is exact, and
 * the accumulation of 5 terms is bounded with γ5(2u) — a doubled unit roundoff so the
 * bound also covers tensor cores whose accumulator truncates instead of rounding
 * (Fasi, Higham, Mikaitis, Pranesh 2021). With the sqrt as in matmul:
 *   |v² − D²| ≤ E + (2u+u²)(D² + E),
 *   E = γ5(2u)Σ|p̂| + ((1+u_t)²−1)·2Σ|x_ik x_jk| + ((1+u_t)(1+γ3)−1)(n_i + n_j).
 * ≈ 3u_t(|x_i|² + |x_j|²): 2^-11·|x|² is already ~1 Å² at |x| = 45 Å, so TF32 cdist
 * cannot rank neighbours even at the origin of an ordinary protein frame.
 *
 * PyTorch memory: as matmul (cuBLAS converts on the fly inside the tensor cores). */
#include "backends/matmul_common.h"

static const mm_cfg dflt = {MM_ORDER_SEQ, 1, MM_ROUND_ZERO};

static int prepare(const fpr_backend *b, const void *cfg, fpr_chain_view *cv)
{
    (void)b;
    const mm_cfg *c = cfg ? cfg : &dflt;
    mm_aux *m = mm_aux_layout(cv->aux, cv->n, 0);
    mm_fill_f32(m, cv);
    mm_reduce_operands(m, 11, c->round, 0);
    return FPR_OK;
}

static void eval(const fpr_backend *b, const void *cfg, void *scratch, const fpr_chain_view *cv,
                 int64_t q, int64_t j0, int64_t n, float *out)
{
    (void)b;
    (void)scratch;
    mm_eval_dot5(cfg ? cfg : &dflt, cv->aux, q, j0, n, out);
}

static int configure(const fpr_backend *b, const char *params, void **cfg)
{
    return mm_configure(b, params, &dflt, 1 | 2 | 4, cfg);
}

static double bound(const fpr_backend *b, const void *cfg, const float xi[3], const float xj[3],
                    double chain_absmax)
{
    (void)b;
    (void)chain_absmax;
    const mm_cfg *c = cfg ? cfg : &dflt;
    mm_pair p = mm_pair_facts(xi, xj);
    return mm_bound_identity(&p, mm_reduce_u(11, c->round), 0x1p-23, 5);
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
    .summary = "torch.cdist identity with TF32 GEMM operands (GPU, matmul precision 'high')",
    .precision = FPR_PREC_F32,
    .chain_aux_bytes = mm_aux_bytes_plain,
    .prepare_chain = prepare,
    .eval_f32 = eval,
    .configure = configure,
    .cfg_free = mm_cfg_free,
    .params_help = "round=zero|nearest|nearest_away (float32 -> TF32, default zero = tensor "
                   "core truncation); order=seq|rev|pairwise (default seq); fma=0|1 (default 1)",
    .d2_error_bound = bound,
    .torch_peak_bytes = torch_peak,
    .value_to_d2 = mm_value_to_d2,
};
