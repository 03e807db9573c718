/* cmd_check.c — `frameprec check --baseline FILE RESULTS`: the CI regression gate. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "study/study.h"

static void help(FILE *o)
{
    fprintf(o, "usage: frameprec check --baseline FILE RESULTS\n"
               "       frameprec check --write-baseline FILE RESULTS\n"
               "Exit 0 only when no unexplained mismatch exists, every bit-identity contract\n"
               "holds and no backend's pick-mismatch or valid-flip count grew beyond the\n"
               "baseline; otherwise exit 1 and print what got worse, case by case.\n"
               "The gate also fails when it compared nothing: RESULTS without backend results,\n"
               "an empty baseline, or results the baseline lacks (unless --allow-new).\n"
               "RESULTS is a study's results.h5 or its directory.\n\n"
               "  -b, --baseline FILE        compare with this baseline\n"
               "  -w, --write-baseline FILE  record RESULTS as the new baseline\n"
               "      --allow-new            results the baseline lacks (new runs or backends)\n"
               "                             pass, counted; at least one must still compare\n");
}

int fpr_cmd_check(int argc, char **argv)
{
    static const struct option opts[] = {{"baseline", required_argument, 0, 'b'},
                                         {"write-baseline", required_argument, 0, 'w'},
                                         {"allow-new", no_argument, 0, 'A'},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *base = NULL, *wbase = NULL;
    int ch, allow_new = 0;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "b:w:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'b': base = optarg; break;
        case 'w': wbase = optarg; break;
        case 'A': allow_new = 1; break;
        case 'h': help(stdout); return 0;
        default: help(stderr); return 2;
        }
    }
    if ((!base == !wbase) || optind != argc - 1) {
        help(stderr);
        return 2;
    }
    fpr_study_results *r = NULL;
    char *rpath = fpr_results_path(argv[optind]);
    fpr_input_register(rpath); /* --write-baseline never replaces the results */
    free(rpath);
    int rc = wbase ? fpr_output_check(wbase) : FPR_OK;
    if (!rc)
        rc = fpr_results_read(argv[optind], &r);
    if (rc)
        return fpr_cli_fail("check", rc);
    if (wbase) {
        rc = fpr_baseline_write(r, wbase);
        if (!rc)
            fprintf(stderr, "frameprec check: baseline written to %s\n", wbase);
    } else {
        rc = fpr_check_ex(r, base, allow_new, stdout);
    }
    fpr_study_results_free(r);
    if (rc < 0)
        return fpr_cli_fail("check", rc);
    return rc;
}
