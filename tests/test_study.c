/* test_study.c — the study's metrics on hand-built cases whose answers are known:
 * a test backend corrupts chosen values of one row so its picks differ from the truth
 * by a rounded tie, a reorder or a swap, with a bound that explains the gap or not;
 * plus the gate (baseline round trip, grown counts fail). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "testutil.h"
#include "study/study.h"

/* Row 0 of a 5-atom chain on the x axis: atom 0 at 0, 1 at 1.6, 2 at 1.0, 3 at 1.5,
 * 4 at 5. Truth: closest = [0, 2, 3] (D² 0, 1, 2.25; atom 1 has 2.56). */
static const float xs[5] = {0.0f, 1.6f, 1.0f, 1.5f, 5.0f};

enum { MODE_EXACT, MODE_TIE, MODE_REORDER, MODE_SWAP };
static int mode;
static double bound_value;

static void eval(const fpr_backend *b, const void *cfg, void *scratch, const fpr_chain_view *cv,
                 int64_t q, int64_t j0, int64_t n, float *out)
{
    (void)b, (void)cfg, (void)scratch;
    for (int64_t j = 0; j < n; j++) {
        int64_t c = j0 + j;
        float d = cv->x[q] - cv->x[c];
        float v = d * d; /* exact here: the coordinates are short dyadic-ish floats */
        if (cv->idx[q] == 0) {
            int32_t a = cv->idx[c];
            if (mode == MODE_TIE && a == 1)
                v = (cv->x[0] - cv->x[3]) * (cv->x[0] - cv->x[3]); /* = value of atom 3 */
            if (mode == MODE_REORDER && a == 1)
                v = 2.0f; /* below atom 3's 2.25: strictly wrong order */
            if (mode == MODE_SWAP && a == 2)
                v = 2.4f; /* atom 2 now after atom 3 (2.25), before atom 1 (2.56) */
        }
        out[j] = v;
    }
}

static double bound(const fpr_backend *b, const void *cfg, const float xi[3], const float xj[3],
                    double absmax)
{
    (void)b, (void)cfg, (void)xi, (void)xj, (void)absmax;
    return bound_value;
}

static double torch(const fpr_backend *b, const void *cfg, double n, double t, double s)
{
    (void)b, (void)cfg, (void)t;
    return 4 * n * n * s;
}

static const fpr_backend test_backend = {
    .version = 1,
    .name = "test_study",
    .summary = "D² with chosen corruptions of row 0",
    .precision = FPR_PREC_F32,
    .eval_f32 = eval,
    .d2_error_bound = bound,
    .torch_peak_bytes = torch,
};

static fpr_case *line_case(void)
{
    fpr_case *c = tu_atomized_case(1, 5, 1);
    for (int i = 0; i < 5; i++)
        c->x[i * 3] = xs[i];
    return c;
}

static void run(int m, double bnd, fpr_metrics *met, fpr_token_results **tok)
{
    mode = m;
    bound_value = bnd;
    fpr_case *c = line_case();
    fpr_frames *tr = tu_run(c, "truth");
    fpr_frames *f = NULL;
    assert_int_equal(fpr_frames_compute(c, &test_backend, NULL, &f), FPR_OK);
    fpr_metrics_init(met);
    assert_int_equal(fpr_study_compare(c, tr, f, &test_backend, NULL, 1, met, tok, NULL), FPR_OK);
    assert_int_equal(tr->a_index[0], 2);
    assert_int_equal(tr->c_index[0], 3);
    fpr_frames_free(f);
    fpr_frames_free(tr);
    fpr_case_free(c);
}

static void test_exact_agrees(void **state)
{
    (void)state;
    fpr_metrics m;
    fpr_token_results *t;
    run(MODE_EXACT, 1e-6, &m, &t);
    assert_int_equal(m.tokens, 5);
    assert_int_equal(m.mismatch, 0);
    assert_int_equal(m.phi_changed, 0);
    assert_int_equal(m.unexplained, 0);
    assert_true(m.err_n > 0);
    assert_true(m.err_bound_max <= 1); /* float32 squares: within a 1e-6 Å² bound */
    assert_int_equal(t->kind[0], FPR_KIND_EQUAL);
    fpr_token_results_free(t);
}

