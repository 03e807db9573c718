/* test_backends.c — the conformance suite over every registered distance backend
 * (SPEC §3, §5; STYLE: MPFR's tgeneric, FFTW's verifier): no NaN, symmetry where the
 * arithmetic is symmetric, self ranked first where the declared bound forces it, and
 * the observed error |value_to_d2(v) − D²| never above the declared bound, D² exact
 * (GMP: float32 coordinates are dyadic, x·2^149 is an integer). Then the contracts:
 * chunked_fp32 ≡ exact_diff bit for bit under random block sizes that split tie groups;
 * matmul_comp picks like the exact truth except within a few float32 ulps of margin;
 * the driver's angle stage option for every backend.
 * Seed: FRAMEPREC_SEED (printed); the catalogue of hard cases is in make_points(). */
#include <float.h>
#include <gmp.h>
#include <math.h>
#include <mpfr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "backends/matmul_common.h"

static uint64_t g_seed;

/* ------------------------------------------------------------------ exact D² */
/* D² · 2^298 as an integer: x·2^149 is an integer for every float32 x. */
static void exact_d2(mpz_t out, const float a[3], const float b[3])
{
    mpz_t d, t;
    mpz_inits(d, t, NULL);
    mpz_set_ui(out, 0);
    for (int k = 0; k < 3; k++) {
        mpz_set_d(d, ldexp((double)a[k], 149));
        mpz_set_d(t, ldexp((double)b[k], 149));
        mpz_sub(d, d, t);
        mpz_addmul(out, d, d);
    }
    mpz_clears(d, t, NULL);
}

/* 1 when |computed − D²| ≤ bound, decided exactly (MPFR at 1400 bits holds the
 * difference of a binary64 and a 600-bit dyadic exactly). Stores the ratio. */
static int within_bound(const mpz_t d2s, double computed, double bound, double *ratio)
{
    mpfr_t e, c;
    mpfr_inits2(1400, e, c, (mpfr_ptr)0);
    mpfr_set_z_2exp(e, d2s, -298, MPFR_RNDN);
    mpfr_set_d(c, computed, MPFR_RNDN);
    mpfr_sub(e, c, e, MPFR_RNDN);
    mpfr_abs(e, e, MPFR_RNDN);
    int ok = mpfr_cmp_d(e, bound) <= 0;
    double ed = mpfr_get_d(e, MPFR_RNDU);
    *ratio = bound > 0 ? ed / bound : (ed > 0 ? INFINITY : 0);
    mpfr_clears(e, c, (mpfr_ptr)0);
    return ok;
}

/* ------------------------------------------------------------------ point sets */
enum { NPTS = 48 };
typedef struct pts {
    int64_t n;
    float x[NPTS], y[NPTS], z[NPTS];
    int32_t idx[NPTS];
    const char *what;
} pts;

static float next_up(float v, int k)
{
    for (int i = 0; i < k; i++)
        v = nextafterf(v, INFINITY);
    return v;
}

/* The catalogue of hard cases, each at translation `off` Å:
 * 0 random cloud (protein-like density, 1–6 Å spacing);
 * 1 exact ties: neighbours at ±dyadic offsets from a dyadic centre (equal exact D²);
 * 2 last-bit near-ties: neighbours whose coordinates differ by one float32 ulp;
 * 3 duplicate atoms: several atoms at identical coordinates;
 * 4 bond-length shell: all atoms at ~1.5 Å from atom 0 (small margins everywhere). */
static void make_points(tu_rng *r, int kind, double off, pts *p)
{
    static const char *const names[] = {"random", "exact ties", "last-bit near-ties",
                                        "duplicates", "bond shell"};
    p->n = NPTS;
    p->what = names[kind];
    float o = (float)off;
    for (int i = 0; i < NPTS; i++) {
        p->idx[i] = i;
        p->x[i] = o + tu_uniform_f(r, -8, 8);
        p->y[i] = o + tu_uniform_f(r, -8, 8);
        p->z[i] = o + tu_uniform_f(r, -8, 8);
    }
    if (kind == 1) {
        float c = o + 2.5f;
        for (int i = 0; i < NPTS; i++) {
            float dx = (float)(1 + (int)(tu_next(r) % 6)) * 0.25f; /* dyadic */
            float dy = (float)(int)(tu_next(r) % 3) * 0.5f;
            p->x[i] = c + ((i & 1) ? dx : -dx);
            p->y[i] = c + ((i & 2) ? dy : -dy);
            p->z[i] = c;
        }
        p->x[0] = p->y[0] = p->z[0] = c;
    } else if (kind == 2) {
        for (int i = 1; i < NPTS; i += 2) {
            p->x[i] = next_up(p->x[i - 1], 1 + (int)(tu_next(r) % 2));
            p->y[i] = p->y[i - 1];
            p->z[i] = p->z[i - 1];
        }
        /* mirrored near-ties around atom 0: equal up to the last bit */
        for (int i = 2; i < 8; i++) {
            float d = 1.5f + (float)i * 0x1p-20f;
            p->x[i] = p->x[0] + ((i & 1) ? d : -d);
            p->y[i] = p->y[0];
            p->z[i] = p->z[0];
        }
    } else if (kind == 3) {
        for (int i = 1; i < NPTS; i += 3) {
            p->x[i] = p->x[0];
            p->y[i] = p->y[0];
            p->z[i] = p->z[0];
        }
    } else if (kind == 4) {
        for (int i = 1; i < NPTS; i++) {
            double th = tu_uniform(r) * 3.14159, ph = tu_uniform(r) * 6.28318;
            double rr = 1.5 + 1e-6 * tu_uniform(r);
            p->x[i] = p->x[0] + (float)(rr * sin(th) * cos(ph));
            p->y[i] = p->y[0] + (float)(rr * sin(th) * sin(ph));
            p->z[i] = p->z[0] + (float)(rr * cos(th));
        }
    }
}

