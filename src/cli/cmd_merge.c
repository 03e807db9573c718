/* cmd_merge.c — `frameprec merge -o DIR SHARD…`: joins the results of `study --shard`. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "study/study.h"

static void help(FILE *o)
{
    fprintf(o, "usage: frameprec merge -o DIR RESULTS...\n"
               "Joins the results of `frameprec study --shard I/N` runs (each a results.h5 or\n"
               "a study directory) into DIR/results.h5, DIR/summary.json and the report.\n"
               "The inputs must form one study: the same plan (program, backends, modes,\n"
               "offsets, cases and their content, shard count) and every shard exactly once;\n"
               "anything else is refused, naming the difference.\n\n"
               "  -o, --output DIR   output directory (created if missing)\n"
               "      --no-report    results.h5 and summary.json only\n");
}

/* Names the first line where two plans differ (backends, modes, offsets, a case, the
 * shard count, the program). */
static int plan_diff(const char *a_path, const char *a, const char *b_path, const char *b)
{
    for (;;) {
        size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
        if (la != lb || strncmp(a, b, la) != 0) {
            if (!*a || !*b)
                return fpr_error(FPR_EINVAL, "%s and %s are not shards of one study: %s has "
                                 "more in its plan ('%.*s')", a_path, b_path,
                                 *a ? a_path : b_path, (int)(*a ? la : lb), *a ? a : b);
            return fpr_error(FPR_EINVAL, "%s and %s are not shards of one study: '%.*s' vs "
                             "'%.*s'", a_path, b_path, (int)(la > 300 ? 300 : la), a,
                             (int)(lb > 300 ? 300 : lb), b);
        }
        if (!a[la])
            return FPR_OK;
        a += la + 1;
        b += lb + 1;
    }
}

int fpr_cmd_merge(int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, 0, 'o'},
                                         {"no-report", no_argument, 0, 'N'},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *outdir = NULL;
    int noreport = 0, ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'o': outdir = optarg; break;
        case 'N': noreport = 1; break;
        case 'h': help(stdout); return 0;
        default: help(stderr); return 2;
        }
    }
    if (!outdir || optind >= argc) {
        help(stderr);
        return 2;
    }
    size_t n = (size_t)(argc - optind);
    char **in = calloc(n, sizeof *in);
    fpr_study_results *first = NULL, *r = NULL;
    int rc = in ? fpr_output_dir_check(outdir) : FPR_ENOMEM;
    for (size_t i = 0; !rc && i < n; i++)
        if (!(in[i] = fpr_results_path(argv[optind + (int)i])))
            rc = FPR_ENOMEM;
        else
            fpr_input_register(in[i]); /* merge -o SHARD never replaces a shard */
    if (!rc)
        rc = fpr_results_read(in[0], &first);
    if (!rc && !first->plan[0])
        rc = fpr_error(FPR_EINVAL, "%s: has no study plan (written by an older frameprec): "
                       "merge cannot tell whether the shards form one study; rerun them", in[0]);
    int nshard = 0;
    char *seen = NULL;
    if (!rc && (sscanf(first->shard, "%*d/%d", &nshard) != 1 || nshard < 1 ||
                !(seen = calloc((size_t)nshard, 1))))
        rc = fpr_error(FPR_EINVAL, "%s: shard '%s' is not I/N", in[0], first->shard);
    for (size_t i = 0; !rc && i < n; i++) {
        fpr_study_results *o = NULL;
        if (i > 0 && (rc = fpr_results_read(in[i], &o)))
            break;
        const fpr_study_results *q = i ? o : first;
        int si = -1, sn = -1;
        if (strcmp(q->plan, first->plan) != 0)
            rc = plan_diff(in[0], first->plan, in[i], q->plan);
        else if (sscanf(q->shard, "%d/%d", &si, &sn) != 2 || sn != nshard || si < 0 ||
                 si >= nshard)
            rc = fpr_error(FPR_EINVAL, "%s: shard '%s' does not fit a study of %d shards",
                           in[i], q->shard, nshard);
        else if (seen[si])
            rc = fpr_error(FPR_EINVAL, "%s: shard %d/%d is given twice (overlapping shards)",
                           in[i], si, nshard);
        else
            seen[si] = 1;
        fpr_study_results_free(o);
    }
    for (int si = 0; !rc && si < nshard; si++)
        if (!seen[si])
            rc = fpr_error(FPR_EINVAL, "shard %d/%d is missing: the merge would look complete "
                           "without its runs; give every shard of the study", si, nshard);
    free(seen);
    if (!rc) {
        /* the merged file is the whole study */
        free(first->shard);
        first->shard = fpr_strdup("0/1");
    }
    char out[4096];
    snprintf(out, sizeof out, "%s/results.h5", outdir);
    if (!rc)
        rc = fpr_mkdir_p(outdir);
    int lockfd = -1;
    if (!rc)
        rc = fpr_dir_lock(outdir, &lockfd); /* never two writers into one directory */
    if (!rc)
        rc = fpr_results_join((const char *const *)in, n, first, out);
    if (!rc)
        rc = fpr_results_read(out, &r);
    if (!rc) {
        snprintf(out, sizeof out, "%s/summary.json", outdir);
        rc = fpr_summary_write(r, out);
    }
    if (!rc && !noreport)
        rc = fpr_report_write(r, outdir);
    if (!rc)
        fprintf(stderr, "frameprec merge: %zu inputs, %zu runs -> %s\n", n, r->nruns, outdir);
    fpr_dir_unlock(lockfd);
    fpr_study_results_free(first);
    fpr_study_results_free(r);
    for (size_t i = 0; in && i < n; i++)
        free(in[i]);
    free(in);
    return rc ? fpr_cli_fail("merge", rc) : 0;
}
