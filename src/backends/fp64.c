/* fp64.c — the reference formula in binary64 from the float32 inputs (SPEC §3); the
 * driver's angle stage follows it in binary64.
 *
 * Error bound. dx = x_ic − x_jc in binary64 is exact when both float32 operands lie
 * within 2^29 ulps of each other's exponent range, which holds for every coordinate
 * frameprec accepts (|x| ≤ 1e6 and, for the rare subnormal-scale operand, the error
 * is below 2^-100 Å); then the same argument as exact_diff with u = 2^-53 gives
 * |d̂² − (D² + 3·eps)| ≤ γ8 · (D² + 3·eps). */
#include <math.h>

#include "internal.h"

static void eval(const fpr_backend *b, const void *cfg, void *scratch, const fpr_chain_view *cv,
                 int64_t q, int64_t j0, int64_t n, double *out)
{
    (void)b;
    (void)cfg;
    (void)scratch;
    const double e = cv->eps;
    const double qx = cv->x[q], qy = cv->y[q], qz = cv->z[q];
    const float *restrict x = cv->x + j0, *restrict y = cv->y + j0, *restrict z = cv->z + j0;
    for (int64_t j = 0; j < n; j++) {
        double dx = qx - (double)x[j];
        double dy = qy - (double)y[j];
        double dz = qz - (double)z[j];
        double t0 = e + dx * dx;
        double t1 = e + dy * dy;
        double t2 = e + dz * dz;
        out[j] = sqrt((t0 + t1) + t2);
    }
}

static double bound(const fpr_backend *b, const void *cfg, const float xi[3], const float xj[3],
                    double chain_absmax)
{
    (void)b;
    (void)cfg;
    (void)chain_absmax;
    const double u = 0x1p-53, g8 = 8 * u / (1 - 8 * u);
    double s = 0;
    for (int k = 0; k < 3; k++) {
        double d = (double)xi[k] - (double)xj[k];
        s += d * d;
    }
    return g8 * (s * (1 + 0x1p-50) + 3e-8) + 0x1p-100;
}

static double value_to_d2(const fpr_backend *b, const void *cfg, double v)
{
    (void)b;
    (void)cfg;
    return v * v - 3e-8;
}

/* PyTorch in float64: the original formula's tensors at twice the width, 56N². */
static double torch_peak(const fpr_backend *b, const void *cfg, double n_atom, double n_token,
                         double S)
{
    (void)b;
    (void)cfg;
    (void)n_token;
    return S * 56.0 * n_atom * n_atom;
}

const fpr_backend fpr_backend_fp64 = {
    .version = 1,
    .name = "fp64",
    .summary = "reference difference formula in binary64 from the float32 inputs",
    .precision = FPR_PREC_F64,
    .eval_f64 = eval,
    .d2_error_bound = bound,
    .torch_peak_bytes = torch_peak,
    .value_to_d2 = value_to_d2,
};
