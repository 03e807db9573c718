/* cmd_gen.c — `frameprec gen KIND [options] -o CASE.h5`: synthetic cases. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "gen/gen.h"

static void help(FILE *o)
{
    fprintf(o,
            "usage: frameprec gen KIND [options] -o CASE.h5\n"
            "Writes a deterministic synthetic case (same options, same file).\n\n"
            "kinds:\n"
            "  ligands   small molecules whose frames are known by construction: a valid\n"
            "            frame, outward and inward colinear failures, a chain-split failure,\n"
            "            a single-atom ligand, two atoms at identical coordinates\n"
            "  protein   chains of standard residues with realistic backbone geometry\n"
            "  nucleic   an RNA and a DNA chain (A G C U N / DA DG DC DT DN)\n\n"
            "options:\n"
            "  -o, --output FILE     case file to write\n"
            "      --seed N          random seed (default 1)\n"
            "      --atoms N         protein: exact atom count (default 1000, up to 5e6)\n"
            "      --chains K        protein: number of chains (default 1)\n"
            "      --ligand-atoms N  protein: atoms of small ligands beside the chain\n"
            "      --missing F       protein: fraction of atoms with atom_mask 0\n"
            "      --rna N, --dna N  nucleic: residues per chain (default 12 each)\n"
            "      --samples S       samples (default 1; extra ones are perturbed copies)\n"
            "      --noise A         per-sample perturbation in Å (default 0.1)\n"
            "      --offset A        add A Å to every coordinate\n"
            "      --atomize-all     make every atom an atomized token\n");
}

int fpr_cmd_gen(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, 0, 'o'}, {"seed", required_argument, 0, 's'},
        {"atoms", required_argument, 0, 'n'},  {"chains", required_argument, 0, 'c'},
        {"ligand-atoms", required_argument, 0, 'l'}, {"missing", required_argument, 0, 'm'},
        {"rna", required_argument, 0, 'R'},    {"dna", required_argument, 0, 'D'},
        {"samples", required_argument, 0, 'S'}, {"noise", required_argument, 0, 'N'},
        {"offset", required_argument, 0, 'O'}, {"atomize-all", no_argument, 0, 'Z'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    fpr_gen_opts g;
    fpr_gen_opts_init(&g);
    const char *outp = NULL;
    long v;
    double d;
    int ch;
    optind = 1;
#define INT_OPT(field, lo, hi)                                                          \
    if (fpr_cli_parse_int(optarg, &v) || v < (lo) || v > (hi))                          \
        return fpr_cli_fail("gen", fpr_error(FPR_EUSAGE, "--%s needs an integer in %ld..%ld", \
                                             opts[idx].name, (long)(lo), (long)(hi)));   \
    g.field = v;
#define DBL_OPT(field, lo, hi)                                                          \
    if (fpr_cli_parse_double(optarg, &d) || d < (lo) || d > (hi))                       \
        return fpr_cli_fail("gen", fpr_error(FPR_EUSAGE, "--%s needs a number in %g..%g", \
                                             opts[idx].name, (double)(lo), (double)(hi))); \
    g.field = d;
    int idx = 0;
    while ((ch = getopt_long(argc, argv, "o:h", opts, &idx)) != -1) {
        switch (ch) {
        case 'o': outp = optarg; break;
        case 's': INT_OPT(seed, 0, 0x7fffffffL) break;
        case 'n': INT_OPT(atoms, 4, 5000000) break;
        case 'c': INT_OPT(chains, 1, 10000) break;
        case 'l': INT_OPT(ligand_atoms, 0, 1000000) break;
        case 'm': DBL_OPT(missing, 0, 1) break;
        case 'R': INT_OPT(rna, 0, 100000) break;
        case 'D': INT_OPT(dna, 0, 100000) break;
        case 'S': INT_OPT(samples, 1, 1000) break;
        case 'N': DBL_OPT(noise, 0, 100) break;
        case 'O': DBL_OPT(offset, -1e5, 1e5) break;
        case 'Z': g.atomize_all = 1; break;
        case 'h': help(stdout); return 0;
        default: help(stderr); return 2;
        }
    }
    if (!outp || optind != argc - 1) {
        help(stderr);
        return 2;
    }
    const char *kind = argv[optind];
    fpr_case *c = NULL;
    int rc;
    if (strcmp(kind, "ligands") == 0)
        rc = fpr_gen_ligands(&g, &c);
    else if (strcmp(kind, "protein") == 0)
        rc = fpr_gen_protein(&g, &c);
    else if (strcmp(kind, "nucleic") == 0)
        rc = fpr_gen_nucleic(&g, &c);
    else
        rc = fpr_error(FPR_EUSAGE, "unknown kind '%s'; kinds: ligands, protein, nucleic", kind);
    if (!rc)
        rc = fpr_case_write(c, outp, 4);
    if (!rc)
        fprintf(stderr, "frameprec gen: %s: %lld atoms, %lld tokens, %lld samples -> %s\n",
                c->name, (long long)c->n_atom, (long long)c->n_token, (long long)c->S, outp);
    fpr_case_free(c);
    return rc ? fpr_cli_fail("gen", rc) : 0;
}
