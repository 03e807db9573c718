/* cmd_candidates.c — `frameprec candidates`: the variants a maintainer could merge
 * (SPEC §10) with their arithmetic, rows and PyTorch memory model (§6). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "study/study.h"

static void human(char *buf, size_t n, double b)
{
    if (b >= 1e9)
        snprintf(buf, n, "%.1f GB", b / 1e9);
    else if (b >= 1e6)
        snprintf(buf, n, "%.1f MB", b / 1e6);
    else
        snprintf(buf, n, "%.0f kB", b / 1e3);
}

int fpr_cmd_candidates(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: frameprec candidates\n"
               "       frameprec candidates --torch-model N_ATOM,N_TOKEN,N_ATOMIZED[,S]\n"
               "Lists the candidate PyTorch formulations (SPEC 10): arithmetic backend, rows\n"
               "computed, and the PyTorch peak memory model at the seed's two sizes (42,000\n"
               "atoms with 5,000 tokens and none atomized; 42,000 atoms all atomized).\n"
               "--torch-model prints one 'name bytes oracle_form' line per candidate at the given\n"
               "size (for scripts/oracle.sh, which checks them against PyTorch's formulations).\n");
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "--torch-model") == 0) {
        double v[4] = {0, 0, 0, 1};
        int k = 0;
        char *p = argc > 2 ? argv[2] : NULL, *end = p;
        while (p && k < 4) {
            v[k++] = strtod(p, &end);
            if (end == p || (*end && *end != ','))
                break;
            p = *end == ',' ? end + 1 : NULL;
        }
        if (argc != 3 || k < 3 || (end && *end) || !(v[0] >= 1) || !(v[1] >= 1) ||
            !(v[2] >= 0) || v[2] > v[1] || !(v[3] >= 1))
            return fpr_cli_fail("candidates",
                                fpr_error(FPR_EUSAGE, "--torch-model needs N_ATOM,N_TOKEN,"
                                          "N_ATOMIZED[,S] with N_ATOMIZED <= N_TOKEN (got '%s')",
                                          argc > 2 ? argv[2] : ""));
        for (size_t i = 0; i < fpr_candidate_count(); i++) {
            const fpr_candidate *c = fpr_candidate_at(i);
            printf("%s %.0f %s\n", c->name, fpr_candidate_bytes(c, v[0], v[1], v[2], v[3]),
                   c->oracle_form);
        }
        return 0;
    }
    if (argc > 1)
        return fpr_cli_fail("candidates", fpr_error(FPR_EUSAGE, "unknown option '%s'", argv[1]));
    printf("%-15s %-13s %-10s %-10s %s\n", "candidate", "arithmetic", "42k/5k tok",
           "42k all", "rows computed (note)");
    for (size_t i = 0; i < fpr_candidate_count(); i++) {
        const fpr_candidate *c = fpr_candidate_at(i);
        char a[32], b[32];
        human(a, sizeof a, fpr_candidate_bytes_seed(c, 0));
        human(b, sizeof b, fpr_candidate_bytes_seed(c, 1));
        printf("%-15s %-13s %-10s %-10s %s (%s)\n", c->name, c->backend, a, b, c->rows,
               c->note);
    }
    return 0;
}
