/* test_truth.c — the exact ground truth (src/truth/): the exact angle decision. */
#include <math.h>
#include <string.h>
#include <mpfr.h>

#include "testutil.h"
#include "truth/truth.h"

/* ------------------------------------------------------------------ angle */

/* Exact decision for xa = (1,0,0), xb = 0, xc = (1,y,0): cos = 1/sqrt((1+e)(1+e+y²)),
 * decreasing in y: invalid (cos ≥ cos θ) for small y, valid beyond the threshold. */
static int angle_y(float y, double eps, double theta, int *fragile, int mp)
{
    const float xa[3] = {1, 0, 0}, xb[3] = {0, 0, 0}, xc[3] = {1, y, 0};
    if (mp)
        return fpr_truth_angle_exact_mp(xa, xb, xc, eps, theta);
    return fpr_angle_valid_exact(xa, xb, xc, eps, theta, fragile);
}

/* Independent check in MPFR at 300 bits of cos − cos θ for the configuration above. */
static double gap_ref(float y, double eps, double theta)
{
    mpfr_t a, b, c;
    mpfr_inits2(300, a, b, c, (mpfr_ptr)0);
    mpfr_set_flt(a, (float)eps, MPFR_RNDN);
    mpfr_add_ui(a, a, 1, MPFR_RNDN);            /* 1 + e */
    mpfr_set_flt(b, y, MPFR_RNDN);
    mpfr_sqr(b, b, MPFR_RNDN);
    mpfr_add(b, b, a, MPFR_RNDN);               /* 1 + e + y² */
    mpfr_mul(a, a, b, MPFR_RNDN);
    mpfr_rec_sqrt(a, a, MPFR_RNDN);             /* cos */
    mpfr_const_pi(c, MPFR_RNDN);
    mpfr_mul_d(c, c, theta, MPFR_RNDN);
    mpfr_div_ui(c, c, 180, MPFR_RNDN);
    mpfr_cos(c, c, MPFR_RNDN);
    mpfr_sub(a, a, c, MPFR_RNDN);
    double g = mpfr_get_d(a, MPFR_RNDN);
    mpfr_clears(a, b, c, (mpfr_ptr)0);
    return g;
}

/* One float32 ulp either side of the 25° bound: the exact decision flips exactly
 * there, both sides are flagged fragile, and the prefiltered path agrees with pure MPFR. */
static void test_angle_ulp_either_side_of_25(void **state)
{
    (void)state;
    const double eps = 1e-8, theta = 25.0;
    float lo = 0.3f, hi = 0.6f; /* tan 25° ≈ 0.466 */
    assert_int_equal(angle_y(lo, eps, theta, NULL, 1), 0);
    assert_int_equal(angle_y(hi, eps, theta, NULL, 1), 1);
    while (nextafterf(lo, hi) != hi) { /* bisect on the float32 bit patterns */
        uint32_t a, b;
        memcpy(&a, &lo, 4);
        memcpy(&b, &hi, 4);
        uint32_t m = a + (b - a) / 2;
        float y;
        memcpy(&y, &m, 4);
        if (angle_y(y, eps, theta, NULL, 1))
            hi = y;
        else
            lo = y;
    }
    /* lo is the last invalid float32, hi = lo + 1 ulp the first valid one */
    assert_true(gap_ref(lo, eps, theta) >= 0);
    assert_true(gap_ref(hi, eps, theta) < 0);
    int fr = 0;
    assert_int_equal(angle_y(lo, eps, theta, &fr, 0), 0);
    assert_int_equal(fr, 1);
    assert_int_equal(angle_y(hi, eps, theta, &fr, 0), 1);
    assert_int_equal(fr, 1);
    /* far from the bound: decided, not fragile */
    assert_int_equal(angle_y(0.1f, eps, theta, &fr, 0), 0);
    assert_int_equal(fr, 0);
    assert_int_equal(angle_y(1.0f, eps, theta, &fr, 0), 1);
    assert_int_equal(fr, 0);
    /* the same at the 155° bound: mirror xc */
    const float xa[3] = {1, 0, 0}, xb[3] = {0, 0, 0};
    float xl[3] = {-1, lo, 0}, xh[3] = {-1, hi, 0};
    assert_int_equal(fpr_angle_valid_exact(xa, xb, xl, eps, theta, &fr), 0);
    assert_int_equal(fr, 1);
    assert_int_equal(fpr_angle_valid_exact(xa, xb, xh, eps, theta, &fr), 1);
    assert_int_equal(fr, 1);
}

