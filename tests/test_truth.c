/* test_truth.c — the exact ground truth (src/truth/): the exact angle decision, the
 * filtered exact top-3 against brute-force GMP, ties, near-ties, far coordinates, and
 * the truth extras through the driver and the frames file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
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

/* ------------------------------------------------------------------ search */

/* A chain view over owned arrays. Atom indices are 2·i + 1 (ascending, not the
 * positions) so that a mix-up of positions and indices shows. */
typedef struct chain {
    int64_t n;
    float *x, *y, *z;
    int32_t *idx;
    fpr_chain_view v;
} chain;

static chain *chain_new(int64_t n)
{
    chain *c = calloc(1, sizeof *c);
    c->n = n;
    c->x = calloc((size_t)n + 1, sizeof(float));
    c->y = calloc((size_t)n + 1, sizeof(float));
    c->z = calloc((size_t)n + 1, sizeof(float));
    c->idx = calloc((size_t)n + 1, sizeof(int32_t));
    for (int64_t i = 0; i < n; i++)
        c->idx[i] = (int32_t)(2 * i + 1);
    c->v.n = n;
    c->v.idx = c->idx;
    c->v.x = c->x;
    c->v.y = c->y;
    c->v.z = c->z;
    c->v.eps = 1e-8;
    return c;
}

static void chain_free(chain *c)
{
    free(c->x);
    free(c->y);
    free(c->z);
    free(c->idx);
    free(c);
}

static void chain_set(chain *c, int64_t i, float x, float y, float z)
{
    c->x[i] = x;
    c->y[i] = y;
    c->z[i] = z;
}

static int same_double(double a, double b)
{
    return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

/* Every row of the chain: filtered truth (int128 path and forced GMP path) against
 * brute force, field by field, bit for bit. Returns the number of rows checked. */
static int64_t check_chain(const chain *c, const char *what, uint64_t seed)
{
    int64_t n = c->n;
    int64_t *q = calloc((size_t)n, sizeof *q);
    fpr_top3 *t = calloc((size_t)n, sizeof *t), *tm = calloc((size_t)n, sizeof *tm);
    fpr_row_extra *e = calloc((size_t)n, sizeof *e), *em = calloc((size_t)n, sizeof *em);
    for (int64_t i = 0; i < n; i++)
        q[i] = i;
    assert_int_equal(fpr_truth_block_top3(&c->v, q, n, t, e, 0), FPR_OK);
    assert_int_equal(fpr_truth_block_top3(&c->v, q, n, tm, em, 1), FPR_OK);
    for (int64_t i = 0; i < n; i++) {
        fpr_top3 bt;
        fpr_row_extra be;
        assert_int_equal(fpr_truth_row_brute(&c->v, i, &bt, &be), FPR_OK);
        for (int pass = 0; pass < 2; pass++) {
            const fpr_top3 *a = pass ? &tm[i] : &t[i];
            const fpr_row_extra *ae = pass ? &em[i] : &e[i];
            int ok = a->n == bt.n && ae->tie1 == be.tie1 && ae->tie2 == be.tie2 &&
                     same_double(ae->margin1, be.margin1) &&
                     same_double(ae->margin2, be.margin2);
            for (int k = 0; k < bt.n; k++)
                ok = ok && a->idx[k] == bt.idx[k] && same_double(a->val[k], bt.val[k]);
            if (!ok)
                fail_msg("%s (seed %llu), row %lld, %s path: got n=%d idx %d %d %d val %a %a %a "
                         "tie %d %d margin %a %a; brute n=%d idx %d %d %d val %a %a %a tie %d %d "
                         "margin %a %a",
                         what, (unsigned long long)seed, (long long)i, pass ? "GMP" : "int128",
                         a->n, a->idx[0], a->idx[1], a->idx[2], a->val[0], a->val[1], a->val[2],
                         ae->tie1, ae->tie2, ae->margin1, ae->margin2, bt.n, bt.idx[0],
                         bt.idx[1], bt.idx[2], bt.val[0], bt.val[1], bt.val[2], be.tie1,
                         be.tie2, be.margin1, be.margin2);
        }
    }
    free(q);
    free(t);
    free(tm);
    free(e);
    free(em);
    return n;
}

/* Row r of the filtered truth (int128 path), with its extras. */
static void truth_row(const chain *c, int64_t r, fpr_top3 *t, fpr_row_extra *e)
{
    assert_int_equal(fpr_truth_block_top3(&c->v, &r, 1, t, e, 0), FPR_OK);
}

/* Integer lattice: an interior point has 6 neighbours at D² = 1, so both picks lie in
 * one tie group of 6, and the tie rule takes the smallest atom indices. Translated to
 * 9999 + k/8 (exact in float32) the ties stay exact. */
static void test_ties_lattice(void **state)
{
    (void)state;
    for (int far = 0; far < 2; far++) {
        chain *c = chain_new(125);
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < 5; j++)
                for (int k = 0; k < 5; k++) {
                    float o = far ? 9999.0f : 0.0f, h = far ? 0.125f : 1.0f;
                    chain_set(c, i * 25 + j * 5 + k, o + h * (float)i, o - h * (float)j,
                              o + h * (float)k);
                }
        int64_t centre = 2 * 25 + 2 * 5 + 2;
        fpr_top3 t;
        fpr_row_extra e;
        truth_row(c, centre, &t, &e);
        assert_int_equal(t.n, 3);
        assert_int_equal(t.idx[0], c->idx[centre]);
        assert_int_equal(e.tie1, 6);
        assert_int_equal(e.tie2, 6);
        /* the 6 neighbours in position order: ±25, ±5, ±1; smallest two are −25, −5 */
        assert_int_equal(t.idx[1], c->idx[centre - 25]);
        assert_int_equal(t.idx[2], c->idx[centre - 5]);
        double h2 = far ? 0.015625 : 1.0;
        assert_true(t.val[1] == h2 && t.val[2] == h2);
        assert_true(e.margin1 == 0.0);
        assert_true(e.margin2 == 0.0);
        /* a corner: 3 neighbours at h², then 3 face diagonals at 2h² */
        truth_row(c, 0, &t, &e);
        assert_int_equal(e.tie1, 3);
        assert_int_equal(e.tie2, 3);
        assert_true(e.margin2 == 0.0);
        check_chain(c, far ? "lattice at 9999" : "lattice", 0);
        chain_free(c);
    }
}