/* half the coordinate span: the tightest chain_absmax matmul_centered accepts */
static double half_span(const pts *p)
{
    const float *c[3] = {p->x, p->y, p->z};
    double h = 0;
    for (int k = 0; k < 3; k++) {
        float lo = c[k][0], hi = c[k][0];
        for (int64_t i = 1; i < p->n; i++) {
            lo = fminf(lo, c[k][i]);
            hi = fmaxf(hi, c[k][i]);
        }
        h = fmax(h, 0.5 * ((double)hi - (double)lo));
    }
    return h;
}

typedef struct view {
    fpr_chain_view cv;
    void *aux, *cfg, *scratch;
} view;

static void view_open(const fpr_backend *b, const char *params, pts *p, view *v)
{
    memset(v, 0, sizeof *v);
    v->cv.n = p->n;
    v->cv.idx = p->idx;
    v->cv.x = p->x;
    v->cv.y = p->y;
    v->cv.z = p->z;
    v->cv.chain = 1;
    v->cv.eps = 1e-8;
    if (b->configure)
        assert_int_equal(b->configure(b, params, &v->cfg), FPR_OK);
    if (b->chain_aux_bytes) {
        size_t nb = (b->chain_aux_bytes(b, p->n) + 63) & ~(size_t)63;
        v->aux = aligned_alloc(64, nb);
        assert_non_null(v->aux);
        memset(v->aux, 0, nb);
        v->cv.aux = v->aux;
    }
    v->scratch = calloc(1, b->scratch_bytes ? b->scratch_bytes : 1);
    if (b->prepare_chain)
        assert_int_equal(b->prepare_chain(b, v->cfg, &v->cv), FPR_OK);
}

static void view_close(const fpr_backend *b, view *v)
{
    if (v->cfg && b->cfg_free)
        b->cfg_free(v->cfg);
    free(v->aux);
    free(v->scratch);
}

/* Row q's values against every column, as doubles. */
static void row_values(const fpr_backend *b, view *v, int64_t q, double *out)
{
    float f[NPTS];
    double d[NPTS];
    if (b->eval_f32) {
        b->eval_f32(b, v->cfg, v->scratch, &v->cv, q, 0, v->cv.n, f);
        for (int64_t j = 0; j < v->cv.n; j++)
            out[j] = f[j];
    } else {
        b->eval_f64(b, v->cfg, v->scratch, &v->cv, q, 0, v->cv.n, d);
        for (int64_t j = 0; j < v->cv.n; j++)
            out[j] = d[j];
    }
}

static int is_symmetric_arith(const char *name)
{
    /* dx = x_i − x_j is the negation of x_j − x_i and is squared: symmetric. The
     * identity backends add n_i and n_j in a fixed order, and are not. */
    return !strcmp(name, "exact_diff") || !strcmp(name, "fp64") || !strcmp(name, "chunked_fp32");
}

/* Exact top-3 of row q under the canonical rule (exact D², then index). */
static void exact_top3(const pts *p, int64_t q, int32_t idx[3], mpz_t d2s[3])
{
    mpz_t cur;
    mpz_init(cur);
    int n = 0;
    for (int64_t j = 0; j < p->n; j++) {
        float a[3] = {p->x[q], p->y[q], p->z[q]}, b[3] = {p->x[j], p->y[j], p->z[j]};
        exact_d2(cur, a, b);
        int pos = n < 3 ? n : 3;
        while (pos > 0 && mpz_cmp(cur, d2s[pos - 1]) < 0)
            pos--;
        if (pos >= 3)
            continue;
        for (int k = (n < 3 ? n : 2); k > pos; k--) {
            mpz_set(d2s[k], d2s[k - 1]);
            idx[k] = idx[k - 1];
        }
        mpz_set(d2s[pos], cur);
        idx[pos] = (int32_t)j;
        if (n < 3)
            n++;
    }
    mpz_clear(cur);
}