static void test_rounded_tie_explained(void **state)
{
    (void)state;
    fpr_metrics m;
    fpr_token_results *t;
    /* backend: atoms 1 and 3 tie at 2.25, the tie rule takes atom 1: c = 1, not 3.
     * True gap 2.56 − 2.25 = 0.31 ≤ 2 × 0.2: explained. */
    run(MODE_TIE, 0.2, &m, &t);
    assert_int_equal(m.mismatch, 1);
    assert_int_equal(m.m_one, 1);
    assert_int_equal(m.rounded_tie, 1);
    assert_int_equal(m.reordered, 0);
    assert_int_equal(m.explained, 1);
    assert_int_equal(m.unexplained, 0);
    assert_int_equal(m.phi_changed, 1);
    assert_true(fabs(m.phi_max_change - (1.6 - 1.5)) < 1e-6);
    assert_int_equal(t->kind[0], FPR_KIND_ONE);
    assert_int_equal(t->cause[0], FPR_CAUSE_TIE);
    assert_int_equal(t->explained[0], 1);
    fpr_token_results_free(t);
}

static void test_rounded_tie_unexplained(void **state)
{
    (void)state;
    fpr_metrics m;
    fpr_token_results *t;
    run(MODE_TIE, 0.1, &m, &t); /* 0.31 > 2 × 0.1 */
    assert_int_equal(m.rounded_tie, 1);
    assert_int_equal(m.unexplained, 1);
    assert_int_equal(t->explained[0], 0);
    fpr_token_results_free(t);
}

static void test_reordered(void **state)
{
    (void)state;
    fpr_metrics m;
    fpr_token_results *t;
    run(MODE_REORDER, 1.0, &m, &t);
    assert_int_equal(m.mismatch, 1);
    assert_int_equal(m.m_one, 1);
    assert_int_equal(m.reordered, 1);
    assert_int_equal(m.rounded_tie, 0);
    assert_int_equal(m.explained, 1);
    assert_int_equal(t->cause[0], FPR_CAUSE_REORDERED);
    fpr_token_results_free(t);
    run(MODE_REORDER, 0.01, &m, &t);
    assert_int_equal(m.unexplained, 1);
    fpr_token_results_free(t);
}

static void test_swapped(void **state)
{
    (void)state;
    fpr_metrics m;
    fpr_token_results *t;
    run(MODE_SWAP, 1.0, &m, &t); /* gap 2.25 − 1 = 1.25 ≤ 2 */
    assert_int_equal(m.mismatch, 1);
    assert_int_equal(m.m_swapped, 1);
    assert_int_equal(m.reordered, 1);
    assert_int_equal(m.explained, 1);
    assert_int_equal(t->kind[0], FPR_KIND_SWAPPED);
    fpr_token_results_free(t);
    run(MODE_SWAP, 0.5, &m, &t);
    assert_int_equal(m.unexplained, 1);
    fpr_token_results_free(t);
}

/* An exact tie in the truth: another atom of the same tie group is not a mismatch. */
static void test_truth_tie_group(void **state)
{
    (void)state;
    fpr_case *c = tu_atomized_case(1, 4, 1);
    /* row 0 at 0: atoms 1 and 2 both at distance 1 (exact tie), atom 3 at 2 */
    c->x[1 * 3] = 1.0f;
    c->x[2 * 3] = -1.0f;
    c->x[3 * 3] = 2.0f;
    fpr_frames *tr = tu_run(c, "truth");
    fpr_frames *f = tu_run(c, "exact_diff");
    /* pretend the backend chose the tie group differently: swap a and c of row 0 */
    int32_t a = f->a_index[0];
    f->a_index[0] = f->c_index[0];
    f->c_index[0] = a;
    fpr_metrics m;
    fpr_metrics_init(&m);
    assert_int_equal(fpr_study_compare(c, tr, f, fpr_backend_find("exact_diff"), NULL, 1, &m,
                                       NULL, NULL),
                     FPR_OK);
    assert_int_equal(m.mismatch, 0);
    assert_int_equal(m.tie_alt, 1);
    fpr_frames_free(f);
    fpr_frames_free(tr);
    fpr_case_free(c);
}

static void test_metrics_table(void **state)
{
    (void)state;
    fpr_metrics a, b;
    fpr_metrics_init(&a);
    fpr_metrics_init(&b);
    b.mismatch = 3;
    b.phi_max_change = 0.5;
    b.ident_diff = 0;
    fpr_metrics_add(&a, &b);
    b.phi_max_change = 0.25;
    fpr_metrics_add(&a, &b);
    assert_int_equal(a.mismatch, 6);
    assert_true(a.phi_max_change == 0.5);
    assert_int_equal(a.ident_diff, 0);
    fpr_hist h;
    memset(&h, 0, sizeof h);
    fpr_hist_add(&h, 0);
    fpr_hist_add(&h, 1e-3);
    assert_int_equal(h.zero, 1);
    assert_int_equal(h.bin[(int)((-3 - FPR_HIST_LO) / FPR_HIST_W)], 1);
}

