/* angle_exact.c — the angle test of SPEC §2 step 7 decided exactly (GMP/MPFR), and the
 * "fragile angle" flag: could the float32 computation decide differently?
 *
 * What is decided. u = xa − xb, v = xc − xb (exact), P = uv = u·v, A = eps + |u|²,
 * B = eps + |v|², cos = P / (sqrt(A)·sqrt(B)); valid iff cos(180°−θ) < cos < cos(θ),
 * strictly, θ in degrees as the exact real value of the double θ (π from MPFR).
 *
 * eps. The reference adds the Python float 1e-8 to a float32 tensor, so PyTorch adds
 * eps rounded to float32 (fpr_eps_f32). The truth uses that same value, exactly: the
 * truth says what exact mathematics gives for the exact float32 inputs and the eps
 * the model actually adds.
 *
 * Reduction. cos(180°−θ) = −cos(θ) exactly, so with c = cos θ the test is |cos| < c,
 * i.e. c > 0 and P² < c²·A·B (A, B > 0). Scaling every float32 by 2^149 makes it an
 * integer (a float32 is m·2^k with k ≥ −149), and a product of two such by 2^298:
 * with U = u·2^149, V = v·2^149, E = eps·2^298 (all exact integers held in doubles of
 * ≤ 2^277 before conversion to mpz), P·2^298 = ΣUV, A·2^298 = E + ΣU², B likewise, and
 * the scale cancels in P²/(A·B). So N = (ΣUV)² and M = (E+ΣU²)(E+ΣV²) are exact mpz
 * integers and only c² is irrational; the test is sign(c²·M − N).
 *
 * Deciding sign(c²·M − N) exactly. MPFR at precision p gives an interval for c (error
 * bound below); if it decides, done, else p doubles (Ziv). Termination: if c²·M = N
 * then c² = N/M is rational, so cos 2θ = 2c² − 1 is rational with θ a rational number
 * of degrees (every double is rational), and by Niven's theorem cos 2θ ∈ {0, ±1/2, ±1}.
 * Those θ (2θ ≡ 0, 60, 90, 120, 180, 240, 270, 300 mod 360) have c² = n/4 with
 * n ∈ {0..4} exactly and are decided in integers (4N vs n·M) with no MPFR at all; for
 * every other θ equality is impossible and the loop ends as soon as p exceeds the bits
 * of the (non-zero) gap. For θ = 25° (c² of degree 6 over Q) Liouville's bound keeps
 * that below ~10^4 bits even for the extreme integers here; in practice a binary64
 * prefilter decides nearly every call and 64 bits the rest.
 *
 * Error of c at precision p (round-to-nearest, relative error ≤ 2^−p per operation):
 * x̂ = ((θ·π̂)/180) with π̂ = π(1+δ1) and two roundings, so |x̂ − x| ≤ ((1+2^−p)³−1)|x|
 * ≤ 2^(2−p)|x̂| (p ≥ 64); cos is 1-Lipschitz and MPFR's cos is correctly rounded
 * (≤ 2^−p since |cos| ≤ 1), so |ĉ − c| ≤ 2^(3−p)|x̂| + 2^−p (one bit of slack), and the
 * bound and the interval ends are rounded outward.
 *
 * Binary64 prefilter (decides almost every call without GMP). u_k = (double)xa−(double)xb
 * has relative error ≤ 2^−53 (no underflow: a non-zero difference of float32s is
 * ≥ 2^−149; products ≥ 2^−298 are normal in binary64). The dot products (3 products,
 * 2 additions) have relative error γ5 on Σ|u_k v_k| (relative on |u||v| by
 * Cauchy–Schwarz), eps + |u|² is a sum of non-negatives (γ6), each sqrt adds ≤ one
 * rounding to half the relative error, the product and quotient one each: overall
 * |ĉos − cos| ≤ γ12·|cos| + γ5·(1+γ12)·|u||v|/(√A√B) ≤ γ18 ≈ 2.0e−15 since |cos| ≤ 1
 * and |u||v| ≤ √A√B. ERR64 = 1e−14 covers it with margin. The bounds of c come from
 * MPFR (outward-rounded to double, cached per thread and θ).
 *
 * Fragile: float32 reach. fpr_angle_valid_f32 computes with u = 2^−24 the same
 * sequence plus a float32 rounding of each difference, and subnormal underflow in the
 * products (absolute ≤ 2^−150 each, divided by √A√B ≥ eps); the same argument gives
 * |ĉos32 − cos| ≤ γ18(2^−24) + 2^−100 ≈ 1.07e−6. Its bounds are cos θ computed in
 * binary64 and rounded to float32: off by ≤ 2^−25 + 2^−52 from c. So it can decide
 * differently from the truth only when the exact gap min(|cos − c|, |cos + c|) is
 * ≤ B32 = γ20(2^−24) + 2^−24 ≈ 1.25e−6 (rounded up). *fragile = 1 when the float32
 * decision disagrees with the exact one, or the gap may be ≤ B32 (the gap is evaluated
 * in binary64 and counted fragile when its error interval reaches B32). eps = 0 with
 * u = 0 or v = 0 makes 0/0: NaN in float32 (comparisons false, invalid) and undefined
 * exactly: the truth calls it invalid too. */
