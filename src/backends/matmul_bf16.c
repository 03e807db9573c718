/* matmul_bf16.c — the matmul identity with both GEMM operands rounded to one bfloat16
 * (8-bit significand), float32 accumulation (SPEC §3). Where PyTorch runs this: its
 * float32 matmul precision "medium" means "use the bfloat16 datatype ... if a fast matrix
 * multiplication algorithm using that datatype internally is available" (docs of
 * torch.set_float32_matmul_precision) — that is oneDNN's CPU path (bf16 units: AMX,
 * AVX512-BF16). On CUDA it is NOT this: the same docs say the flag affects CUDA by
 * selecting TF32 for "high" and "medium" alike, so a GPU under "medium" is matmul_tf32.
 * Products of two bf16 values are exact in float32; the norms are computed in float32
 * and then rounded like any operand.
 *
 * Options: round=nearest|nearest_away|zero (float32 -> bf16; default nearest, ties to
 * even, as PyTorch's and oneDNN's conversions do); order, fma as matmul.
 *
 * Error bound: matmul_tf32's derivation with u_b = 2^-8 (nearest) or 2^-7 (zero):
 *   |v² − D²| ≤ E + (2u+u²)(D² + E),
 *   E = γ5(2u)Σ|p̂| + ((1+u_b)²−1)·2Σ|x_ik x_jk| + ((1+u_b)(1+γ3)−1)(n_i + n_j),
 * about 3·2^-8(|x_i|² + |x_j|²): a ranking of neighbours is hopeless beyond a few Å
 * from the origin; the variant is here to show that.
 *
 * PyTorch memory: as matmul (the bf16 copies of the [N,5] operands are O(N)). */
#include "backends/matmul_common.h"

static const mm_cfg dflt = {MM_ORDER_SEQ, 1, MM_ROUND_NEAREST_EVEN, MM_ACC_F32, {0, 0, 0, 0}, 0};

static int prepare(const fpr_backend *b, const void *cfg, fpr_chain_view *cv)
{
    (void)b;
    const mm_cfg *c = cfg ? cfg : &dflt;
    mm_aux *m = mm_aux_layout(cv->aux, cv->n, 0);
    mm_fill_f32(m, cv);
    mm_reduce_operands(m, 8, c->round, 0);
    return FPR_OK;
}

static void eval_sq(const fpr_backend *b, const void *cfg, void *scratch,
                    const fpr_chain_view *cv, int64_t q, int64_t j0, int64_t n, float *out)
{
    (void)b;
    (void)scratch;
    mm_eval_dot5_sq(cfg ? cfg : &dflt, cv->aux, q, j0, n, out);
}

static void bound_consts(const mm_cfg *c, double k[4])
{
    mm_bound_consts(k, mm_reduce_u(8, c->round), 0x1p-23, 5);
}

static int configure(const fpr_backend *b, const char *params, void **cfg)
{
    int rc = mm_configure(b, params, &dflt, 1 | 2 | 4, cfg);
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
    return mm_torch_peak(n_atom, S, 20.0); /* + the bf16 [S,N,5] operand copies */
}

const fpr_backend fpr_backend_matmul_bf16 = {
    .version = 1,
    .name = "matmul_bf16",
    .summary = "torch.cdist identity with bfloat16 GEMM operands ('medium' on oneDNN CPUs; on CUDA 'medium' is TF32)",
    .precision = FPR_PREC_F32,
    .chain_aux_bytes = mm_aux_bytes_plain,
    .prepare_chain = prepare,
    .eval_f32 = fpr_eval_f32_from_sq,
    .eval_sq_f32 = eval_sq,
    .scan_f32 = mm_scan_dot5,
    .configure = configure,
    .cfg_free = mm_cfg_free,
    .params_help = "round=nearest|nearest_away|zero (float32 -> bf16, default nearest); "
                   "order=seq|rev|pairwise (default seq); fma=0|1 (default 1)",
    .d2_error_bound = bound,
    .torch_peak_bytes = torch_peak,
    .value_to_d2 = mm_value_to_d2,
    .row_key = mm_row_key,
};