/* A symmetric molecule: a centre and the 4 vertices of a regular tetrahedron (alternate
 * cube corners). From the centre the 4 vertices tie at D² = 3; from a vertex the
 * centre (D² = 3) is alone and the other 3 vertices tie at D² = 8. */
static void test_ties_tetrahedron(void **state)
{
    (void)state;
    chain *c = chain_new(5);
    chain_set(c, 0, 1, 1, 1);
    chain_set(c, 1, 1, -1, -1);
    chain_set(c, 2, 0, 0, 0);
    chain_set(c, 3, -1, 1, -1);
    chain_set(c, 4, -1, -1, 1);
    fpr_top3 t;
    fpr_row_extra e;
    truth_row(c, 2, &t, &e);
    assert_int_equal(e.tie1, 4);
    assert_int_equal(e.tie2, 4);
    assert_int_equal(t.idx[1], c->idx[0]);
    assert_int_equal(t.idx[2], c->idx[1]);
    assert_true(e.margin1 == 0.0 && e.margin2 == 0.0);
    truth_row(c, 0, &t, &e);
    assert_int_equal(t.idx[1], c->idx[2]);
    assert_int_equal(e.tie1, 1);
    assert_int_equal(e.tie2, 3);
    assert_int_equal(t.idx[2], c->idx[1]);
    assert_true(t.val[1] == 3.0 && t.val[2] == 8.0);
    assert_true(e.margin1 == 5.0 / 8.0);
    assert_true(e.margin2 == 0.0);
    check_chain(c, "tetrahedron", 0);
    chain_free(c);
}

/* Duplicate atoms tie with self at D² = 0: the tie rule ranks the smaller atom index
 * first, so the row of the second copy has its twin at rank 0 and itself at rank 1. */
static void test_ties_duplicates(void **state)
{
    (void)state;
    chain *c = chain_new(6);
    chain_set(c, 0, 5, 5, 5);
    chain_set(c, 1, 1, 2, 3);
    chain_set(c, 2, 1, 2, 3);
    chain_set(c, 3, 1, 2, 3);
    chain_set(c, 4, 1, 2, 4);
    chain_set(c, 5, 9, 9, 9);
    fpr_top3 t;
    fpr_row_extra e;
    truth_row(c, 3, &t, &e);
    assert_int_equal(t.idx[0], c->idx[1]);
    assert_int_equal(t.idx[1], c->idx[2]);
    assert_int_equal(t.idx[2], c->idx[3]);
    assert_int_equal(e.tie1, 3);
    assert_int_equal(e.tie2, 3);
    assert_true(isnan(e.margin1)); /* 0/0 */
    assert_true(e.margin2 == 1.0);
    truth_row(c, 4, &t, &e);
    assert_int_equal(t.idx[0], c->idx[4]);
    assert_int_equal(t.idx[1], c->idx[1]);
    assert_int_equal(e.tie1, 3);
    check_chain(c, "duplicates", 0);
    chain_free(c);
    /* every atom identical */
    c = chain_new(7);
    for (int i = 0; i < 7; i++)
        chain_set(c, i, -9999.0f, 9999.0f, 0.5f);
    truth_row(c, 6, &t, &e);
    assert_int_equal(t.idx[0], c->idx[0]);
    assert_int_equal(t.idx[2], c->idx[2]);
    assert_int_equal(e.tie1, 7);
    check_chain(c, "all identical", 0);
    chain_free(c);
}