/* ------------------------------------------------------------------ conformance */
static void check_eval_backend_p(const fpr_backend *b, const char *params, pts *p,
                                 double *worst)
{
    view v;
    view_open(b, params, p, &v);
    double R = half_span(p);
    static double val[NPTS][NPTS];
    for (int64_t q = 0; q < p->n; q++)
        row_values(b, &v, q, val[q]);
    mpz_t d2;
    mpz_init(d2);
    for (int64_t i = 0; i < p->n; i++) {
        float xi[3] = {p->x[i], p->y[i], p->z[i]};
        double bii = b->d2_error_bound(b, v.cfg, xi, xi, R);
        int self_forced = 1;
        for (int64_t j = 0; j < p->n; j++) {
            float xj[3] = {p->x[j], p->y[j], p->z[j]};
            double vv = val[i][j];
            if (isnan(vv))
                fail_msg("seed %llu: %s: NaN at (%lld,%lld) in '%s'", (unsigned long long)g_seed,
                         b->name, (long long)i, (long long)j, p->what);
            if (is_symmetric_arith(b->name) && vv != val[j][i])
                fail_msg("seed %llu: %s: v(%lld,%lld)=%a != v(j,i)=%a in '%s'",
                         (unsigned long long)g_seed, b->name, (long long)i, (long long)j, vv,
                         val[j][i], p->what);
            exact_d2(d2, xi, xj);
            double comp = b->value_to_d2 ? b->value_to_d2(b, v.cfg, vv) : vv;
            double bnd = b->d2_error_bound(b, v.cfg, xi, xj, R);
            double ratio;
            if (!within_bound(d2, comp, bnd, &ratio))
                fail_msg("seed %llu: %s: |d2 - D2| = %g x bound (%g) at (%lld,%lld) in '%s' "
                         "(value %a, xi %a %a %a, xj %a %a %a)",
                         (unsigned long long)g_seed, b->name, ratio, bnd, (long long)i,
                         (long long)j, p->what, vv, xi[0], xi[1], xi[2], xj[0], xj[1], xj[2]);
            if (ratio > *worst)
                *worst = ratio;
            /* self must rank first when the bounds separate it from every other atom */
            if (j != i) {
                double D2 = mpz_get_d(d2) * 0x1p-298; /* rounded down: conservative */
                if (!(bii + bnd < D2 * (1 - 0x1p-50)))
                    self_forced = 0;
            }
        }
        if (self_forced)
            for (int64_t j = 0; j < p->n; j++)
                if (j != i && !(val[i][i] < val[i][j]))
                    fail_msg("seed %llu: %s: self not first in row %lld ('%s'): v(i,i)=%a, "
                             "v(i,%lld)=%a", (unsigned long long)g_seed, b->name,
                             (long long)i, p->what, val[i][i], (long long)j, val[i][j]);
    }
    mpz_clear(d2);
    view_close(b, &v);
}

static void check_eval_backend(const fpr_backend *b, pts *p, double *worst)
{
    check_eval_backend_p(b, NULL, p, worst);
}

static void check_block_backend(const fpr_backend *b, pts *p)
{
    view v;
    view_open(b, NULL, p, &v);
    int64_t q[NPTS];
    fpr_top3 top[NPTS];
    fpr_row_extra ex[NPTS];
    for (int64_t i = 0; i < p->n; i++)
        q[i] = i;
    assert_int_equal(b->block_top3(b, v.cfg, v.scratch, &v.cv, q, p->n, top, ex), FPR_OK);
    mpz_t d2s[3];
    for (int k = 0; k < 3; k++)
        mpz_init(d2s[k]);
    for (int64_t i = 0; i < p->n; i++) {
        assert_int_equal(top[i].n, 3);
        for (int k = 0; k < 3; k++)
            if (isnan(top[i].val[k]))
                fail_msg("seed %llu: %s: NaN in top-3 of row %lld", (unsigned long long)g_seed,
                         b->name, (long long)i);
        if (b->precision == FPR_PREC_EXACT) {
            /* an exact backend's top-3 is the exact ranking with the canonical rule */
            int32_t idx[3];
            exact_top3(p, i, idx, d2s);
            for (int k = 0; k < 3; k++)
                if (idx[k] != top[i].idx[k])
                    fail_msg("seed %llu: %s: row %lld rank %d is %d, exact %d ('%s')",
                             (unsigned long long)g_seed, b->name, (long long)i, k,
                             top[i].idx[k], idx[k], p->what);
        }
    }
    for (int k = 0; k < 3; k++)
        mpz_clear(d2s[k]);
    view_close(b, &v);
}

static void test_conformance(void **state)
{
    (void)state;
    assert_int_equal(fpr_registry_check(), FPR_OK);
    tu_rng r = {g_seed};
    static const double offsets[] = {0, 100, 1000};
    for (size_t bi = 0; bi < fpr_backend_count(); bi++) {
        const fpr_backend *b = fpr_backend_at(bi);
        double worst = 0;
        for (int kind = 0; kind < 5; kind++)
            for (int oi = 0; oi < 3; oi++)
                for (int rep = 0; rep < 3; rep++) {
                    pts p;
                    make_points(&r, kind, offsets[oi], &p);
                    if (b->eval_f32 || b->eval_f64)
                        check_eval_backend(b, &p, &worst);
                    if (b->block_top3)
                        check_block_backend(b, &p);
                }
        if (b->eval_f32 || b->eval_f64)
            printf("# %-16s largest observed error / declared bound: %.3g\n", b->name, worst);
        else
            printf("# %-16s top-3 checked (block_top3 backend)\n", b->name);
    }
    /* matmul_tf32's every rounding and accumulation option stays within its bound */
    static const char *const tf32_opts[] = {"round=zero", "round=nearest_even", "acc=tc",
                                            "acc=tc,round=zero", "acc=tc,round=nearest_even"};
    const fpr_backend *t32 = fpr_backend_find("matmul_tf32");
    for (size_t k = 0; k < sizeof tf32_opts / sizeof *tf32_opts; k++) {
        double worst = 0;
        for (int kind = 0; kind < 5; kind++)
            for (int oi = 0; oi < 3; oi++) {
                pts p;
                make_points(&r, kind, offsets[oi], &p);
                check_eval_backend_p(t32, tf32_opts[k], &p, &worst);
            }
        printf("# matmul_tf32 %-26s largest observed error / declared bound: %.3g\n",
               tf32_opts[k], worst);
    }
}