/* Exact equality is decided (Niven special angles): with eps = 0, u = (1,0,0) and
 * v = (1,1,0) make exactly 45°, so the strict test fails; one ulp wider passes. */
static void test_angle_exact_equality(void **state)
{
    (void)state;
    const float xa[3] = {1, 0, 0}, xb[3] = {0, 0, 0}, xc[3] = {1, 1, 0};
    float xw[3] = {1, nextafterf(1.0f, 2.0f), 0};
    float xn[3] = {1, nextafterf(1.0f, 0.0f), 0};
    int fr = 0;
    assert_int_equal(fpr_angle_valid_exact(xa, xb, xc, 0.0, 45.0, &fr), 0);
    assert_int_equal(fr, 1);
    assert_int_equal(fpr_truth_angle_exact_mp(xa, xb, xc, 0.0, 45.0), 0);
    assert_int_equal(fpr_truth_angle_exact_mp(xa, xb, xw, 0.0, 45.0), 1);
    assert_int_equal(fpr_truth_angle_exact_mp(xa, xb, xn, 0.0, 45.0), 0);
    /* 90° apart is exactly cos = 0: valid for θ = 60 (special), invalid for θ = 90 */
    const float xr[3] = {0, 1, 0};
    assert_int_equal(fpr_truth_angle_exact_mp(xa, xb, xr, 0.0, 60.0), 1);
    assert_int_equal(fpr_truth_angle_exact_mp(xa, xb, xr, 0.0, 90.0), 0);
    /* eps = 0 and a coincident atom: 0/0, invalid like PyTorch's NaN */
    assert_int_equal(fpr_angle_valid_exact(xa, xa, xc, 0.0, 25.0, &fr), 0);
    assert_int_equal(fr, 1);
}

/* The prefiltered decision equals pure MPFR on random triples, including far from the
 * origin and at tiny separations where eps dominates. */
static void test_angle_prefilter_matches_mp(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(20240601) ^ 0xa11e};
    for (int it = 0; it < 20000; it++) {
        float off = (it % 4 == 0) ? 0 : (it % 4 == 1) ? 1000.0f : (it % 4 == 2) ? -9999.0f : 0;
        float scale = (it % 4 == 3) ? 1e-4f : 2.0f;
        float xa[3], xb[3], xc[3];
        for (int k = 0; k < 3; k++) {
            xa[k] = off + tu_uniform_f(&r, -scale, scale);
            xb[k] = off + tu_uniform_f(&r, -scale, scale);
            xc[k] = off + tu_uniform_f(&r, -scale, scale);
        }
        int fr;
        int a = fpr_angle_valid_exact(xa, xb, xc, 1e-8, 25.0, &fr);
        int b = fpr_truth_angle_exact_mp(xa, xb, xc, 1e-8, 25.0);
        if (a != b)
            fail_msg("iteration %d: prefilter %d vs mp %d", it, a, b);
        if (a != fpr_angle_valid_f32(xa, xb, xc, 1e-8, 25.0))
            assert_int_equal(fr, 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_angle_ulp_either_side_of_25),
        cmocka_unit_test(test_angle_exact_equality),
        cmocka_unit_test(test_angle_prefilter_matches_mp),
    };
    return cmocka_run_group_tests_name("truth", tests, NULL, NULL);
}