/* The gate: a baseline written from results passes them and fails grown counts. */
static void test_check_gate(void **state)
{
    (void)state;
    fpr_study_results r;
    memset(&r, 0, sizeof r);
    char v[] = "0", ref[] = "truth", cn[] = "c1", mo[] = "all", key[] = "c1@all@0", bn[] = "matmul";
    fpr_study_backend sb;
    memset(&sb, 0, sizeof sb);
    sb.name = bn;
    fpr_metrics_init(&sb.m);
    sb.m.tokens = 100;
    sb.m.mismatch = 2;
    fpr_study_run run;
    memset(&run, 0, sizeof run);
    run.key = key;
    run.case_name = cn;
    run.mode = mo;
    run.nb = 1;
    run.b = &sb;
    r.version = v;
    r.reference = ref;
    r.nruns = 1;
    r.runs = &run;
    const char *path = tu_tmp("baseline.json");
    assert_int_equal(fpr_baseline_write(&r, path), FPR_OK);
    FILE *null = fopen("/dev/null", "w");
    assert_int_equal(fpr_check(&r, path, null), 0);
    sb.m.mismatch = 3;
    assert_int_equal(fpr_check(&r, path, null), 1);
    sb.m.mismatch = 1;
    assert_int_equal(fpr_check(&r, path, null), 0);
    sb.m.unexplained = 1;
    assert_int_equal(fpr_check(&r, path, null), 1);
    sb.m.unexplained = 0;
    sb.m.ident_diff = 4;
    assert_int_equal(fpr_check(&r, path, null), 1);
    sb.m.ident_diff = 0;
    sb.m.degenerate = 1; /* a backend may not gain degenerate frames */
    assert_int_equal(fpr_check(&r, path, null), 1);
    fclose(null);
}


/* summary.json's degenerate_valid equals the count taken directly from the frames the
 * same backend writes for the same case (SPEC §5 severity 1): atomized tokens whose a or
 * c is the token's own atom b and whose valid_frame_mask is 1, read back from the frames
 * file. Real entry 1A8O (selenomethionines atomized), own atomization and atomize-all,
 * under the variants that make such frames. */
static int64_t degenerate_valid_of_frames(const fpr_case *c, const char *backend)
{
    fpr_frames *f = tu_run(c, backend), *g = NULL;
    const char *path = tu_tmp("degenerate.frames.h5");
    assert_int_equal(fpr_frames_write(f, path), FPR_OK);
    assert_int_equal(fpr_frames_read(path, &g), FPR_OK);
    int64_t n = 0;
    for (int64_t s = 0; s < g->S; s++)
        for (int64_t t = 0; t < g->n_token; t++) {
            int64_t o = s * g->n_token + t;
            n += c->is_atomized[t] && g->valid_frame_mask[o] &&
                 (g->a_index[o] == g->b_index[o] || g->c_index[o] == g->b_index[o]);
        }
    fpr_frames_free(f);
    fpr_frames_free(g);
    return n;
}

