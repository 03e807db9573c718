/* test_check.c — the gate and its baseline (src/study/check.c), summary.json, and the
 * JSON layer (src/io/jsonutil.c): names that old hand-written JSON misread (backslash,
 * quote, 20,000 characters, not UTF-8), a gate that compared nothing, baselines with
 * wrong types, out-of-range or duplicate entries. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "testutil.h"
#include "io/jsonutil.h"
#include "study/study.h"

/* A results set of n runs, each with one backend "matmul" (nb = 0: none). */
typedef struct fake {
    fpr_study_results r;
    fpr_study_run *runs;
    fpr_study_backend *b;
    char **names;
} fake;

static char v_[] = "0", ref_[] = "truth", mo_[] = "all", bn_[] = "matmul";

static void fake_init(fake *f, size_t n, size_t nb, const char *const *case_names)
{
    memset(f, 0, sizeof *f);
    f->runs = calloc(n + 1, sizeof *f->runs);
    f->b = calloc(n + 1, sizeof *f->b);
    f->names = calloc(n + 1, sizeof *f->names);
    assert_non_null(f->runs);
    for (size_t i = 0; i < n; i++) {
        f->names[i] = strdup(case_names[i]);
        fpr_study_run *run = &f->runs[i];
        run->key = f->names[i];
        run->case_name = f->names[i];
        run->mode = mo_;
        run->offset = (double)i * 0.1; /* not short in decimal: must round-trip */
        run->nb = nb;
        run->b = &f->b[i];
        f->b[i].name = bn_;
        fpr_metrics_init(&f->b[i].m);
        f->b[i].m.tokens = 100;
        f->b[i].m.mismatch = 2;
    }
    f->r.version = v_;
    f->r.reference = ref_;
    f->r.nruns = n;
    f->r.runs = f->runs;
}

static void fake_free(fake *f)
{
    for (size_t i = 0; i < f->r.nruns; i++)
        free(f->names[i]);
    free(f->names);
    free(f->runs);
    free(f->b);
}

/* tu_tmp's buffer is reused: keep a copy. */
static const char *tmp_path(const char *name)
{
    static char paths[16][512];
    static int k;
    char *p = paths[k++ % 16];
    snprintf(p, 512, "%s", tu_tmp(name));
    return p;
}

static FILE *devnull(void)
{
    FILE *n = fopen("/dev/null", "w");
    assert_non_null(n);
    return n;
}

/* The gate's verdict and its closing line (for "N of M compared"). */
static int gate(const fpr_study_results *r, const char *base, int allow_new, char *line,
                size_t n)
{
    FILE *t = tmpfile();
    assert_non_null(t);
    int rc = fpr_check_ex(r, base, allow_new, t);
    rewind(t);
    char buf[512];
    line[0] = 0;
    while (fgets(buf, sizeof buf, t))
        if (strncmp(buf, "check:", 6) == 0)
            snprintf(line, n, "%s", buf);
    fclose(t);
    return rc;
}

/* Names the old writer wrote unescaped (backslash, quote) or overflowed its buffer with
 * (20,000 characters, heap overflow under ASan), over many runs: written, read back,
 * every result compared. */
static void test_baseline_round_trip_names(void **state)
{
    (void)state;
    enum { N = 300 };
    char *big = malloc(20001);
    memset(big, 'q', 20000);
    big[20000] = 0;
    const char *names[N];
    char buf[N][32];
    for (int i = 0; i < N; i++) {
        snprintf(buf[i], sizeof buf[i], "c%03d", i);
        names[i] = buf[i];
    }
    names[0] = "back\\slash";
    names[1] = "back_slash";
    names[2] = "quo\"te";
    names[3] = big;
    names[4] = "tab\tnew\nline \xc3\xa9"; /* controls and UTF-8 */
    fake f;
    fake_init(&f, N, 1, names);
    const char *path = tmp_path("names.json");
    assert_int_equal(fpr_baseline_write(&f.r, path), FPR_OK);
    char line[512];
    assert_int_equal(gate(&f.r, path, 0, line, sizeof line), 0);
    char want[128];
    snprintf(want, sizeof want, "%d of %d run x backend results compared", N, N);
    assert_non_null(strstr(line, want));
    /* a grown count under the long name is caught: the entry was read, not dropped */
    f.b[3].m.mismatch = 3;
    assert_int_equal(gate(&f.r, path, 0, line, sizeof line), 1);
    fake_free(&f);
    free(big);
}

/* jansson refuses a name that is not UTF-8: the writers fail with a message, leaving
 * no file, where the old writer produced invalid JSON. */