/* ------------------------------------------------------------------ chunked ≡ exact_diff */
static fpr_frames *run_with(const fpr_case *c, const char *name, const char *params,
                            int64_t row_block, int angle)
{
    const fpr_backend *b = fpr_backend_find(name);
    assert_non_null(b);
    fpr_run_opts o;
    fpr_run_opts_init(&o);
    o.params = params;
    o.row_block = row_block;
    o.angle = angle;
    fpr_frames *f = NULL;
    if (fpr_frames_compute(c, b, &o, &f))
        fail_msg("frames_compute(%s, '%s'): %s", name, params ? params : "", fpr_errmsg());
    return f;
}

/* A case full of exact ties across the index range: duplicates of a few dyadic sites,
 * so equal values are spread over many columns and any block boundary splits them. */
static fpr_case *tie_case(tu_rng *r, int64_t n, int nchains, double off)
{
    fpr_case *c = tu_atomized_case(1, n, 0);
    for (int64_t i = 0; i < n; i++) {
        c->asym_id[i] = (int32_t)(i % nchains);
        int site = (int)(tu_next(r) % 7);
        int kind = (int)(tu_next(r) % 3);
        float v[3];
        if (kind == 0) { /* duplicate sites: exact ties */
            v[0] = (float)site * 0.75f;
            v[1] = (float)(site % 3) * 1.25f;
            v[2] = 0.5f;
        } else { /* random atoms between them */
            v[0] = tu_uniform_f(r, 0, 6);
            v[1] = tu_uniform_f(r, 0, 3);
            v[2] = tu_uniform_f(r, -1, 2);
        }
        for (int k = 0; k < 3; k++)
            c->x[i * 3 + k] = (float)(v[k] + off);
    }
    if (n > 5)
        c->atom_mask[n / 2] = 0; /* an absent atom */
    return c;
}

static void test_chunked_bit_identical(void **state)
{
    (void)state;
    tu_rng r = {g_seed ^ 0x9e3779b97f4a7c15ULL};
    for (int rep = 0; rep < 40; rep++) {
        int64_t n = 2 + (int64_t)(tu_next(&r) % 300);
        int nchains = 1 + (int)(tu_next(&r) % 4);
        fpr_case *c = tie_case(&r, n, nchains, rep % 3 == 2 ? 1000.0 : 0.0);
        fpr_frames *ref = run_with(c, "exact_diff", NULL, 0, FPR_ANGLE_BACKEND);
        char params[64];
        int64_t rows = 1 + (int64_t)(tu_next(&r) % 20), cols = 1 + (int64_t)(tu_next(&r) % 40);
        if (rep % 5 == 4)
            cols = 1 + (int64_t)(tu_next(&r) % 3); /* tiny blocks: every tie group split */
        snprintf(params, sizeof params, "rows=%lld,cols=%lld", (long long)rows, (long long)cols);
        int64_t row_block = 1 + (int64_t)(tu_next(&r) % 33);
        fpr_frames *f = run_with(c, "chunked_fp32", params, row_block, FPR_ANGLE_BACKEND);
        for (int64_t t = 0; t < c->n_token; t++) {
            if (f->a_index[t] != ref->a_index[t] || f->c_index[t] != ref->c_index[t] ||
                f->valid_frame_mask[t] != ref->valid_frame_mask[t])
                fail_msg("seed %llu rep %d (%s, row_block %lld, n %lld): token %lld: chunked "
                         "(%d,%d) vs exact_diff (%d,%d)", (unsigned long long)g_seed, rep,
                         params, (long long)row_block, (long long)n, (long long)t,
                         f->a_index[t], f->c_index[t], ref->a_index[t], ref->c_index[t]);
            for (int k = 0; k < 3; k++) {
                double a = f->top_value[t * 3 + k], b = ref->top_value[t * 3 + k];
                if (memcmp(&a, &b, sizeof a) != 0)
                    fail_msg("seed %llu rep %d: token %lld value %d: %a vs %a",
                             (unsigned long long)g_seed, rep, (long long)t, k, a, b);
            }
        }
        fpr_frames_free(f);
        fpr_frames_free(ref);
        fpr_case_free(c);
    }
}

