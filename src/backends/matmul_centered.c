/* matmul_centered.c — subtract a per-chain float32 centroid, then the matmul identity
 * (SPEC §3): y = fl(x − c) per coordinate, then exactly matmul's arithmetic on y.
 * The identity's error grows with |x|²; centring makes it grow with the chain's own
 * extent instead, the cheap fix a PyTorch user would write as
 *   x = x - x.mean(-2, keepdim=True); torch.cdist(x, x).
 * The centroid is the mean of the chain's present atoms computed in binary64 and
 * rounded to float32 (PyTorch's float32 mean may differ in its last bits; the bound
 * below holds for any float32 c inside the chain's bounding box, which both are).
 * Options: as matmul (order, fma).
 *
 * Error bound. Let d = x_i − x_j (exact D² = |d|²) and ŷ = fl(x − c), so
 * ŷ_i = x_i − c + e_i with |e_ik| ≤ u|ŷ_ik|. The matmul arithmetic on ŷ returns, by the
 * matmul bound B_mm(ŷ_i, ŷ_j), an approximation of |ŷ_i − ŷ_j|² = |d + e_i − e_j|², and
 *   | |d + e|² − |d|² | ≤ 2|d||e| + |e|²,  |e| ≤ u(|ŷ_i| + |ŷ_j|).
 * The bound needs |ŷ|, a chain-level quantity: with R = chain_absmax, any R such that
 * every coordinate difference inside the chain is at most 2R (the chain's max |x|, in
 * any norm, qualifies; so does its half coordinate span, the tightest
 * translation-invariant choice), |x_ik − c_k| ≤ 2R since c lies in the bounding box, so
 * |ŷ_i| ≤ (1+u)·2√3·R. Hence
 *   |value_to_d2(v) − D²| ≤ B_mm(ŷ bound) + 2|d|·2Y u + (2Y u)², Y = (1+u) 2√3 R,
 * with B_mm evaluated at |ŷ_i|² = |ŷ_j|² = Σ|ŷ_ik ŷ_jk| = Y². With R the half-span this
 * is independent of the translation: ~13u·8·3R² + 2u·D².
 * If chain_absmax is not positive (the caller gave no chain facts) nothing bounds |ŷ|
 * and the bound is +inf: rigorous, and visibly useless in a report. Callers must pass it.
 *
 * PyTorch memory: the centred copy of x ([S,N,3] f32, 12 bytes per atom) is alive with
 * the cdist operands and result: S·(4N² + 52N) + N². */
#include "backends/matmul_common.h"

static const mm_cfg dflt = {MM_ORDER_SEQ, 1, MM_ROUND_NEAREST_EVEN, MM_ACC_F32, {0, 0, 0, 0}, 0};

static int prepare(const fpr_backend *b, const void *cfg, fpr_chain_view *cv)
{
    (void)b;
    (void)cfg;
    mm_aux *m = mm_aux_layout(cv->aux, cv->n, 0);
    if (cv->base) { /* the same atoms reordered: the same centroid, bit for bit (the sum
                       below depends on the order) */
        const mm_aux *m0 = cv->base->aux;
        m->cx = m0->cx;
        m->cy = m0->cy;
        m->cz = m0->cz;
        mm_fill_f32(m, cv);
        return FPR_OK;
    }
    double sx = 0, sy = 0, sz = 0;
    for (int64_t j = 0; j < cv->n; j++) {
        sx += cv->x[j];
        sy += cv->y[j];
        sz += cv->z[j];
    }
    if (cv->n > 0) {
        m->cx = (float)(sx / (double)cv->n);
        m->cy = (float)(sy / (double)cv->n);
        m->cz = (float)(sz / (double)cv->n);
    }
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
    const double u = 0x1p-24;
    double R = chain_absmax;
    if (!(R > 0))
        return INFINITY;
    for (int k = 0; k < 3; k++) /* a valid R spans at least this pair */
        R = fmax(R, 0.5 * fabs((double)xi[k] - (double)xj[k]));
    double Y = (1 + u) * 2 * sqrt(3.0) * R * (1 + 0x1p-50);
    mm_pair p = mm_pair_facts(xi, xj);
    mm_pair py = {p.d2, Y * Y, Y * Y, Y * Y};
    /* the matmul bound's sqrt term uses D² of the centred pair, ≤ D² + centring error */
    double ec = 2 * sqrt(p.d2) * 2 * Y * u + (2 * Y * u) * (2 * Y * u);
    py.d2 = p.d2 + ec;
    return (mm_bound_identity(&py, 0.0, u, 5) + ec) * (1 + 0x1p-40);
}

static double torch_peak(const fpr_backend *b, const void *cfg, double n_atom, double n_token,
                         double S)
{
    (void)b;
    (void)cfg;
    (void)n_token;
    return mm_torch_peak(n_atom, S, 12.0);
}

const fpr_backend fpr_backend_matmul_centered = {
    .version = 1,
    .name = "matmul_centered",
    .summary = "torch.cdist identity after subtracting a per-chain float32 centroid",
    .precision = FPR_PREC_F32,
    .chain_aux_bytes = mm_aux_bytes_plain,
    .prepare_chain = prepare,
    .eval_f32 = fpr_eval_f32_from_sq,
    .eval_sq_f32 = eval_sq,
    .scan_f32 = mm_scan_dot5,
    .configure = configure,
    .cfg_free = mm_cfg_free,
    .params_help = "order=seq|rev|pairwise (default seq); fma=0|1 (default 1)",
    .d2_error_bound = bound,
    .torch_peak_bytes = torch_peak,
    .value_to_d2 = mm_value_to_d2,
};
