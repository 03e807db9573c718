/* test_exact.c — the study's exact D² (src/study/exact.c): its 128-bit fast path gives
 * the GMP path's bits for every comparison, gap and error, including where the GMP path
 * rounds twice (64 bits, then 53) and a single rounding would differ; inputs outside the
 * fast path's range (tiny, far-apart exponents, not finite) still get GMP's answer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gmp.h>
#include <mpfr.h>

#include "testutil.h"
#include "study/study.h"

/* A float32 of random sign and mantissa with exponent in [elo, ehi] (0 sometimes). */
static float rnd_float(tu_rng *r, int elo, int ehi)
{
    uint64_t u = tu_next(r);
    if ((u & 63) == 0)
        return 0.0f;
    int e = elo + (int)((u >> 8) % (uint64_t)(ehi - elo + 1));
    float m = 1.0f + (float)((u >> 32) & 0x7fffff) * 0x1p-23f;
    float f = ldexpf(m, e);
    return (u >> 6) & 1 ? -f : f;
}

static int same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

/* Exact D²(p, q) − d2hat rounded once to double (what a single rounding would give). */
static double single_round(const float p[3], const float q[3], double d2hat)
{
    mpfr_t s, t;
    mpfr_inits2(2000, s, t, (mpfr_ptr)0);
    mpfr_set_ui(s, 0, MPFR_RNDN);
    for (int k = 0; k < 3; k++) {
        mpfr_set_flt(t, p[k], MPFR_RNDN);
        mpfr_sub_d(t, t, (double)q[k], MPFR_RNDN); /* exact at 2000 bits */
        mpfr_sqr(t, t, MPFR_RNDN);
        mpfr_add(s, s, t, MPFR_RNDN);
    }
    mpfr_sub_d(s, s, d2hat, MPFR_RNDN);
    double r = fabs(mpfr_get_d(s, MPFR_RNDN));
    mpfr_clears(s, t, (mpfr_ptr)0);
    return r;
}

typedef struct tally {
    long n, double_round_differs, row_fast;
} tally;

/* Every query on (p, q1, q2) through both paths, bit for bit. */
static void check_both(fpr_exact *e, const float p[3], const float q1[3], const float q2[3],
                       const float q3[3], double d2hat, tally *ty)
{
    fpr_exact_test_force_gmp(1);
    int c_g = fpr_exact_cmp(e, p, q1, q2);
    double g_g = fpr_exact_gap(e, p, q1, q2), d2_g = NAN;
    double e_g = fpr_exact_err(e, p, q1, d2hat, &d2_g);
    fpr_exact_test_force_gmp(0);
    int c_f = fpr_exact_cmp(e, p, q1, q2);
    double g_f = fpr_exact_gap(e, p, q1, q2), d2_f = NAN;
    double e_f = fpr_exact_err(e, p, q1, d2hat, &d2_f);
    if (c_g != c_f || !same_bits(g_g, g_f) || !same_bits(e_g, e_f) || !same_bits(d2_g, d2_f)) {
        fprintf(stderr,
                "p=(%a %a %a) q1=(%a %a %a) q2=(%a %a %a) d2hat=%a\n"
                " cmp %d/%d gap %a/%a err %a/%a d2 %a/%a (gmp/fast)\n",
                p[0], p[1], p[2], q1[0], q1[1], q1[2], q2[0], q2[1], q2[2], d2hat, c_g, c_f,
                g_g, g_f, e_g, e_f, d2_g, d2_f);
        fail();
    }
    /* the row of p (q1, q2 among others, p itself too): the same answers */
    const float *qs[4] = {q3, q1, p, q2};
    int64_t f0 = fpr_exact_fast_calls(e);
    assert_int_equal(fpr_exact_row_set(e, p, qs, 4), 0);
    int c_r = fpr_exact_row_cmp(e, 1, 3);
    double g_r = fpr_exact_row_gap(e, 1, 3), d2_r = NAN;
    double e_r = fpr_exact_row_err(e, 1, d2hat, &d2_r);
    ty->row_fast += fpr_exact_fast_calls(e) - f0 == 3;
    if (c_g != c_r || !same_bits(g_g, g_r) || !same_bits(e_g, e_r) || !same_bits(d2_g, d2_r)) {
        fprintf(stderr, "row: cmp %d/%d gap %a/%a err %a/%a d2 %a/%a (gmp/row)\n", c_g, c_r,
                g_g, g_r, e_g, e_r, d2_g, d2_r);
        fail();
    }
    ty->n++;
    if (isfinite(d2hat) && !same_bits(single_round(p, q1, d2hat), e_g))
        ty->double_round_differs++;
}

static void test_fast_equals_gmp(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(20261201)};
    fpr_exact *e = fpr_exact_new();
    assert_non_null(e);
    tally ty = {0, 0, 0};
    /* exponent ranges: one scale, mixed within the fast path's 37, beyond it, tiny */
    static const int ranges[][2] = {{0, 10}, {-5, 5}, {-27, 10}, {-40, 12}, {-70, -50},
                                    {-149, 10}, {100, 127}};
    for (size_t g = 0; g < sizeof ranges / sizeof ranges[0]; g++)
        for (int it = 0; it < 20000; it++) {
            float p[3], q1[3], q2[3], q3[3];
            for (int k = 0; k < 3; k++) {
                q3[k] = rnd_float(&r, ranges[g][0], ranges[g][1]);
                p[k] = rnd_float(&r, ranges[g][0], ranges[g][1]);
                q1[k] = rnd_float(&r, ranges[g][0], ranges[g][1]);
                q2[k] = it & 1 ? q1[k] : rnd_float(&r, ranges[g][0], ranges[g][1]);
            }
            if (it % 7 == 0) /* neighbours and duplicates: ties and tiny gaps */
                for (int k = 0; k < 3; k++)
                    q2[k] = nextafterf(q1[k], (float)(it % 3) - 1.0f);
            double d2 = 0;
            for (int k = 0; k < 3; k++)
                d2 += ((double)p[k] - q1[k]) * ((double)p[k] - q1[k]);
            double d2hat;
            switch (it % 6) {
            case 0: d2hat = d2; break;
            case 1: d2hat = d2 * (1 + (tu_uniform(&r) - 0.5) * 0x1p-20); break;
            case 2: d2hat = d2 * (1 + (tu_uniform(&r) - 0.5) * 0x1p-8); break;
            case 3: d2hat = -d2 * tu_uniform(&r); break;
            case 4: d2hat = it % 4 ? 0.0 : (it % 8 ? INFINITY : NAN); break;
            default: d2hat = ldexp(tu_uniform(&r), (int)(tu_next(&r) % 200) - 100); break;
            }
            check_both(e, p, q1, q2, q3, d2hat, &ty);
        }
    long fast = (long)fpr_exact_fast_calls(e);
    printf("exact: %ld inputs, %ld fast-path calls, %ld where one rounding would differ, "
           "%ld rows answered by the fast path\n", ty.n, fast, ty.double_round_differs,
           ty.row_fast);
    assert_true(ty.row_fast > ty.n / 4);
    /* the fast path answered most of them, and the double rounding was exercised */
    assert_true(fast > ty.n);
    assert_true(ty.double_round_differs > 0);
    fpr_exact_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fast_equals_gmp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