/* The float32 reference formula of exact_diff, for one pair. */
static float d_f32(float qx, float qy, float qz, float x, float y, float z)
{
    float e = (float)1e-8;
    float dx = qx - x, dy = qy - y, dz = qz - z;
    float t0 = e + dx * dx, t1 = e + dy * dy, t2 = e + dz * dz;
    return sqrtf((t0 + t1) + t2);
}

/* Near-ties one float32 ulp apart: b = (0.75, y, 0) with y stepped by one ulp around
 * sqrt(0.4375), a = (1, 0, 0), query at 0. Where float32 computes equal distances the
 * tie rule picks the smaller index (b, placed first): wrong whenever b is truly
 * farther; the truth ranks by the exact D² = 0.5625 + y². */
static void test_near_ties_ulp(void **state)
{
    (void)state;
    float y0 = sqrtf(0.4375f);
    int wrong_in_f32 = 0, checked = 0;
    for (int s = -4; s <= 4; s++) {
        float y = y0;
        for (int k = 0; k < (s < 0 ? -s : s); k++)
            y = nextafterf(y, s < 0 ? 0.0f : 1.0f);
        chain *c = chain_new(5);
        chain_set(c, 0, 0, 0, 0);
        chain_set(c, 1, 0.75f, y, 0);
        chain_set(c, 2, 1, 0, 0);
        chain_set(c, 3, 3, 3, 3);
        chain_set(c, 4, -3, 3, 3);
        /* exact comparison of D²_b = 0.5625 + y² with 1, in long double (64-bit
         * mantissa holds y² of a 24-bit y exactly, and 0.5625 + y² too) */
        long double d2b = 0.5625L + (long double)y * (long double)y;
        int b_closer = d2b < 1.0L, exact_tie = d2b == 1.0L;
        fpr_top3 t;
        fpr_row_extra e;
        truth_row(c, 0, &t, &e);
        if (exact_tie) {
            assert_int_equal(e.tie1, 2);
        } else {
            assert_int_equal(e.tie1, 1);
            assert_int_equal(t.idx[1], c->idx[b_closer ? 1 : 2]);
            assert_int_equal(t.idx[2], c->idx[b_closer ? 2 : 1]);
            assert_true(e.margin1 > 0 && e.margin1 < 1e-6);
        }
        float fb = d_f32(0, 0, 0, 0.75f, y, 0), fa = d_f32(0, 0, 0, 1, 0, 0);
        if (fb == fa && !b_closer && !exact_tie)
            wrong_in_f32++; /* float32 ties, picks b; b is truly farther */
        checked++;
        check_chain(c, "near tie", 0);
        chain_free(c);
    }
    assert_int_equal(checked, 9);
    /* the point of the test: at least one of these float32 cannot rank */
    assert_true(wrong_in_f32 > 0);
}

/* Random clusters (thousands of rows): uniform boxes, near the origin and at ±1000 and
 * ±9999 Å, quantised grids (many exact ties), ulp-jittered copies (near-ties and
 * duplicates), tiny coordinates beside large ones (forces the GMP fallback), and
 * chains of 1–3 atoms. Filter-then-exact must equal brute force on every row. */
