/* exact.c — exact squared distances of float32 points with GMP, for the study's
 * decisions on specific pairs (tie groups, true gaps, error statistics).
 * A float32 is m·2^e with e ≥ −149, so x·2^149 is an integer; D² scaled by 2^298 is
 * then an exact mpz. Only pairs the comparison asks about are computed. */
#include <gmp.h>
#include <math.h>
#include <mpfr.h>

#include "study/study.h"

struct fpr_exact {
    mpz_t a, b, d, s1, s2;
    mpfr_t f1, f2;
};

fpr_exact *fpr_exact_new(void)
{
    fpr_exact *e = fpr_calloc(1, sizeof *e);
    if (!e)
        return NULL;
    mpz_inits(e->a, e->b, e->d, e->s1, e->s2, NULL);
    mpfr_init2(e->f1, 640); /* exact: scaled D² < 2^(2·(128+149)+2) */
    mpfr_init2(e->f2, 64);
    return e;
}

void fpr_exact_free(fpr_exact *e)
{
    if (!e)
        return;
    mpz_clears(e->a, e->b, e->d, e->s1, e->s2, NULL);
    mpfr_clears(e->f1, e->f2, NULL);
    free(e);
}

/* out = D²(p, q)·2^298, exact. */
static void d2z(fpr_exact *e, mpz_t out, const float p[3], const float q[3])
{
    mpz_set_ui(out, 0);
    for (int k = 0; k < 3; k++) {
        /* exact: ldexp only moves the exponent of a float32 value held in a double */
        mpz_set_d(e->a, ldexp((double)p[k], 149));
        mpz_set_d(e->b, ldexp((double)q[k], 149));
        mpz_sub(e->d, e->a, e->b);
        mpz_addmul(out, e->d, e->d);
    }
}

int fpr_exact_cmp(fpr_exact *e, const float p[3], const float q1[3], const float q2[3])
{
    d2z(e, e->s1, p, q1);
    d2z(e, e->s2, p, q2);
    int c = mpz_cmp(e->s1, e->s2);
    return (c > 0) - (c < 0);
}

double fpr_exact_gap(fpr_exact *e, const float p[3], const float q1[3], const float q2[3])
{
    d2z(e, e->s1, p, q1);
    d2z(e, e->s2, p, q2);
    mpz_sub(e->s2, e->s2, e->s1);
    mpfr_set_z_2exp(e->f2, e->s2, -298, MPFR_RNDN);
    return mpfr_get_d(e->f2, MPFR_RNDN);
}

double fpr_exact_err(fpr_exact *e, const float p[3], const float q[3], double d2hat,
                     double *d2_out)
{
    d2z(e, e->s1, p, q);
    mpfr_set_z_2exp(e->f1, e->s1, -298, MPFR_RNDN); /* exact at 640 bits */
    if (d2_out)
        *d2_out = mpfr_get_d(e->f1, MPFR_RNDN);
    if (!isfinite(d2hat))
        return INFINITY;
    mpfr_sub_d(e->f2, e->f1, d2hat, MPFR_RNDN); /* one rounding to 64 bits */
    return fabs(mpfr_get_d(e->f2, MPFR_RNDN));
}