static void test_not_utf8_refused(void **state)
{
    (void)state;
    const char *names[1] = {"bad\xff\xfe"};
    fake f;
    fake_init(&f, 1, 1, names);
    const char *b = tmp_path("bad.json"), *s = tmp_path("bad-summary.json");
    assert_true(fpr_baseline_write(&f.r, b) < 0);
    assert_non_null(strstr(fpr_errmsg(), "UTF-8"));
    assert_false(tu_file_exists(b));
    assert_true(fpr_summary_write(&f.r, s) < 0);
    assert_false(tu_file_exists(s));
    /* NaN values become null: the summary stays valid JSON */
    f.runs[0].case_name = f.runs[0].key = bn_;
    f.b[0].m.err_bound_max = NAN;
    f.runs[0].offset = NAN;
    assert_int_equal(fpr_summary_write(&f.r, s), FPR_OK);
    json_t *doc;
    assert_int_equal(fpr_json_read_file(s, &doc), FPR_OK);
    const json_t *run0 = json_array_get(json_object_get(doc, "runs"), 0);
    assert_true(json_is_null(json_object_get(run0, "offset")));
    json_decref(doc);
    f.runs[0].case_name = f.runs[0].key = f.names[0];
    fake_free(&f);
}

/* The gate fails when it compared nothing (it used to pass on each of these). */
static void test_gate_compared_nothing(void **state)
{
    (void)state;
    const char *names[2] = {"a", "b"};
    char line[512];
    fake f;
    fake_init(&f, 2, 1, names);
    const char *path = tmp_path("ab.json");
    assert_int_equal(fpr_baseline_write(&f.r, path), FPR_OK);

    /* an empty baseline */
    const char *empty = tmp_path("empty.json");
    FILE *e = fopen(empty, "w");
    fputs("{\"format\": \"frameprec-baseline\", \"version\": 1, \"entries\": []}\n", e);
    fclose(e);
    assert_int_equal(gate(&f.r, empty, 0, line, sizeof line), 1);
    assert_int_equal(gate(&f.r, empty, 1, line, sizeof line), 1);

    /* results the baseline does not cover at all, even with --allow-new */
    const char *other[1] = {"zzz"};
    fake g;
    fake_init(&g, 1, 1, other);
    assert_int_equal(gate(&g.r, path, 0, line, sizeof line), 1);
    assert_int_equal(gate(&g.r, path, 1, line, sizeof line), 1);
    fake_free(&g);

    /* one new run beside a covered one: fails, passes only with --allow-new */
    const char *abc[3] = {"a", "b", "c"};
    fake h;
    fake_init(&h, 3, 1, abc);
    assert_int_equal(gate(&h.r, path, 0, line, sizeof line), 1);
    assert_int_equal(gate(&h.r, path, 1, line, sizeof line), 0);
    assert_non_null(strstr(line, "2 of 3"));
    fake_free(&h);

    /* runs without backend results (study --backends truth), and no runs at all */
    fake z;
    fake_init(&z, 2, 0, names);
    assert_int_equal(gate(&z.r, path, 1, line, sizeof line), 1);
    assert_true(fpr_baseline_write(&z.r, tmp_path("none.json")) < 0);
    z.r.nruns = 0;
    assert_int_equal(gate(&z.r, path, 1, line, sizeof line), 1);
    z.r.nruns = 2;
    fake_free(&z);

    /* a changed case under the same name (token count differs) fails */
    f.b[0].m.tokens = 101;
    assert_int_equal(gate(&f.r, path, 0, line, sizeof line), 1);
    fake_free(&f);
}

/* Baselines the old reader misread or accepted: each refused with a message (< 0). */
static void test_baseline_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        /* not JSON */
        "{\"format\": \"frameprec-baseline\", \"version\": 1, \"entries\": [",
        /* a count that does not fit (printed as -9223372036854775808 before) */
        "{\"format\": \"frameprec-baseline\", \"version\": 1, \"entries\": [{\"case\": \"a\", "
        "\"mode\": \"all\", \"offset\": 0, \"backend\": \"matmul\", \"tokens\": 100, "
        "\"mismatch\": 1e300, \"unexplained\": 0, \"flips\": 0}]}",
        "{\"format\": \"frameprec-baseline\", \"version\": 1, \"entries\": [{\"case\": \"a\", "
        "\"mode\": \"all\", \"offset\": 0, \"backend\": \"matmul\", \"tokens\": 100, "
        "\"mismatch\": 99999999999999999999999, \"unexplained\": 0, \"flips\": 0}]}",
        /* negative, a string, missing */
        "{\"format\": \"frameprec-baseline\", \"version\": 1, \"entries\": [{\"case\": \"a\", "
        "\"mode\": \"all\", \"offset\": 0, \"backend\": \"matmul\", \"tokens\": 100, "
        "\"mismatch\": -5, \"unexplained\": 0, \"flips\": 0}]}",
        "{\"format\": \"frameprec-baseline\", \"version\": 1, \"entries\": [{\"case\": \"a\", "
        "\"mode\": \"all\", \"offset\": 0, \"backend\": \"matmul\", \"tokens\": 100, "
        "\"mismatch\": \"2\", \"unexplained\": 0, \"flips\": 0}]}",
        "{\"format\": \"frameprec-baseline\", \"version\": 1, \"entries\": [{\"case\": \"a\", "
        "\"mode\": \"all\", \"offset\": 0, \"backend\": \"matmul\", \"tokens\": 100, "
        "\"unexplained\": 0, \"flips\": 0}]}",
        /* two entries for one result; a key given twice */
        "{\"format\": \"frameprec-baseline\", \"version\": 1, \"entries\": [{\"case\": \"a\", "
        "\"mode\": \"all\", \"offset\": 0, \"backend\": \"matmul\", \"tokens\": 100, "
        "\"mismatch\": 2, \"unexplained\": 0, \"flips\": 0}, {\"case\": \"a\", \"mode\": "
        "\"all\", \"offset\": 0, \"backend\": \"matmul\", \"tokens\": 100, \"mismatch\": 9, "
        "\"unexplained\": 0, \"flips\": 0}]}",
        "{\"format\": \"frameprec-baseline\", \"version\": 1, \"entries\": [{\"case\": \"a\", "
        "\"mode\": \"all\", \"offset\": 0, \"backend\": \"matmul\", \"tokens\": 100, "
        "\"mismatch\": 2, \"mismatch\": 9, \"unexplained\": 0, \"flips\": 0}]}",
        /* another format, another version */
        "{\"format\": \"frameprec-summary\", \"version\": 1, \"entries\": []}",
        "{\"format\": \"frameprec-baseline\", \"version\": 2, \"entries\": []}",
    };
    const char *names[1] = {"a"};
    fake f;
    fake_init(&f, 1, 1, names);
    const char *path = tmp_path("invalid.json");
    FILE *nul = devnull();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FILE *o = fopen(path, "w");
        fputs(bad[i], o);
        fclose(o);
        int rc = fpr_check(&f.r, path, nul);
        if (rc >= 0)
            fail_msg("baseline %zu accepted (rc %d): %s", i, rc, bad[i]);
    }
    fclose(nul);
    fake_free(&f);
}