/* ------------------------------------------------------------------ matmul_comp vs exact */
static void test_matmul_comp_picks(void **state)
{
    (void)state;
    tu_rng r = {g_seed ^ 0x5851f42d4c957f2dULL};
    static const double offsets[] = {0, 100, 1000};
    const double few_ulps = 4 * 0x1p-23; /* relative margin */
    int64_t compared = 0, excused = 0;
    for (int oi = 0; oi < 3; oi++)
        for (int rep = 0; rep < 2; rep++) {
            const int64_t n = 400;
            fpr_case *c = tu_atomized_case(1, n, 7);
            /* protein-like: a random walk with 1.5 Å steps, plus side atoms */
            float p[3] = {(float)offsets[oi], (float)offsets[oi], (float)offsets[oi]};
            for (int64_t i = 0; i < n; i++) {
                for (int k = 0; k < 3; k++) {
                    p[k] += tu_uniform_f(&r, -1.2f, 1.2f);
                    c->x[i * 3 + k] = p[k];
                }
            }
            fpr_frames *f = run_with(c, "matmul_comp", NULL, 0, FPR_ANGLE_BACKEND);
            mpz_t d2s[4], pick, cur;
            for (int k = 0; k < 4; k++)
                mpz_init(d2s[k]);
            mpz_inits(pick, cur, NULL);
            for (int64_t i = 0; i < n; i++) {
                /* exact ranks 0..3 of row i (self, a, c, runner-up) */
                int32_t idx[4] = {-1, -1, -1, -1};
                int cnt = 0;
                for (int64_t j = 0; j < n; j++) {
                    exact_d2(cur, &c->x[i * 3], &c->x[j * 3]);
                    int pos = cnt;
                    while (pos > 0 && mpz_cmp(cur, d2s[pos - 1]) < 0)
                        pos--;
                    if (pos >= 4)
                        continue;
                    for (int k = (cnt < 4 ? cnt : 3); k > pos; k--) {
                        mpz_set(d2s[k], d2s[k - 1]);
                        idx[k] = idx[k - 1];
                    }
                    mpz_set(d2s[pos], cur);
                    idx[pos] = (int32_t)j;
                    if (cnt < 4)
                        cnt++;
                }
                double D[4];
                for (int k = 0; k < 4; k++)
                    D[k] = mpz_get_d(d2s[k]);
                /* picks a (rank 1) and c (rank 2): equal, or inside the exact tie group */
                int32_t got[2] = {f->a_index[i], f->c_index[i]};
                for (int k = 1; k <= 2; k++) {
                    compared++;
                    exact_d2(pick, &c->x[i * 3], &c->x[got[k - 1] * 3]);
                    if (mpz_cmp(pick, d2s[k]) == 0)
                        continue;
                    /* a mismatch must sit on a true margin of a few float32 ulps: the
                     * gap below or above rank k (SPEC §4 relative gaps) */
                    double m = fmin((D[k] - D[k - 1]) / D[k], (D[k + 1] - D[k]) / D[k + 1]);
                    if (!(m < few_ulps))
                        fail_msg("seed %llu offset %g: row %lld rank %d: matmul_comp picked %d, "
                                 "exact %d, true margin %g (> %g)", (unsigned long long)g_seed,
                                 offsets[oi], (long long)i, k, got[k - 1], idx[k], m, few_ulps);
                    excused++;
                }
            }
            for (int k = 0; k < 4; k++)
                mpz_clear(d2s[k]);
            mpz_clears(pick, cur, NULL);
            fpr_frames_free(f);
            fpr_case_free(c);
        }
    printf("# matmul_comp: %lld picks compared with the exact ranking, %lld inside a few ulps "
           "of margin\n", (long long)compared, (long long)excused);
}

/* ------------------------------------------------------------------ angle stage */
/* Three atoms of one chain: b near the origin, a at 1.0–1.2 Å, c at 2.5–3 Å at angle θ
 * near 25° in a random plane direction, searched until the float32 and binary64 stages
 * disagree (about 1.5% of such triples do). Row 0 (b) ranks itself, a, c for every
 * backend (the gaps are far beyond even bf16's error this close to the origin), so
 * token 0's frame is (a, b, c) with angle θ. */
static fpr_case *angle_case(tu_rng *r, int *f32, int *f64)
{
    fpr_case *c = tu_atomized_case(1, 3, 2);
    for (int tries = 0; tries < 1000000; tries++) {
        double th = (25.0 + (tu_uniform(r) - 0.5) * 4e-4) * 3.141592653589793 / 180.0;
        double r1 = 1.0 + 0.2 * tu_uniform(r), r2 = 2.5 + 0.5 * tu_uniform(r);
        double ph = 6.283185307179586 * tu_uniform(r);
        float xb[3] = {tu_uniform_f(r, 0, 1), tu_uniform_f(r, 0, 1), tu_uniform_f(r, 0, 1)};
        float xa[3] = {xb[0] + (float)(r1 * cos(ph)), xb[1] + (float)(r1 * sin(ph)), xb[2]};
        float xc[3] = {xb[0] + (float)(r2 * cos(ph + th)), xb[1] + (float)(r2 * sin(ph + th)),
                       xb[2]};
        int v32 = fpr_angle_valid_f32(xa, xb, xc, c->eps, c->angle_threshold);
        int v64 = fpr_angle_valid_f64(xa, xb, xc, c->eps, c->angle_threshold);
        if (v32 != v64) {
            memcpy(&c->x[0], xb, sizeof xb);
            memcpy(&c->x[3], xa, sizeof xa);
            memcpy(&c->x[6], xc, sizeof xc);
            *f32 = v32;
            *f64 = v64;
            return c;
        }
    }
    fail_msg("seed %llu: no float32/binary64 disagreement found near 25 degrees",
             (unsigned long long)g_seed);
    return NULL;
}

