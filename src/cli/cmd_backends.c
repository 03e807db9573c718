/* cmd_backends.c — `frameprec backends`: the registry as a table. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

int fpr_cmd_backends(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: frameprec backends [--verbose]\n"
               "Lists every registered distance backend: name, precision, summary.\n"
               "--verbose also prints each backend's options and its PyTorch memory model "
               "at 42,000 atoms.\n");
        return 0;
    }
    int verbose = argc > 1 && strcmp(argv[1], "--verbose") == 0;
    static const char *const prec[] = {"?", "float32", "float64", "exact"};
    printf("%-18s %-8s %s\n", "backend", "prec", "summary");
    for (size_t i = 0; i < fpr_backend_count(); i++) {
        const fpr_backend *b = fpr_backend_at(i);
        printf("%-18s %-8s %s\n", b->name, prec[b->precision], b->summary);
        if (verbose) {
            if (b->params_help)
                printf("%18s options: %s\n", "", b->params_help);
            if (b->torch_peak_bytes)
                printf("%18s PyTorch peak at N_atom=42000: %.1f GB\n", "",
                       b->torch_peak_bytes(b, NULL, 42000.0, 42000.0, 1.0) / 1e9);
        }
    }
    return 0;
}