/* The committed baseline (written by the old code) still reads. */
static void test_committed_baseline_reads(void **state)
{
    (void)state;
    const char *names[1] = {"133d"};
    fake f;
    fake_init(&f, 1, 1, names);
    f.runs[0].offset = 0;
    f.runs[0].mode = (char *)(uintptr_t) "native";
    f.b[0].m.tokens = 40;
    f.b[0].m.mismatch = 0;
    char line[512];
    FILE *b = fopen("reports/baseline.json", "r");
    if (!b) {
        fake_free(&f);
        skip();
    }
    fclose(b);
    assert_int_equal(gate(&f.r, "reports/baseline.json", 0, line, sizeof line), 0);
    assert_non_null(strstr(line, "1 of 1"));
    fake_free(&f);
}

/* A hand-edited results file: a count that is NaN, a string or 1e300 is refused on
 * reading (the gate passed on them before). */
static void set_attr(const char *path, const char *grp, const char *name, int as_string,
                     double v)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t g = H5Gopen2(f, grp, H5P_DEFAULT);
    assert_true(g >= 0);
    H5Adelete(g, name);
    hid_t sp = H5Screate(H5S_SCALAR);
    if (as_string) {
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, 2);
        hid_t a = H5Acreate2(g, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(a, t, "2");
        H5Aclose(a);
        H5Tclose(t);
    } else {
        hid_t a = H5Acreate2(g, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(a, H5T_NATIVE_DOUBLE, &v);
        H5Aclose(a);
    }
    H5Sclose(sp);
    H5Gclose(g);
    H5Fclose(f);
}

static void test_edited_results_refused(void **state)
{
    (void)state;
    const char *names[1] = {"a"};
    fake f;
    fake_init(&f, 1, 1, names);
    const char *path = tmp_path("edited.h5");
    struct { const char *grp, *attr; int str; double v; } edits[] = {
        {"runs/a/matmul", "mismatch", 0, NAN},
        {"runs/a/matmul", "mismatch", 1, 0},
        {"runs/a/matmul", "mismatch", 0, 1e300},
        {"runs/a/matmul", "tokens", 0, -7},
        {"runs/a/matmul", "unexplained", 0, 0.5},
        {"runs/a", "offset", 0, NAN},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        assert_int_equal(fpr_results_write_run(path, &f.r, &f.runs[0], NULL, NULL, NULL), FPR_OK);
        fpr_study_results *r = NULL;
        assert_int_equal(fpr_results_read(path, &r), FPR_OK); /* unedited: fine */
        fpr_study_results_free(r);
        set_attr(path, edits[i].grp, edits[i].attr, edits[i].str, edits[i].v);
        r = NULL;
        int rc = fpr_results_read(path, &r);
        if (rc >= 0)
            fail_msg("edit %zu (%s = %g%s) accepted", i, edits[i].attr, edits[i].v,
                     edits[i].str ? " as a string" : "");
        assert_null(r);
    }
    fake_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_baseline_round_trip_names),
        cmocka_unit_test(test_not_utf8_refused),
        cmocka_unit_test(test_gate_compared_nothing),
        cmocka_unit_test(test_baseline_invalid),
        cmocka_unit_test(test_committed_baseline_reads),
        cmocka_unit_test(test_edited_results_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