static void test_filter_equals_brute_force(void **state)
{
    (void)state;
    uint64_t seed = tu_seed(20240601);
    tu_rng r = {seed};
    int64_t rows = 0;
    for (int it = 0; it < 72; it++) {
        int kind = it % 8;
        int64_t n = kind == 7 ? 1 + it % 3 : 40 + (int64_t)(tu_uniform(&r) * 80);
        chain *c = chain_new(n);
        float off = (kind == 1) ? 1000.0f : (kind == 2) ? -9999.0f : (kind == 3) ? 9999.0f : 0.0f;
        for (int64_t i = 0; i < n; i++) {
            float p[3];
            for (int k = 0; k < 3; k++) {
                switch (kind) {
                case 4: /* grid: quarter-ångström lattice, lots of exact ties */
                    p[k] = 0.25f * (float)(int)(tu_uniform(&r) * 12);
                    break;
                case 5: /* ulp-jittered copies of a few points, near 0 or at ±9999 */
                    p[k] = (float)(1 + (int)(tu_uniform(&r) * 3)) * 1.3f;
                    if (it % 16 == 13)
                        p[k] += (k == 1) ? -9999.0f : 9999.0f;
                    for (int u = (int)(tu_uniform(&r) * 3); u > 0; u--)
                        p[k] = nextafterf(p[k], 1e5f);
                    break;
                case 6: /* tiny beside large: not integral at the int128 scale */
                    p[k] = (tu_uniform(&r) < 0.3) ? tu_uniform_f(&r, -1e-30f, 1e-30f)
                                                  : tu_uniform_f(&r, -1000.0f, 1000.0f);
                    break;
                default:
                    p[k] = off + tu_uniform_f(&r, -8.0f, 8.0f);
                }
            }
            if (kind == 0 && i % 10 == 9) /* duplicates */
                memcpy(p, (float[3]){c->x[i - 1], c->y[i - 1], c->z[i - 1]}, sizeof p);
            chain_set(c, i, p[0], p[1], p[2]);
        }
        char what[64];
        snprintf(what, sizeof what, "random case %d (kind %d)", it, kind);
        rows += check_chain(c, what, seed);
        chain_free(c);
    }
    assert_true(rows >= 3000);
    /* a wide chain spread over ±9999 (PDB range) */
    chain *c = chain_new(600);
    for (int64_t i = 0; i < 600; i++)
        chain_set(c, i, tu_uniform_f(&r, -9999.0f, 9999.0f), tu_uniform_f(&r, -9999.0f, 9999.0f),
                  tu_uniform_f(&r, -9999.0f, 9999.0f));
    check_chain(c, "spread over +-9999", seed);
    chain_free(c);
}

/* Many duplicate atoms all survive the filter (their D² are equal): the exact stage
 * must still agree with brute force. (That it stays linear in the survivors is a speed
 * property: `make bench` measures speed; unit tests never time anything.) */
static void test_many_duplicates(void **state)
{
    (void)state;
    const int64_t n = 3000;
    chain *c = chain_new(n);
    tu_rng r = {tu_seed(20240601) ^ 0xd0b};
    for (int64_t i = 0; i < n; i++) {
        if (i % 4 == 3)
            chain_set(c, i, tu_uniform_f(&r, -20, 20), tu_uniform_f(&r, -20, 20),
                      tu_uniform_f(&r, -20, 20));
        else
            chain_set(c, i, 1.5f, -2.25f, 3.0f);
    }
    int64_t rows[] = {0, 1, 2, 3, 7, 1500, 1501, 2998, 2999};
    int64_t nr = (int64_t)(sizeof rows / sizeof rows[0]);
    fpr_top3 t[9], bt;
    fpr_row_extra e[9], be;
    assert_int_equal(fpr_truth_block_top3(&c->v, rows, nr, t, e, 0), FPR_OK);
    for (int64_t i = 0; i < nr; i++) {
        assert_int_equal(fpr_truth_row_brute(&c->v, rows[i], &bt, &be), FPR_OK);
        assert_int_equal(t[i].idx[0], bt.idx[0]);
        assert_int_equal(t[i].idx[1], bt.idx[1]);
        assert_int_equal(t[i].idx[2], bt.idx[2]);
        assert_int_equal(e[i].tie1, be.tie1);
        assert_int_equal(e[i].tie2, be.tie2);
        assert_true(same_double(e[i].margin1, be.margin1));
        assert_true(same_double(e[i].margin2, be.margin2));
    }
    assert_int_equal(e[0].tie1, 2250); /* every copy ties at D² = 0 */
    chain_free(c);
}

/* Several coincident groups (hundreds of atoms at one point, interleaved in index
 * order, one of them at a distance from other rows): the truth keeps 4 members per group
 * and counts the rest (issue 13: it was quadratic in the group size), and must still
 * agree with brute force in every field, on the filter path and through the driver's
 * grid search (candidates in cell order). */