static void test_degenerate_valid_matches_frames(void **state)
{
    (void)state;
    const char *cases[] = {"cases/1a8o.h5"};
    if (!tu_file_exists(cases[0]))
        skip();
    static const double offs[] = {0};
    fpr_study_opts o;
    fpr_study_opts_init(&o);
    o.cases = cases;
    o.ncases = 1;
    o.outdir = tu_tmp("study-degenerate");
    o.backends = "exact_diff,matmul_tf32,matmul_bf16";
    o.offsets = offs;
    o.noffsets = 1;
    o.native = o.atomize_all = 1;
    o.quiet = 1;
    o.no_report = 1;
    o.jobs = 1;
    assert_int_equal(fpr_study_run_all(&o), FPR_OK);
    char sp[4096];
    snprintf(sp, sizeof sp, "%s/summary.json", o.outdir);
    json_error_t err;
    json_t *root = json_load_file(sp, 0, &err);
    assert_non_null(root);
    fpr_case *c = NULL, *all = NULL;
    assert_int_equal(fpr_case_read(cases[0], &c), FPR_OK);
    assert_int_equal(fpr_case_atomize_all(c, &all), FPR_OK);
    static const char *const names[] = {"exact_diff", "matmul_tf32", "matmul_bf16"};
    int64_t total = 0;
    for (int mi = 0; mi < 2; mi++)
        for (size_t k = 0; k < 3; k++) {
            char key[256];
            snprintf(key, sizeof key, "%s@%s@0", c->name, mi ? "all" : "native");
            const json_t *runs = json_object_get(root, "runs"), *m = NULL;
            for (size_t i = 0; i < json_array_size(runs); i++) {
                const json_t *r = json_array_get(runs, i);
                if (strcmp(json_string_value(json_object_get(r, "key")), key) == 0)
                    m = json_object_get(json_object_get(r, "backends"), names[k]);
            }
            if (!m)
                fail_msg("summary.json has no %s for run %s", names[k], key);
            assert_string_equal(json_string_value(json_object_get(m, "backend")), names[k]);
            json_int_t js = json_integer_value(json_object_get(m, "degenerate_valid"));
            int64_t fr = degenerate_valid_of_frames(mi ? all : c, names[k]);
            printf("# %s %s: degenerate_valid summary.json %lld, frames %lld\n", key, names[k],
                   (long long)js, (long long)fr);
            assert_int_equal(js, fr);
            total += fr;
        }
    assert_true(total > 0); /* the check compared something non-trivial */
    json_decref(root);
    fpr_case_free(c);
    fpr_case_free(all);
}

/* Per-token arrays of two comparisons, byte for byte. */
static void assert_tok_equal(const fpr_token_results *a, const fpr_token_results *b)
{
    size_t n = (size_t)(a->S * a->n_token);
    assert_int_equal(a->S, b->S);
    assert_int_equal(a->n_token, b->n_token);
    assert_memory_equal(a->kind, b->kind, n);
    assert_memory_equal(a->cause, b->cause, n);
    assert_memory_equal(a->explained, b->explained, n);
    assert_memory_equal(a->valid_flip, b->valid_flip, n);
    assert_memory_equal(a->flip_cause, b->flip_cause, n);
    assert_memory_equal(a->phi_change, b->phi_change, n * sizeof(float));
    assert_memory_equal(a->err_bound, b->err_bound, n * sizeof(float));
    assert_memory_equal(a->err_ulp, b->err_ulp, n * sizeof(float));
    assert_memory_equal(a->degenerate, b->degenerate, n);
    assert_memory_equal(a->tie_order, b->tie_order, n);
    assert_memory_equal(a->disp_a, b->disp_a, n * sizeof(float));
    assert_memory_equal(a->disp_c, b->disp_c, n * sizeof(float));
}

/* fpr_hist_add bins by a table of edges, the formula only near an edge: the same bin
 * as the formula (fpr_hist_bin_of) for every double within 4000 ulps of every edge,
 * at the range's ends and subnormals, and for 200,000 log-uniform values. */
static int hist_bin_added(double v)
{
    fpr_hist h;
    memset(&h, 0, sizeof h);
    fpr_hist_add(&h, v);
    for (int k = 0; k < FPR_HIST_BINS; k++)
        if (h.bin[k])
            return k;
    return -1;
}

static void check_bin(double v)
{
    int got = hist_bin_added(v), want = fpr_hist_bin_of(v);
    if (got != want)
        fail_msg("histogram bin of %a: %d by the table, %d by the formula", v, got, want);
}

static void test_hist_bins(void **state)
{
    (void)state;
    long n = 0;
    for (int k = 1; k < FPR_HIST_BINS; k++) {
        const double e = pow(10.0, FPR_HIST_LO + k * FPR_HIST_W);
        double lo = e, hi = e;
        for (int u = 0; u < 4000; u++) {
            lo = nextafter(lo, 0.0);
            hi = nextafter(hi, INFINITY);
            check_bin(lo);
            check_bin(hi);
            n += 2;
        }
        check_bin(e);
        /* the formula steps here: the bins on both sides are met */
        assert_int_equal(fpr_hist_bin_of(nextafter(e, 0.0) * (1 - 1e-9)), k - 1);
        assert_int_equal(fpr_hist_bin_of(e * (1 + 1e-9)), k);
    }
    const double ends[] = {0x1p-1074, 0x1p-1022, 1e-300, 1e-17, 1.0, 1e34, 0x1.fffffffffffffp+1023,
                           INFINITY};
    for (size_t i = 0; i < sizeof ends / sizeof *ends; i++)
        check_bin(ends[i]);
    tu_rng r = {20261201};
    for (int i = 0; i < 200000; i++)
        check_bin(pow(10.0, tu_uniform_f(&r, -20.0f, 2.0f) + tu_uniform_f(&r, 0.0f, 1e-3f)));
    assert_int_equal(hist_bin_added(0.0), -1);
    assert_true(n == 2L * 4000 * (FPR_HIST_BINS - 1));
}

