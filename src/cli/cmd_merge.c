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
               "A run present in two inputs is an error (overlapping shards).\n\n"
               "  -o, --output DIR   output directory (created if missing)\n"
               "      --no-report    results.h5 and summary.json only\n");
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
    for (size_t i = 1; !rc && i < n; i++) {
        fpr_study_results *o = NULL;
        if (!(rc = fpr_results_read(in[i], &o))) {
            if (strcmp(o->version, first->version) || strcmp(o->reference, first->reference))
                rc = fpr_error(FPR_EINVAL, "%s: made by frameprec %s against %s, but %s by %s "
                               "against %s: rerun the shards with one build", in[i], o->version,
                               o->reference, in[0], first->version, first->reference);
            fpr_study_results_free(o);
        }
    }
    char out[4096];
    snprintf(out, sizeof out, "%s/results.h5", outdir);
    if (!rc)
        rc = fpr_mkdir_p(outdir);
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
    fpr_study_results_free(first);
    fpr_study_results_free(r);
    for (size_t i = 0; in && i < n; i++)
        free(in[i]);
    free(in);
    return rc ? fpr_cli_fail("merge", rc) : 0;
}