#include <math.h>
#include <gmp.h>
#include <mpfr.h>

#include "internal.h"
#include "truth/truth.h"

static const double ERR64 = 1e-14;

double fpr_truth_angle_b32(void)
{
    const double u = 0x1p-24, g20 = 20 * u / (1 - 20 * u);
    return (g20 + u) * (1 + 0x1p-20);
}

/* θ of the special set (Niven): returns n with c² = n/4 exactly and sets *csign to the
 * sign of cos θ; returns −1 for every other θ. fmod is exact. */
static int special_theta(double theta, int *csign)
{
    double t2 = fmod(2.0 * theta, 360.0);
    if (!isfinite(t2))
        return -1;
    if (t2 < 0)
        t2 += 360.0; /* exact: t2 is a multiple of 30 when it matters, else harmless */
    static const double ang[8] = {0, 60, 90, 120, 180, 240, 270, 300};
    static const int n4[8] = {4, 3, 2, 1, 0, 1, 2, 3}; /* 4·(1 + cos 2θ)/2 */
    for (int k = 0; k < 8; k++) {
        if (t2 == ang[k]) {
            double r = fmod(theta, 360.0);
            if (r < 0)
                r += 360.0;
            *csign = (r < 90 || r > 270) ? 1 : (r == 90 || r == 270) ? 0 : -1;
            return n4[k];
        }
    }
    return -1;
}

/* Interval [lo, hi] ∋ cos(θ°) at precision p (see the header comment); lo, hi, and the
 * temporaries must be initialised by the caller at precision ≥ p. */
static void cos_theta_interval(double theta, mpfr_prec_t p, mpfr_t lo, mpfr_t hi, mpfr_t x,
                               mpfr_t err)
{
    mpfr_set_prec(x, p);
    mpfr_set_prec(err, p);
    mpfr_set_prec(lo, p);
    mpfr_set_prec(hi, p);
    mpfr_const_pi(x, MPFR_RNDN);
    mpfr_mul_d(x, x, theta, MPFR_RNDN);
    mpfr_div_ui(x, x, 180, MPFR_RNDN);
    /* err = |x̂|·2^(3−p) + 2^−p, rounded up */
    mpfr_abs(err, x, MPFR_RNDU);
    mpfr_mul_2si(err, err, 3 - (long)p, MPFR_RNDU);
    mpfr_cos(x, x, MPFR_RNDN);
    mpfr_set_ui_2exp(lo, 1, -(mpfr_exp_t)p, MPFR_RNDU);
    mpfr_add(err, err, lo, MPFR_RNDU);
    mpfr_sub(lo, x, err, MPFR_RNDD);
    mpfr_add(hi, x, err, MPFR_RNDU);
}

/* Per-thread cache of outward-rounded binary64 bounds of cos θ for the prefilter. */
static _Thread_local double cache_theta = NAN, cache_lo, cache_hi;

static void cos_theta_f64_bounds(double theta, double *lo, double *hi)
{
    if (theta != cache_theta) {
        mpfr_t l, h, x, e;
        mpfr_inits2(128, l, h, x, e, (mpfr_ptr)0);
        cos_theta_interval(theta, 128, l, h, x, e);
        cache_lo = mpfr_get_d(l, MPFR_RNDD);
        cache_hi = mpfr_get_d(h, MPFR_RNDU);
        mpfr_clears(l, h, x, e, (mpfr_ptr)0);
        cache_theta = theta;
    }
    *lo = cache_lo;
    *hi = cache_hi;
}

static void set_scaled(mpz_t z, double v, int scale)
{
    mpz_set_d(z, ldexp(v, scale)); /* exact: an integer below 2^300 held in a double */
}

