/* matmul.c — the torch.cdist identity in float32 (SPEC §3): per atom
 *   n = (x0² + x1²) + x2²,  dot = [−2x_i, n_i, 1] · [x_j, 1, n_j],  v = sqrt(max(0, dot)),
 * no eps. This is what OpenFold3 PR 244 switched to. The ranked value is v; the
 * computed D² is v² (value_to_d2).
 *
 * Options: order=seq|rev|pairwise (the 5-term accumulation order), fma=0|1.
 * Default: order=seq, fma=1 — sequential in the order written with every product after
 * the first fused into the running sum. That is what a CPU GEMM micro-kernel does for
 * K = 5 (MKL/oneDNN/OpenBLAS sgemm kernels broadcast one k at a time and accumulate
 * with vfmadd in k order), so it is the closest model of torch.cdist on the CPU; the
 * other orders show how much the choice a GEMM makes moves the picks.
 *
 * Error bound (u = 2^-24, γk = ku/(1−ku)). Exact: D² = n_i + n_j − 2 x_i·x_j.
 *  1. Norms: n̂ = fl(fl(fl(x0²) + fl(x1²)) + fl(x2²)); x0² passes three roundings, so
 *     |n̂ − n| ≤ γ3 n.
 *  2. −2x is exact; the products by 1 are exact.
 *  3. Any accumulation order of the 5 terms with or without FMA: a term passes through
 *     at most one product rounding and four additions, so the computed ŝ satisfies
 *     |ŝ − Σ p̂_k| ≤ γ5 Σ|p̂_k|, Σ|p̂_k| ≤ 2Σ_k|x_ik x_jk| + (1+γ3)(n_i + n_j).
 *     Hence |ŝ − D²| ≤ E = γ5 Σ|p̂_k| + γ3 (n_i + n_j).
 *  4. Clamp at 0 only moves ŝ towards D² ≥ 0. The sqrt: v = sqrt(c)(1+δ), so
 *     |v² − c| ≤ (2u + u²) c ≤ (2u + u²)(D² + E).
 *  Bound on |value_to_d2(v) − D²|: E + (2u + u²)(D² + E) ≈ 13u·(|x_i|² + |x_j|²) + 2u·D².
 * It grows with |x_i|² + |x_j|², not with D²: at 1000 Å from the origin the bound is
 * ~1 Å² — comparable to bond lengths squared — which is why the picks degrade with the
 * offset. (mm_bound_identity in matmul_common.h, with u_op = 0, u_acc = u, m = 5.)
 *
 * PyTorch memory: torch.cdist + the PR's boolean pair mask, S·(4N² + 40N) + N²
 * (mm_torch_peak in matmul_common.h has the accounting). */
#include "backends/matmul_common.h"

static const mm_cfg dflt = {MM_ORDER_SEQ, 1, MM_ROUND_NEAREST_EVEN, MM_ACC_F32, {0, 0, 0, 0}, 0};

static int prepare(const fpr_backend *b, const void *cfg, fpr_chain_view *cv)
{
    (void)b;
    (void)cfg;
    mm_aux *m = mm_aux_layout(cv->aux, cv->n, 0);
    mm_fill_f32(m, cv);
    return FPR_OK;
}

static void eval_sq(const fpr_backend *b, const void *cfg, void *scratch,
                    const fpr_chain_view *cv, int64_t q, int64_t j0, int64_t n, float *out)
{
    (void)b;
    (void)scratch;
    mm_eval_dot5_sq(cfg ? cfg : &dflt, cv->aux, q, j0, n, out);
}

static int configure(const fpr_backend *b, const char *params, void **cfg)
{
    return mm_configure(b, params, &dflt, 1 | 2, cfg);
}

static double bound(const fpr_backend *b, const void *cfg, const float xi[3], const float xj[3],
                    double chain_absmax)
{
    (void)b;
    (void)cfg;
    (void)chain_absmax;
    mm_pair p = mm_pair_facts(xi, xj);
    return mm_bound_identity(&p, 0.0, 0x1p-24, 5);
}

static double torch_peak(const fpr_backend *b, const void *cfg, double n_atom, double n_token,
                         double S)
{
    (void)b;
    (void)cfg;
    (void)n_token;
    return mm_torch_peak(n_atom, S, 0.0);
}

const fpr_backend fpr_backend_matmul = {
    .version = 1,
    .name = "matmul",
    .summary = "torch.cdist identity |xi|^2+|xj|^2-2xi.xj in float32 (OpenFold3 PR 244)",
    .precision = FPR_PREC_F32,
    .chain_aux_bytes = mm_aux_bytes_plain,
    .prepare_chain = prepare,
    .eval_f32 = fpr_eval_f32_from_sq,
    .eval_sq_f32 = eval_sq,
    .scan_f32 = mm_scan_dot5,
    .configure = configure,
    .cfg_free = mm_cfg_free,
    .params_help = "order=seq|rev|pairwise (5-term accumulation order, default seq); "
                   "fma=0|1 (fuse products into the sum, default 1)",
    .d2_error_bound = bound,
    .torch_peak_bytes = torch_peak,
    .value_to_d2 = mm_value_to_d2,
};