static void test_angle_stage(void **state)
{
    (void)state;
    tu_rng r = {g_seed ^ 0x2545f4914f6cdd1dULL};
    int v32 = 0, v64 = 0;
    fpr_case *c = angle_case(&r, &v32, &v64);
    int fragile = 0;
    int vex = fpr_angle_valid_exact(&c->x[3], &c->x[0], &c->x[6], c->eps, c->angle_threshold,
                                    &fragile);
    for (size_t bi = 0; bi < fpr_backend_count(); bi++) {
        const fpr_backend *b = fpr_backend_at(bi);
        int want[4];
        want[FPR_ANGLE_F32] = v32;
        want[FPR_ANGLE_F64] = v64;
        want[FPR_ANGLE_EXACT] = vex;
        want[FPR_ANGLE_BACKEND] = b->precision == FPR_PREC_F32   ? v32
                                  : b->precision == FPR_PREC_F64 ? v64
                                                                 : vex;
        for (int st = 0; st < 4; st++) {
            fpr_frames *f = run_with(c, b->name, NULL, 0, st);
            /* all three atoms are 1.4–1.9 Å apart: every backend picks a = 1, c = 2 */
            assert_int_equal(f->a_index[0], 1);
            assert_int_equal(f->c_index[0], 2);
            if (f->valid_frame_mask[0] != want[st])
                fail_msg("seed %llu: %s angle stage %d: valid %d, expected %d",
                         (unsigned long long)g_seed, b->name, st, f->valid_frame_mask[0],
                         want[st]);
            fpr_frames_free(f);
        }
    }
    fpr_case_free(c);
}

/* ------------------------------------------------------------------ small contracts */
static void test_rows_with_few_candidates(void **state)
{
    (void)state;
    /* chains of one and two atoms: every backend fills from the inf columns by index */
    fpr_case *c = tu_atomized_case(1, 5, 0);
    int32_t chains[5] = {0, 1, 1, 2, 3};
    for (int i = 0; i < 5; i++) {
        c->asym_id[i] = chains[i];
        c->x[i * 3] = 1000.0f + (float)i;
    }
    fpr_frames *ref = run_with(c, "fp64", NULL, 0, FPR_ANGLE_F64);
    for (size_t bi = 0; bi < fpr_backend_count(); bi++) {
        const fpr_backend *b = fpr_backend_at(bi);
        fpr_frames *f = run_with(c, b->name, NULL, 0, FPR_ANGLE_F64);
        for (int t = 0; t < 5; t++) {
            /* single-atom chains: both picks are fillers (smallest outside indices);
             * the 2-atom chain {1,2}: a is the other or the atom itself (at 1000 Å a
             * reduced-precision identity may rank the neighbour before self), c the
             * filler 0. Every such frame is invalid. */
            int two = t == 1 || t == 2;
            int a_ok = two ? (f->a_index[t] == 1 || f->a_index[t] == 2)
                           : f->a_index[t] == ref->a_index[t];
            if (!a_ok || f->c_index[t] != ref->c_index[t] || f->valid_frame_mask[t] != 0)
                fail_msg("%s: token %d: (%d,%d) valid %d; fp64 (%d,%d)", b->name, t,
                         f->a_index[t], f->c_index[t], f->valid_frame_mask[t], ref->a_index[t],
                         ref->c_index[t]);
        }
        fpr_frames_free(f);
    }
    fpr_frames_free(ref);
    fpr_case_free(c);
}

static void test_options(void **state)
{
    (void)state;
    /* every backend accepts an empty option string and refuses a bad key by name */
    for (size_t bi = 0; bi < fpr_backend_count(); bi++) {
        const fpr_backend *b = fpr_backend_at(bi);
        if (!b->configure)
            continue;
        void *cfg = NULL;
        assert_int_equal(b->configure(b, "", &cfg), FPR_OK);
        b->cfg_free(cfg);
        cfg = NULL;
        assert_int_equal(b->configure(b, "nonsense=1", &cfg), FPR_EUSAGE);
        assert_non_null(strstr(fpr_errmsg(), b->name));
        assert_null(cfg);
    }
    /* TF32 reduction: 1 + 2^-11 + 2^-12 is between two TF32 values */
    const fpr_backend *t = fpr_backend_find("matmul_tf32");
    assert_non_null(t);
    static const char *const good[] = {"round=zero", "round=nearest", "round=nearest_away",
                                       "round=nearest_even", "acc=tc", "acc=f32,round=zero",
                                       "order=pairwise,fma=0", "order=rev"};
    for (size_t k = 0; k < sizeof good / sizeof *good; k++) {
        void *cfg = NULL;
        assert_int_equal(t->configure(t, good[k], &cfg), FPR_OK);
        t->cfg_free(cfg);
    }
    /* the memory models are positive and grow with N */
    for (size_t bi = 0; bi < fpr_backend_count(); bi++) {
        const fpr_backend *b = fpr_backend_at(bi);
        double m1 = b->torch_peak_bytes(b, NULL, 1000, 1000, 1);
        double m2 = b->torch_peak_bytes(b, NULL, 2000, 2000, 1);
        assert_true(m1 > 0 && m2 > m1);
    }
    /* the seed's figures at 41,863 atoms: cdist + bool masks ~10 GB, original ~47 GB */
    const fpr_backend *mm = fpr_backend_find("matmul"), *ed = fpr_backend_find("exact_diff");
    double gm = mm->torch_peak_bytes(mm, NULL, 41863, 41863, 1) / 1e9;
    double ge = ed->torch_peak_bytes(ed, NULL, 41863, 41863, 1) / 1e9;
    assert_true(gm > 7 && gm < 11);
    assert_true(ge > 40 && ge < 55);
}

