/* cmd_score.c — `frameprec score CASE.h5 FRAMES.h5` (SPEC §11): frames made by any
 * program scored against the exact truth with the study's comparison. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "io/jsonutil.h"
#include "study/study.h"

static void help(FILE *o)
{
    fprintf(o,
            "usage: frameprec score CASE.h5 FRAMES.h5 [options]\n"
            "Scores a frames file made by any program (phi and valid_frame_mask required;\n"
            "a_index/b_index/c_index optional, else recovered from phi by coordinates)\n"
            "against the exact truth with every SPEC §5 metric, as an implementation of a\n"
            "declared arithmetic (whose bound and values explain its mismatches).\n\n"
            "  --as BACKEND          declared arithmetic (default: the file's 'arithmetic'\n"
            "                        attribute, else exact_diff = OpenFold3's formula)\n"
            "  -p, --params K=V,...  options of the declared backend\n"
            "      --atomize-all     the frames were computed with every atom atomized\n"
            "      --translate A     ... with A angstrom added to every coordinate\n"
            "      --json FILE       write the scores and every flagged token as JSON\n"
            "      --fail-on LIST    exit 1 when any of changed,degenerate,flips occurs\n"
            "      --list N          tokens listed in the summary (default 20)\n"
            "  -j, --jobs N          threads for the truth (results identical for any N)\n"
            "      --max-memory B    refuse cases needing more than B bytes\n"
            "  -q, --quiet           no summary (exit status and --json only)\n"
            "Exit status: 0; 1 when a --fail-on condition holds or on bad input; 2 usage.\n");
}

static const char *kind_name(int k)
{
    static const char *const n[] = {"equal", "self_not_first", "swapped", "one_differs",
                                    "both_differ"};
    return k >= 0 && k <= 4 ? n[k] : "not_atomized";
}

static const char *cause_name(int c)
{
    static const char *const n[] = {"none", "rounded_tie", "reordered", "inconsistent",
                                    "unknown"};
    return c >= 0 && c <= 4 ? n[c] : "?";
}

typedef struct score_ctx {
    const char *case_path, *frames_path, *as_name, *mode;
    double translate;
    int have_idx;
    int64_t ambiguous, unmatched;
} score_ctx;

static int write_json(const char *path, const score_ctx *x, const fpr_case *c,
                      const fpr_frames *tr, const fpr_frames *f, const fpr_score *sc)
{
    fpr_jb b = {0};
    json_t *root = json_object(), *met = json_object(), *toks = json_array();
    if (!root || !met || !toks) {
        json_decref(root);
        json_decref(met);
        json_decref(toks);
        return FPR_ENOMEM;
    }
    fpr_jb_str(&b, root, "format", "frameprec-score");
    fpr_jb_int(&b, root, "version", 1);
    fpr_jb_str(&b, root, "frameprec_version", FPR_VERSION_STRING);
    fpr_jb_str(&b, root, "case", x->case_path);
    fpr_jb_str(&b, root, "case_name", c->name ? c->name : "");
    fpr_jb_str(&b, root, "frames", x->frames_path);
    fpr_jb_str(&b, root, "arithmetic", x->as_name);
    fpr_jb_str(&b, root, "mode", x->mode);
    fpr_jb_real(&b, root, "translate", x->translate);
    fpr_jb_int(&b, root, "samples", (long long)c->S);
    fpr_jb_int(&b, root, "tokens", (long long)c->n_token);
    fpr_jb_str(&b, root, "indices", x->have_idx ? "given" : "recovered from phi");
    fpr_jb_int(&b, root, "ambiguous", (long long)x->ambiguous);
    fpr_jb_int(&b, root, "unmatched", (long long)x->unmatched);
    fpr_jb_int(&b, root, "changed", (long long)sc->changed);
    fpr_jb_int(&b, root, "tie_order", (long long)sc->tie_order);
    fpr_jb_int(&b, root, "vs_declared", (long long)sc->vs_declared);
    fpr_jb_int(&b, root, "degenerate", (long long)sc->m.degenerate);
    fpr_jb_int(&b, root, "degenerate_valid", (long long)sc->m.degenerate_valid);
    fpr_jb_int(&b, root, "flips", (long long)(sc->m.flip_01 + sc->m.flip_10));
    for (size_t k = 0; k < fpr_metric_nfields; k++) {
        const fpr_metric_field *mf = &fpr_metric_fields[k];
        double v = fpr_metric_get(&sc->m, k);
        if (mf->is_int)
            fpr_jb_int(&b, met, mf->name, (long long)v);
        else
            fpr_jb_real(&b, met, mf->name, v);
    }
    fpr_jb_set(&b, root, "metrics", met);
    for (int64_t s = 0; s < c->S; s++)
        for (int64_t t = 0; t < c->n_token; t++) {
            size_t o = (size_t)(s * c->n_token + t);
            uint8_t fl = sc->flag[o];
            if (!fl)
                continue;
            json_t *e = json_object(), *flags = json_array();
            if (!e || !flags) {
                json_decref(e);
                json_decref(flags);
                b.rc = FPR_ENOMEM;
                break;
            }
            static const struct { uint8_t bit; const char *name; } names[] = {
                {FPR_SCORE_CHANGED, "changed"}, {FPR_SCORE_DEGENERATE, "degenerate"},
                {FPR_SCORE_FLIP, "flip"}, {FPR_SCORE_TIE_ORDER, "tie_order"}};
            for (size_t q = 0; q < 4; q++)
                if (fl & names[q].bit)
                    fpr_jb_append(&b, flags, json_string(names[q].name));
            fpr_jb_int(&b, e, "sample", (long long)s);
            fpr_jb_int(&b, e, "token", (long long)t);
            fpr_jb_set(&b, e, "flags", flags);
            fpr_jb_str(&b, e, "kind", kind_name(sc->tr->kind[o]));
            if (sc->tr->kind[o] != FPR_KIND_EQUAL && sc->tr->kind[o] != FPR_KIND_NONE) {
                fpr_jb_str(&b, e, "cause", cause_name(sc->tr->cause[o]));
                fpr_jb_set(&b, e, "explained", json_boolean(sc->tr->explained[o]));
            }
            fpr_jb_int(&b, e, "valid_flip", sc->tr->valid_flip[o]);
            fpr_jb_int(&b, e, "a", f->a_index[o]);
            fpr_jb_int(&b, e, "b", f->b_index[o]);
            fpr_jb_int(&b, e, "c", f->c_index[o]);
            fpr_jb_int(&b, e, "truth_a", tr->a_index[o]);
            fpr_jb_int(&b, e, "truth_c", tr->c_index[o]);
            fpr_jb_real(&b, e, "phi_change", sc->tr->phi_change[o]);
            fpr_jb_append(&b, toks, e);
        }
    fpr_jb_set(&b, root, "flagged_tokens", toks);
    int rc = b.rc ? b.rc : fpr_json_write_file(path, root, 1);
    json_decref(root);
    return rc;
}

static void summary(FILE *o, const score_ctx *x, const fpr_case *c, const fpr_frames *tr,
                    const fpr_frames *f, const fpr_score *sc, long list)
{
    const fpr_metrics *m = &sc->m;
    fprintf(o, "frameprec score: %s vs the exact truth of %s (%s atomization, +%g A), as an "
               "implementation of %s\n", x->frames_path, c->name ? c->name : x->case_path,
            x->mode, x->translate, x->as_name);
    fprintf(o, "  indices: %s; %lld tokens with ambiguous coordinates, %lld unmatched slots\n",
            x->have_idx ? "given" : "recovered from phi", (long long)x->ambiguous,
            (long long)x->unmatched);
    fprintf(o, "  %lld samples x %lld tokens; %lld atomized token-samples compared\n",
            (long long)c->S, (long long)c->n_token, (long long)m->tokens);
    fprintf(o, "  1. degenerate (a or c = b): %lld, of which marked valid: %lld\n",
            (long long)m->degenerate, (long long)m->degenerate_valid);
    fprintf(o, "  2. valid-mask flips: 0->1 %lld, 1->0 %lld (pick changed %lld, angle %lld)\n",
            (long long)m->flip_01, (long long)m->flip_10, (long long)m->flip_pick,
            (long long)m->flip_angle);
    fprintf(o, "  3. picks changed: %lld (self not first %lld, swapped %lld, one differs %lld, "
               "both differ %lld); rounded tie %lld, reordered %lld, inconsistent %lld; "
               "unexplained %lld\n",
            (long long)m->mismatch, (long long)m->m_self, (long long)m->m_swapped,
            (long long)m->m_one, (long long)m->m_both, (long long)m->rounded_tie,
            (long long)m->reordered, (long long)m->inconsistent, (long long)m->unexplained);
    fprintf(o, "     phi changed: %lld tokens, largest coordinate change %.4g A\n",
            (long long)m->phi_changed, m->phi_max_change);
    fprintf(o, "  4. tie order: %lld tokens pick another atom of equal %s value\n",
            (long long)sc->tie_order, x->as_name);
    fprintf(o, "  changed (beyond tie order): %lld; differing from %s's own frames beyond tie "
               "order: %lld\n", (long long)sc->changed, x->as_name, (long long)sc->vs_declared);
    long shown = 0;
    for (int64_t s = 0; s < c->S && shown < list; s++)
        for (int64_t t = 0; t < c->n_token && shown < list; t++) {
            size_t o2 = (size_t)(s * c->n_token + t);
            uint8_t fl = sc->flag[o2];
            if (!(fl & (FPR_SCORE_CHANGED | FPR_SCORE_DEGENERATE)))
                continue;
            fprintf(o, "    sample %lld token %lld: %s%s%s (a,c) = (%d,%d), truth (%d,%d)%s\n",
                    (long long)s, (long long)t, kind_name(sc->tr->kind[o2]),
                    fl & FPR_SCORE_DEGENERATE ? ", degenerate" : "",
                    fl & FPR_SCORE_FLIP ? ", valid flipped" : "", f->a_index[o2],
                    f->c_index[o2], tr->a_index[o2], tr->c_index[o2],
                    sc->tr->kind[o2] != FPR_KIND_EQUAL && sc->tr->kind[o2] != FPR_KIND_NONE &&
                            !sc->tr->explained[o2]
                        ? " UNEXPLAINED"
                        : "");
            shown++;
        }
}

int fpr_cmd_score(int argc, char **argv)
{
    static const struct option opts[] = {
        {"as", required_argument, 0, 'a'},        {"params", required_argument, 0, 'p'},
        {"atomize-all", no_argument, 0, 'Z'},     {"translate", required_argument, 0, 'T'},
        {"json", required_argument, 0, 'J'},      {"fail-on", required_argument, 0, 'F'},
        {"list", required_argument, 0, 'L'},      {"jobs", required_argument, 0, 'j'},
        {"max-memory", required_argument, 0, 'M'}, {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},            {0, 0, 0, 0}};
    const char *as_name = NULL, *params = NULL, *json = NULL;
    int atomize = 0, quiet = 0, jobs = 1, fail_changed = 0, fail_degen = 0, fail_flips = 0;
    double shift = 0;
    long v, list = 20;
    uint64_t bytes;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "p:j:qh", opts, NULL)) != -1) {
        switch (ch) {
        case 'a': as_name = optarg; break;
        case 'p': params = optarg; break;
        case 'Z': atomize = 1; break;
        case 'T':
            if (fpr_cli_parse_double(optarg, &shift))
                return fpr_cli_fail("score", fpr_error(FPR_EUSAGE, "--translate needs a number"));
            break;
        case 'J': json = optarg; break;
        case 'F': {
            char buf[256];
            snprintf(buf, sizeof buf, "%s", optarg);
            char *save = NULL;
            for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (!strcmp(t, "changed")) fail_changed = 1;
                else if (!strcmp(t, "degenerate")) fail_degen = 1;
                else if (!strcmp(t, "flips")) fail_flips = 1;
                else
                    return fpr_cli_fail("score", fpr_error(FPR_EUSAGE, "--fail-on: unknown "
                                        "condition '%s' (valid: changed, degenerate, flips)", t));
            }
            break;
        }
        case 'L':
            if (fpr_cli_parse_int(optarg, &list) || list < 0)
                return fpr_cli_fail("score", fpr_error(FPR_EUSAGE, "--list needs N >= 0"));
            break;
        case 'j':
            if (fpr_cli_parse_int(optarg, &v) || v < 1 || v > 1024)
                return fpr_cli_fail("score", fpr_error(FPR_EUSAGE, "--jobs needs 1..1024"));
            jobs = (int)v;
            break;
        case 'M':
            if (fpr_cli_parse_bytes(optarg, &bytes))
                return fpr_cli_fail("score", fpr_error(FPR_EUSAGE, "--max-memory needs a size "
                                                       "like 512M or 2G (got '%s')", optarg));
            fpr_set_max_memory(bytes);
            break;
        case 'q': quiet = 1; break;
        case 'h': help(stdout); return 0;
        default: help(stderr); return 2;
        }
    }
    if (optind != argc - 2) {
        help(stderr);
        return 2;
    }
    score_ctx x = {argv[optind], argv[optind + 1], NULL, atomize ? "all" : "native", shift, 0,
                   0, 0};
    fpr_case *c = NULL, *c2 = NULL;
    fpr_frames *ext = NULL, *truth = NULL, *decl = NULL;
    fpr_score *sc = NULL;
    const fpr_backend *as = NULL, *tb = fpr_backend_find("truth");
    /* --json is checked before any computing: never an input, a link, a FIFO, a device */
    fpr_input_register(x.case_path);
    fpr_input_register(x.frames_path);
    int rc = tb ? FPR_OK : FPR_EUSAGE;
    if (!rc && json)
        rc = fpr_output_check(json);
    if (!rc)
        rc = fpr_case_read(x.case_path, &c);
    if (!rc && atomize && !(rc = fpr_case_atomize_all(c, &c2))) {
        fpr_case_free(c);
        c = c2;
    }
    if (!rc && shift != 0) {
        fpr_case_translate(c, shift);
        rc = fpr_case_validate(c, x.case_path);
    }
    if (!rc)
        rc = fpr_frames_read_external(x.frames_path, c->S, c->n_token, &ext, &x.have_idx);
    char *arith = NULL, *aparams = NULL;
    if (!rc && !as_name) { /* the declared arithmetic the adapter recorded */
        rc = fpr_frames_attr_string(x.frames_path, "arithmetic", &arith);
        if (!rc && !params)
            rc = fpr_frames_attr_string(x.frames_path, "arithmetic_params", &aparams);
        as_name = arith && arith[0] ? arith : "exact_diff";
        if (aparams && aparams[0])
            params = aparams;
    }
    if (!rc && !(as = fpr_backend_find(as_name)))
        rc = FPR_EUSAGE;
    x.as_name = as_name;
    fpr_run_opts ro;
    fpr_run_opts_init(&ro);
    ro.jobs = jobs;
    if (!rc)
        rc = fpr_frames_compute(c, tb, &ro, &truth);
    ro.params = params;
    if (!rc)
        rc = fpr_frames_compute(c, as, &ro, &decl);
    if (!rc && !x.have_idx)
        rc = fpr_score_recover(c, truth, ext, &x.ambiguous, &x.unmatched);
    else if (!rc)
        rc = fpr_score_check_indices(c, ext, x.frames_path);
    if (!rc)
        rc = fpr_score_run(c, truth, ext, decl, as, params, jobs, &sc);
    if (!rc && json)
        rc = write_json(json, &x, c, truth, ext, sc);
    int status = 0;
    if (!rc) {
        if (!quiet)
            summary(stdout, &x, c, truth, ext, sc, list);
        int fc = fail_changed && sc->changed > 0, fd = fail_degen && sc->m.degenerate > 0,
            ff = fail_flips && sc->m.flip_01 + sc->m.flip_10 > 0;
        if (fc || fd || ff) {
            fprintf(stderr, "frameprec score: FAIL:%s%s%s\n", fc ? " changed" : "",
                    fd ? " degenerate" : "", ff ? " flips" : "");
            status = 1;
        }
    }
    free(arith);
    free(aparams);
    fpr_score_free(sc);
    fpr_frames_free(ext);
    fpr_frames_free(truth);
    fpr_frames_free(decl);
    fpr_case_free(c);
    return rc ? fpr_cli_fail("score", rc) : status;
}