int fpr_truth_angle_exact_mp(const float xa[3], const float xb[3], const float xc[3],
                             double eps, double theta_deg)
{
    float ef = fpr_eps_f32(eps);
    mpz_t U, V, P, A, B, t;
    mpz_inits(U, V, P, A, B, t, (mpz_ptr)0);
    set_scaled(A, (double)ef, 298);
    mpz_set(B, A);
    mpz_set_ui(P, 0);
    for (int k = 0; k < 3; k++) {
        set_scaled(U, (double)xa[k], 149);
        set_scaled(t, (double)xb[k], 149);
        mpz_sub(U, U, t);
        set_scaled(V, (double)xc[k], 149);
        mpz_sub(V, V, t);
        mpz_addmul(P, U, V);
        mpz_addmul(A, U, U);
        mpz_addmul(B, V, V);
    }
    int valid = 0;
    if (mpz_sgn(A) > 0 && mpz_sgn(B) > 0) { /* else 0/0 or sqrt of a negative: invalid */
        mpz_mul(A, A, B); /* M */
        mpz_mul(P, P, P); /* N */
        int csign = 0;
        int n4 = special_theta(theta_deg, &csign);
        if (n4 >= 0) {
            if (csign > 0) {
                mpz_mul_ui(A, A, (unsigned long)n4);
                mpz_mul_2exp(P, P, 2);
                valid = mpz_cmp(A, P) > 0;
            }
        } else {
            mpfr_t lo, hi, x, e;
            mpfr_inits2(64, lo, hi, x, e, (mpfr_ptr)0);
            for (mpfr_prec_t p = 64;; p *= 2) {
                cos_theta_interval(theta_deg, p, lo, hi, x, e);
                if (mpfr_sgn(hi) < 0 || mpfr_zero_p(hi)) { /* c ≤ 0: never valid */
                    valid = 0;
                    break;
                }
                if (mpfr_sgn(lo) <= 0)
                    continue; /* sign of c not settled yet (c ≠ 0 here) */
                /* c² ∈ [lo², hi²]: compare lo²·M and hi²·M with N */
                mpfr_set_prec(e, p);
                mpfr_sqr(e, lo, MPFR_RNDD);
                mpfr_mul_z(e, e, A, MPFR_RNDD);
                if (mpfr_cmp_z(e, P) > 0) {
                    valid = 1;
                    break;
                }
                mpfr_sqr(e, hi, MPFR_RNDU);
                mpfr_mul_z(e, e, A, MPFR_RNDU);
                if (mpfr_cmp_z(e, P) <= 0) {
                    valid = 0;
                    break;
                }
            }
            mpfr_clears(lo, hi, x, e, (mpfr_ptr)0);
        }
    }
    mpz_clears(U, V, P, A, B, t, (mpz_ptr)0);
    return valid;
}

int fpr_angle_valid_exact(const float xa[3], const float xb[3], const float xc[3], double eps,
                          double theta_deg, int *fragile)
{
    double e = (double)fpr_eps_f32(eps);
    double u[3], v[3];
    for (int k = 0; k < 3; k++) {
        u[k] = (double)xa[k] - (double)xb[k];
        v[k] = (double)xc[k] - (double)xb[k];
    }
    double uv = (u[0] * v[0] + u[1] * v[1]) + u[2] * v[2];
    double uu = (u[0] * u[0] + u[1] * u[1]) + u[2] * u[2];
    double vv = (v[0] * v[0] + v[1] * v[1]) + v[2] * v[2];
    double cs = uv / (sqrt(e + uu) * sqrt(e + vv));
    double clo, chi;
    cos_theta_f64_bounds(theta_deg, &clo, &chi);
    int valid = -1;
    if (e > 0 && isfinite(cs)) {
        double a = fabs(cs);
        if (chi <= 0)
            valid = 0;
        else if (a + ERR64 < clo)
            valid = 1;
        else if (a - ERR64 >= chi)
            valid = 0;
    }
    if (valid < 0)
        valid = fpr_truth_angle_exact_mp(xa, xb, xc, eps, theta_deg);
    if (fragile) {
        int f32 = fpr_angle_valid_f32(xa, xb, xc, eps, theta_deg);
        int near = 1; /* non-finite binary64 cosine (eps = 0 corner): call it fragile */
        if (isfinite(cs)) {
            /* smallest possible exact gap to ±c given the errors of cs and of c */
            double g1 = fabs(cs - clo), g2 = fabs(cs - chi);
            double g3 = fabs(cs + clo), g4 = fabs(cs + chi);
            double g = fmin(fmin(g1, g2), fmin(g3, g4));
            int straddles = (cs >= clo && cs <= chi) || (-cs >= clo && -cs <= chi);
            near = straddles || g - ERR64 <= fpr_truth_angle_b32();
        }
        *fragile = (f32 != valid) || near;
    }
    return valid;
}