/* Golden values: matmul at the origin of a 3-4-5 triangle, computed by hand. */
static void test_golden(void **state)
{
    (void)state;
    pts p;
    memset(&p, 0, sizeof p);
    p.n = 2;
    p.idx[0] = 0;
    p.idx[1] = 1;
    p.x[1] = 3.0f;
    p.y[1] = 4.0f;
    p.what = "golden";
    static const char *const names[] = {"matmul", "matmul_comp", "matmul_centered",
                                        "matmul_tf32", "matmul_bf16x3", "matmul_bf16",
                                        "cdist_direct"};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        const fpr_backend *b = fpr_backend_find(names[k]);
        view v;
        view_open(b, NULL, &p, &v);
        double out[NPTS];
        row_values(b, &v, 0, out);
        /* small integers are exact in every format: d = 0x1.4p+2 (5), self 0 */
        if (out[1] != 0x1.4p+2 || out[0] != 0x0p+0)
            fail_msg("%s: got %a %a", names[k], out[0], out[1]);
        view_close(b, &v);
    }
}

/* matmul_tf32 pins (issue 14), as %a hex floats.
 * (1) pytorch issue 53635: on an RTX 3090, [1024.5] @ [[1.0]] gave 1025. 1024.5 lies
 * exactly halfway between two TF32 values; only round-to-nearest-ties-away gives 1025.
 * Here the row atom sits at the origin, so A = [0, 0, 0, 0, 1] and the dot is TF32(n_j)
 * with n_j = (32² + 0.5²) + 0.5² = 1024.5 exactly: the value is sqrtf(1025) by default
 * (ties away), sqrt(1024) = 32 under round=nearest_even and round=zero.
 * (2) acc=tc against acc=f32 on a pair near 180 Å from the origin, the values computed
 * by the independent numpy emulation tests/tf32_numpy.py (row_values). */
static void test_tf32_pins(void **state)
{
    (void)state;
    const fpr_backend *b = fpr_backend_find("matmul_tf32");
    assert_non_null(b);
    pts p;
    memset(&p, 0, sizeof p);
    p.n = 2;
    p.idx[0] = 0;
    p.idx[1] = 1;
    p.x[1] = 32.0f;
    p.y[1] = 0.5f;
    p.z[1] = 0.5f;
    p.what = "tf32 tie";
    static const struct { const char *params; double want; } tie[] = {
        {"", 0x1.001ffep+5},            /* sqrtf(1025.0f) */
        {"round=nearest_away", 0x1.001ffep+5},
        {"round=nearest_even", 0x1p+5},
        {"round=nearest", 0x1p+5},
        {"round=zero", 0x1p+5},
        {"acc=tc", 0x1.001ffep+5},
    };
    for (size_t k = 0; k < sizeof tie / sizeof *tie; k++) {
        view v;
        double out[NPTS];
        view_open(b, tie[k].params, &p, &v);
        row_values(b, &v, 0, out);
        if (out[1] != tie[k].want || out[0] != 0)
            fail_msg("matmul_tf32 '%s': got %a %a, want 0 %a", tie[k].params, out[0], out[1],
                     tie[k].want);
        view_close(b, &v);
    }
    pts q;
    memset(&q, 0, sizeof q);
    q.n = 2;
    q.idx[0] = 0;
    q.idx[1] = 1;
    q.x[0] = -0x1.22f662p+7f, q.y[0] = -0x1.e13806p+6f, q.z[0] = 0x1.7bd04ap+7f;
    q.x[1] = -0x1.21cf86p+7f, q.y[1] = -0x1.ee4c38p+6f, q.z[1] = 0x1.765edap+7f;
    q.what = "tf32 acc";
    static const struct { const char *params; double want; } acc[] = {
        {"", 0x1.3c6128p+2},
        {"acc=tc", 0x1.3c5436p+2},
    };
    for (size_t k = 0; k < sizeof acc / sizeof *acc; k++) {
        view v;
        double out[NPTS];
        view_open(b, acc[k].params, &q, &v);
        row_values(b, &v, 0, out);
        if (out[1] != acc[k].want)
            fail_msg("matmul_tf32 '%s': got %a, want %a", acc[k].params, out[1], acc[k].want);
        view_close(b, &v);
    }
    /* bad values of the new options are refused by name */
    void *cfg = NULL;
    assert_int_equal(b->configure(b, "acc=fp16", &cfg), FPR_EUSAGE);
    assert_int_equal(b->configure(b, "round=up", &cfg), FPR_EUSAGE);
    assert_null(cfg);
}

/* The operand reduction of matmul_tf32, matmul_bf16 and matmul_bf16x3 (mm_round, one
 * branch-free formula for the three modes) against MPFR rounding the same float32 to 11
 * and 8 significant bits: round=zero as MPFR_RNDZ, round=nearest_even as MPFR_RNDN,
 * round=nearest_away as the nearer of MPFR_RNDZ and MPFR_RNDA, the latter on a tie.
 * Random normal encodings of both signs, a quarter of them exactly halfway between two
 * reduced values and a quarter one unit either side of halfway (what a branch on the
 * dropped bits could get wrong). Subnormals are left out: there the encoding's fixed
 * quantum, which is what a bit-level conversion rounds to, is not `bits` significant
 * bits; validated coordinates and their norms do not reach them. */
