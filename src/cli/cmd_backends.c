/* cmd_backends.c — `frameprec backends`: the registry as a table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* `--torch-model N[,T[,S]]`: the SPEC §6 model at any size, for scripts that compare
 * it with PyTorch measurements (scripts/oracle.sh). */
static int torch_model(int argc, char **argv)
{
    char *end = NULL;
    double n = strtod(argv[2], &end), t = n, S = 1;
    if (end && *end == ',') {
        t = strtod(end + 1, &end);
        if (end && *end == ',')
            S = strtod(end + 1, &end);
    }
    if (!end || *end || !(n >= 1) || !(t >= 1) || !(S >= 1))
        return fpr_cli_fail("backends", fpr_error(FPR_EUSAGE, "--torch-model needs "
                                                  "N_ATOM[,N_TOKEN[,S]] (got '%s')", argv[2]));
    const char *only = NULL, *params = NULL;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--backend") == 0)
            only = argv[i + 1];
        else if (strcmp(argv[i], "--params") == 0)
            params = argv[i + 1];
        else
            return fpr_cli_fail("backends", fpr_error(FPR_EUSAGE, "unknown option '%s'",
                                                      argv[i]));
    }
    if (only && !fpr_backend_find(only))
        return fpr_cli_fail("backends", FPR_EUSAGE);
    for (size_t i = 0; i < fpr_backend_count(); i++) {
        const fpr_backend *b = fpr_backend_at(i);
        if ((only && strcmp(b->name, only) != 0) || !b->torch_peak_bytes)
            continue;
        void *cfg = NULL;
        if (params && b->configure) {
            int rc = b->configure(b, params, &cfg);
            if (rc)
                return fpr_cli_fail("backends", rc);
        }
        printf("%s %.0f\n", b->name, b->torch_peak_bytes(b, cfg, n, t, S));
        if (cfg && b->cfg_free)
            b->cfg_free(cfg);
    }
    return 0;
}

int fpr_cmd_backends(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: frameprec backends [--verbose]\n"
               "       frameprec backends --torch-model N_ATOM[,N_TOKEN[,S]] "
               "[--backend NAME [--params K=V,...]]\n"
               "Lists every registered distance backend: name, precision, summary.\n"
               "--verbose also prints each backend's options and its PyTorch memory model "
               "at 42,000 atoms.\n"
               "--torch-model prints each backend's PyTorch peak model (SPEC 6) in bytes at\n"
               "the given size (N_TOKEN defaults to N_ATOM, S to 1), one 'name bytes' line\n"
               "per backend; --backend/--params select one backend and its options.\n");
        return 0;
    }
    if (argc > 2 && strcmp(argv[1], "--torch-model") == 0)
        return torch_model(argc, argv);
    int verbose = argc > 1 && strcmp(argv[1], "--verbose") == 0;
    static const char *const prec[] = {"?", "float32", "float64", "exact"};
    printf("%-18s %-8s %s\n", "backend", "prec", "summary");
    for (size_t i = 0; i < fpr_backend_count(); i++) {
        const fpr_backend *b = fpr_backend_at(i);
        printf("%-18s %-8s %s\n", b->name, prec[b->precision], b->summary);
        if (verbose) {
            if (b->params_help)
                printf("%18s options: %s\n", "", b->params_help);
            if (b->torch_peak_bytes) {
                double by = b->torch_peak_bytes(b, NULL, 42000.0, 42000.0, 1.0);
                printf("%18s PyTorch peak at N_atom=N_token=42000, S=1: %.3g %s\n", "",
                       by >= 1e9 ? by / 1e9 : by / 1e6, by >= 1e9 ? "GB" : "MB");
            }
        }
    }
    return 0;
}