static void test_coincident_groups(void **state)
{
    (void)state;
    const int64_t n = 700;
    chain *c = chain_new(n);
    tu_rng r = {tu_seed(20240601) ^ 0xc01};
    for (int64_t i = 0; i < n; i++) {
        switch (i % 7) {
        case 0: case 3: case 5: chain_set(c, i, 0.0f, 0.0f, 0.0f); break;   /* 300 */
        case 1: case 4: chain_set(c, i, 2.0f, -0.0f, 0.0f); break;          /* 200 */
        case 2: chain_set(c, i, 0.0f, 3.0f, 1.5f); break;                    /* 100 */
        default:
            chain_set(c, i, tu_uniform_f(&r, -6, 6), tu_uniform_f(&r, -6, 6),
                      tu_uniform_f(&r, -6, 6));
        }
    }
    check_chain(c, "coincident groups", 0);
    fpr_top3 t;
    fpr_row_extra e;
    truth_row(c, 0, &t, &e);
    assert_int_equal(e.tie1, 300); /* every copy at the origin ties at D² = 0 */
    chain_free(c);

    /* the same through the driver: grid and brute search agree bit for bit */
    const int64_t na = 600;
    fpr_case *k = tu_atomized_case(1, na, 1);
    for (int64_t i = 0; i < na; i++) {
        float v = i % 3 == 0 ? 0.0f : i % 3 == 1 ? 1.0f : (float)(i % 17);
        k->x[i * 3] = v;
        k->x[i * 3 + 1] = i % 5 == 0 ? 0.0f : 0.5f;
        k->x[i * 3 + 2] = 0.0f;
    }
    const fpr_backend *tb = fpr_backend_find("truth");
    assert_non_null(tb);
    fpr_frames *fg = NULL, *fb = NULL;
    fpr_run_opts ro;
    fpr_run_opts_init(&ro);
    ro.search = FPR_SEARCH_GRID;
    assert_int_equal(fpr_frames_compute(k, tb, &ro, &fg), FPR_OK);
    ro.search = FPR_SEARCH_BRUTE;
    assert_int_equal(fpr_frames_compute(k, tb, &ro, &fb), FPR_OK);
    for (int64_t i = 0; i < na; i++) {
        assert_int_equal(fg->a_index[i], fb->a_index[i]);
        assert_int_equal(fg->c_index[i], fb->c_index[i]);
        assert_int_equal(fg->tie1[i], fb->tie1[i]);
        assert_int_equal(fg->tie2[i], fb->tie2[i]);
        assert_true(same_double(fg->margin1[i], fb->margin1[i]));
        assert_true(same_double(fg->margin2[i], fb->margin2[i]));
    }
    fpr_frames_free(fg);
    fpr_frames_free(fb);
    fpr_case_free(k);
}

/* Through the driver and the frames file: the truth backend fills tie1, tie2, the
 * margins and the fragile flag for atomized tokens, and they survive write/read. */
static void test_truth_backend_frames(void **state)
{
    (void)state;
    fpr_case *c = tu_atomized_case(1, 6, 7);
    const float p[6][3] = {{0, 0, 0}, {1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {1000, 0, 0}, {0, 0, 0}};
    memcpy(c->x, p, sizeof p);
    fpr_frames *f = tu_run(c, "truth");
    assert_non_null(f->tie1);
    /* token 0: self and the duplicate 5 tie at 0; then 1, 2, 3 tie at D² = 1 */
    assert_int_equal(f->a_index[0], 5);
    assert_int_equal(f->c_index[0], 1);
    assert_int_equal(f->tie1[0], 2);
    assert_int_equal(f->tie2[0], 3);
    assert_true(f->margin2[0] == 0.0);
    const char *path = tu_tmp("truth_frames.h5");
    assert_int_equal(fpr_frames_write(f, path), FPR_OK);
    fpr_frames *g = NULL;
    assert_int_equal(fpr_frames_read(path, &g), FPR_OK);
    assert_non_null(g->tie1);
    for (int t = 0; t < 6; t++) {
        assert_int_equal(g->tie1[t], f->tie1[t]);
        assert_int_equal(g->tie2[t], f->tie2[t]);
        assert_true(same_double(g->margin1[t], f->margin1[t]));
        assert_true(same_double(g->margin2[t], f->margin2[t]));
        assert_int_equal(g->fragile_angle[t], f->fragile_angle[t]);
    }
    fpr_frames_free(g);
    fpr_frames_free(f);
    fpr_case_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ties_lattice),
        cmocka_unit_test(test_ties_tetrahedron),
        cmocka_unit_test(test_ties_duplicates),
        cmocka_unit_test(test_near_ties_ulp),
        cmocka_unit_test(test_filter_equals_brute_force),
        cmocka_unit_test(test_many_duplicates),
        cmocka_unit_test(test_coincident_groups),
        cmocka_unit_test(test_truth_backend_frames),
        cmocka_unit_test(test_angle_ulp_either_side_of_25),
        cmocka_unit_test(test_angle_exact_equality),
        cmocka_unit_test(test_angle_prefilter_matches_mp),
    };
    return cmocka_run_group_tests_name("truth", tests, NULL, NULL);
}