static void test_operand_rounding(void **state)
{
    (void)state;
    static const int bits_of[2] = {11, 8};
    static const int modes[3] = {MM_ROUND_ZERO, MM_ROUND_NEAREST_AWAY, MM_ROUND_NEAREST_EVEN};
    uint64_t rs = g_seed ^ 0x9e3779b97f4a7c15ull;
    mpfr_t x, z, a;
    mpfr_inits2(24, x, z, a, (mpfr_ptr)0);
    long checked = 0;
    for (int bi = 0; bi < 2; bi++)
        for (int mi = 0; mi < 3; mi++) {
            const int bits = bits_of[bi], mode = modes[mi], drop = 24 - bits;
            const mm_rnd rd = mm_rnd_of(bits, mode);
            const uint32_t half = 1u << (drop - 1), low = (1u << drop) - 1;
            for (int i = 0; i < 100000; i++) {
                rs = rs * 6364136223846793005ull + 1442695040888963407ull;
                uint32_t u = (uint32_t)(rs >> 32);
                if (i % 4 == 1)
                    u = (u & ~low) | half;
                else if (i % 4 == 2)
                    u = (u & ~low) | (half + ((rs >> 7) & 1 ? 1u : -1u));
                uint32_t e = (u >> 23) & 0xffu;
                if (e == 0 || e == 0xffu) /* subnormal, zero, inf, NaN: a normal exponent */
                    u = (u & ~(0xffu << 23)) | ((1u + (uint32_t)(rs >> 9) % 254u) << 23);
                float v;
                memcpy(&v, &u, sizeof v);
                mpfr_set_prec(x, 24); /* the last iteration rounded x to `bits` */
                mpfr_set_prec(z, 24);
                mpfr_set_prec(a, 24);
                mpfr_set_flt(x, v, MPFR_RNDN); /* exact: 24 bits */
                float want;
                if (mode == MM_ROUND_NEAREST_AWAY) {
                    mpfr_set(z, x, MPFR_RNDN);
                    mpfr_set(a, x, MPFR_RNDN);
                    mpfr_prec_round(z, bits, MPFR_RNDZ);
                    mpfr_prec_round(a, bits, MPFR_RNDA);
                    double dz = fabs((double)v - mpfr_get_d(z, MPFR_RNDN));
                    double da = fabs(mpfr_get_d(a, MPFR_RNDN) - (double)v);
                    want = mpfr_get_flt(dz < da ? z : a, MPFR_RNDN);
                } else {
                    mpfr_prec_round(x, bits, mode == MM_ROUND_ZERO ? MPFR_RNDZ : MPFR_RNDN);
                    want = mpfr_get_flt(x, MPFR_RNDN);
                }
                float got = mm_round(v, rd);
                if (memcmp(&got, &want, sizeof got) != 0)
                    fail_msg("operand rounding to %d bits, mode %d: %a -> %a, MPFR %a (seed %llu)",
                             bits, mode, (double)v, (double)got, (double)want,
                             (unsigned long long)g_seed);
                checked++;
            }
        }
    mpfr_clears(x, z, a, (mpfr_ptr)0);
    assert_int_equal(checked, 600000);
}

/* cdist_direct's three arithmetics on one pair where they all differ (values worked
 * out independently in numpy float32: squares, then (s0+s1)+s2 for the CPU kernel
 * without FMA, (s0+s2)+s1 for the CUDA block reduction, and the fused
 * fma(d2,d2,fma(d1,d1,d0*d0)) PyTorch's AVX2 kernel computes), then sqrt. */
static void test_cdist_direct_orders(void **state)
{
    (void)state;
    const fpr_backend *b = fpr_backend_find("cdist_direct");
    assert_non_null(b);
    pts p;
    memset(&p, 0, sizeof p);
    p.n = 2;
    p.idx[1] = 1;
    p.x[1] = 0x1.1f69c6p+1f;
    p.y[1] = 0x1.00e8eep+1f;
    p.z[1] = 0x1.d8353ep-1f;
    p.what = "cdist_direct orders";
    static const struct { const char *params; double want; } cases[] = {
        {"fma=0", 0x1.932b4ap+1}, {"order=cuda", 0x1.932b48p+1},
        {"fma=1", 0x1.932b46p+1}, {"", 0x1.932b46p+1}, /* the default is the AVX2 kernel */
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        view v;
        view_open(b, cases[k].params, &p, &v);
        double out[NPTS];
        row_values(b, &v, 0, out);
        if (out[1] != cases[k].want || out[0] != 0)
            fail_msg("cdist_direct '%s': got %a, want %a", cases[k].params, out[1], cases[k].want);
        view_close(b, &v);
    }
    void *cfg = NULL;
    assert_int_equal(b->configure(b, "order=cuda,fma=0", &cfg), FPR_EUSAGE);
    assert_null(cfg);
    /* memory: the [N,N] result and two boolean masks, no augmented operands */
    assert_true(b->torch_peak_bytes(b, NULL, 1000, 10, 1) == 6e6);
}

int main(void)
{
    g_seed = tu_seed(20240611);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_cdist_direct_orders),
        cmocka_unit_test(test_tf32_pins),
        cmocka_unit_test(test_operand_rounding),
        cmocka_unit_test(test_conformance),
        cmocka_unit_test(test_chunked_bit_identical),
        cmocka_unit_test(test_matmul_comp_picks),
        cmocka_unit_test(test_angle_stage),
        cmocka_unit_test(test_rows_with_few_candidates),
    };
    return cmocka_run_group_tests_name("backends", tests, NULL, NULL);
}
