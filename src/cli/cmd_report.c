/* cmd_report.c — `frameprec report RESULTS -o DIR`: report.md and report.html. */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"
#include "study/study.h"

static void help(FILE *o)
{
    fprintf(o, "usage: frameprec report RESULTS -o DIR\n"
               "Writes DIR/report.md (GitHub Markdown, fits a pull-request comment) and\n"
               "DIR/report.html (the same with inline SVG plots, viewable offline) from a\n"
               "study's results (RESULTS = results.h5 or the study's directory).\n\n"
               "  -o, --output DIR   output directory (created if missing)\n");
}

int fpr_cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *outdir = NULL;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'o': outdir = optarg; break;
        case 'h': help(stdout); return 0;
        default: help(stderr); return 2;
        }
    }
    if (!outdir || optind != argc - 1) {
        help(stderr);
        return 2;
    }
    fpr_study_results *r = NULL;
    char *rpath = fpr_results_path(argv[optind]);
    fpr_input_register(rpath);
    free(rpath);
    int rc = fpr_output_dir_check(outdir);
    if (!rc)
        rc = fpr_results_read(argv[optind], &r);
    if (!rc)
        rc = fpr_mkdir_p(outdir);
    int lockfd = -1; /* not into a directory a study or merge is writing */
    if (!rc)
        rc = fpr_dir_lock(outdir, &lockfd);
    if (!rc)
        rc = fpr_report_write(r, outdir);
    fpr_dir_unlock(lockfd);
    fpr_study_results_free(r);
    return rc ? fpr_cli_fail("report", rc) : 0;
}