/* The comparison with the run's shared part (chains, spans, the truth picks' exact
 * rows) gives every metric and per-token field of the comparison without it, on real
 * cases, atomized, far from the origin (loose backends mismatch there), for backends
 * that match the truth and ones that do not; a shared part of another truth is refused. */
static void test_shared_equals_own(void **state)
{
    (void)state;
    const char *path = "cases/1a8o.h5";
    if (!tu_file_exists(path))
        skip();
    fpr_case *base = NULL, *all = NULL;
    assert_int_equal(fpr_case_read(path, &base), FPR_OK);
    assert_int_equal(fpr_case_atomize_all(base, &all), FPR_OK);
    static const char *const names[] = {"exact_diff", "matmul", "matmul_bf16", "matmul_tf32",
                                        "fp64"};
    int64_t mism = 0, equal = 0;
    for (int v = 0; v < 2; v++) {
        fpr_case *c = v ? all : base;
        fpr_case_translate(c, 1000.0); /* (each case once) */
        fpr_frames *tr = tu_run(c, "truth");
        fpr_cmp_shared *sh = NULL;
        assert_int_equal(fpr_cmp_shared_new(c, tr, 2, &sh), FPR_OK);
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
            const fpr_backend *b = fpr_backend_find(names[k]);
            assert_non_null(b);
            fpr_frames *f = tu_run(c, names[k]);
            fpr_metrics m1, m2;
            fpr_metrics_init(&m1);
            fpr_metrics_init(&m2);
            fpr_hist h1, h2;
            memset(&h1, 0, sizeof h1);
            memset(&h2, 0, sizeof h2);
            fpr_token_results *t1 = NULL, *t2 = NULL;
            assert_int_equal(fpr_study_compare(c, tr, f, b, NULL, 1, &m1, &t1, &h1), FPR_OK);
            assert_int_equal(fpr_study_compare_shared(c, tr, f, b, NULL, sh, &m2, &t2, &h2),
                             FPR_OK);
            for (size_t q = 0; q < fpr_metric_nfields; q++) {
                double a = fpr_metric_get(&m1, q), bb = fpr_metric_get(&m2, q);
                if (!(a == bb || (isnan(a) && isnan(bb))))
                    fail_msg("%s %s: metric %s %.17g without the shared part, %.17g with",
                             c->name, names[k], fpr_metric_fields[q].name, a, bb);
            }
            assert_memory_equal(&h1, &h2, sizeof h1);
            assert_tok_equal(t1, t2);
            mism += m1.mismatch;
            equal += m1.tokens - m1.mismatch;
            fpr_token_results_free(t1);
            fpr_token_results_free(t2);
            fpr_frames_free(f);
        }
        /* another truth's shared part answers for other picks: refused */
        fpr_frames *tr2 = tu_run(c, "truth");
        fpr_frames *f = tu_run(c, "exact_diff");
        fpr_metrics m;
        fpr_metrics_init(&m);
        fpr_token_results *t = NULL;
        assert_int_equal(fpr_study_compare_shared(c, tr2, f, fpr_backend_find("exact_diff"),
                                                  NULL, sh, &m, &t, NULL),
                         FPR_EINTERNAL);
        assert_null(t);
        fpr_frames_free(f);
        fpr_frames_free(tr2);
        fpr_cmp_shared_free(sh);
        fpr_frames_free(tr);
    }
    printf("# shared comparison: %lld mismatching and %lld matching token comparisons equal\n",
           (long long)mism, (long long)equal);
    assert_true(mism > 0 && equal > 0); /* both paths were exercised */
    fpr_case_free(base);
    fpr_case_free(all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_agrees),
        cmocka_unit_test(test_rounded_tie_explained),
        cmocka_unit_test(test_rounded_tie_unexplained),
        cmocka_unit_test(test_reordered),
        cmocka_unit_test(test_swapped),
        cmocka_unit_test(test_truth_tie_group),
        cmocka_unit_test(test_metrics_table),
        cmocka_unit_test(test_check_gate),
        cmocka_unit_test(test_degenerate_valid_matches_frames),
        cmocka_unit_test(test_shared_equals_own),
        cmocka_unit_test(test_hist_bins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
