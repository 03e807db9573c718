/* cmd_study.c — `frameprec study [CASES…] -o DIR`: the precision study (SPEC §5). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "study/study.h"

static void help(FILE *o)
{
    fprintf(o,
            "usage: frameprec study [CASES.h5 ...] -o DIR [options]\n"
            "Runs every registered backend over every case (default: cases/*.h5), every\n"
            "sample and the sweeps of SPEC §5 (translation offsets; native atomization and\n"
            "atomize-all), compares each with the exact truth and writes DIR/results.h5\n"
            "(per token), DIR/summary.json (tables), DIR/report.md and DIR/report.html.\n"
            "Finished runs are kept in DIR/.work/, so an interrupted study resumes.\n\n"
            "  -o, --output DIR        output directory (created)\n"
            "  -b, --backends A,B      only these backends (default: every registered one)\n"
            "      --offsets L         translation offsets in A, comma list (default 0,10,100,1000)\n"
            "      --modes M           native, all or native,all (default)\n"
            "      --max-atomize-all N skip atomize-all for cases above N atoms (default 0 =\n"
            "                          no cap)\n"
            "      --search S          candidate search: grid (default) or brute; same results\n"
            "  -j, --jobs N            threads for the driver (results identical for any N)\n"
            "      --no-chain-memo     search every chain of every run; by default a chain\n"
            "                          whose content (coordinates, rows, eps) and backend equal\n"
            "                          those of one searched earlier in the study is answered\n"
            "                          from that search (the same bits; the run's time is then\n"
            "                          less than a full search's, results.h5: memo_rows)\n"
            "      --shard I/N         run only slice I (0-based) of N; join with `frameprec merge`\n"
            "      --reference NAME    reference backend (default truth)\n"
            "      --no-report         write results.h5 and summary.json only\n"
            "      --keep-work         keep DIR/.work/ after success\n"
            "      --max-memory B      refuse cases needing more than B bytes\n"
            "      --import NAME=DIR   score another program's frames (DIR: one file per case,\n"
            "                          mode, offset; scripts/torch_frames.py) as row NAME\n"
            "                          (repeatable; see the README for DIR's layout)\n"
            "      --inject-fault NAME TEST HOOK: corrupt backend NAME's values so the gate\n"
            "                          (`frameprec check`) must fail; never for real studies\n"
            "  -q, --quiet             no progress line (shown only when stderr is a terminal)\n");
}

int fpr_cmd_study(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, 0, 'o'},   {"backends", required_argument, 0, 'b'},
        {"offsets", required_argument, 0, 'O'},  {"modes", required_argument, 0, 'm'},
        {"max-atomize-all", required_argument, 0, 'X'}, {"jobs", required_argument, 0, 'j'},
        {"shard", required_argument, 0, 'S'},    {"reference", required_argument, 0, 'R'},
        {"no-report", no_argument, 0, 'N'},      {"keep-work", no_argument, 0, 'K'},
        {"max-memory", required_argument, 0, 'M'}, {"inject-fault", required_argument, 0, 'F'},
        {"import", required_argument, 0, 'I'},
        {"search", required_argument, 0, 's'},   {"no-chain-memo", no_argument, 0, 'C'},
        {"quiet", no_argument, 0, 'q'},          {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    fpr_study_opts so;
    fpr_study_opts_init(&so);
    double *offs = NULL; /* --offsets: as many as given */
    size_t noffs_cap = 0;
    const char *imports[32];
    size_t nimports = 0;
    long v;
    uint64_t bytes;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "o:b:j:qh", opts, NULL)) != -1) {
        switch (ch) {
        case 'o': so.outdir = optarg; break;
        case 'b': so.backends = optarg; break;
        case 'O': {
            size_t n = 0;
            char *s = optarg, *end;
            for (;;) {
                if (n == noffs_cap) {
                    size_t nc = noffs_cap ? 2 * noffs_cap : 16;
                    double *no = realloc(offs, nc * sizeof *no);
                    if (!no)
                        return fpr_cli_fail("study", FPR_ENOMEM);
                    offs = no;
                    noffs_cap = nc;
                }
                errno = 0;
                offs[n] = strtod(s, &end);
                if (end == s || (*end && *end != ',') || errno == ERANGE) {
                    free(offs);
                    return fpr_cli_fail("study", fpr_error(FPR_EUSAGE, "--offsets needs numbers "
                                                           "separated by commas (got '%s')", optarg));
                }
                if (!isfinite(offs[n]) || fabs(offs[n]) > 1e6) {
                    double bad = offs[n];
                    free(offs);
                    return fpr_cli_fail("study", fpr_error(FPR_EUSAGE, "--offsets %g: an offset "
                                                           "must be finite and within ±1e6 Å (the "
                                                           "supported coordinate range)", bad));
                }
                for (size_t k = 0; k < n; k++)
                    if (offs[k] == offs[n]) {
                        double dup = offs[n];
                        free(offs);
                        return fpr_cli_fail("study", fpr_error(FPR_EUSAGE, "--offsets lists %g "
                                                               "twice", dup));
                    }
                n++;
                if (!*end)
                    break;
                s = end + 1;
            }
            so.offsets = offs;
            so.noffsets = n;
            break;
        }
        case 'm':
            if (!strcmp(optarg, "native"))
                so.native = 1, so.atomize_all = 0;
            else if (!strcmp(optarg, "all"))
                so.native = 0, so.atomize_all = 1;
            else if (!strcmp(optarg, "native,all") || !strcmp(optarg, "all,native"))
                so.native = 1, so.atomize_all = 1;
            else
                return fpr_cli_fail("study", fpr_error(FPR_EUSAGE, "--modes takes native, all "
                                                       "or native,all (got '%s')", optarg));
            break;
        case 'X':
            if (fpr_cli_parse_int(optarg, &v))
                return fpr_cli_fail("study", fpr_error(FPR_EUSAGE, "--max-atomize-all needs a count"));
            so.atomize_all_max_atoms = v;
            break;
        case 'j':
            if (fpr_cli_parse_int(optarg, &v) || v < 1 || v > 1024)
                return fpr_cli_fail("study", fpr_error(FPR_EUSAGE, "--jobs needs 1..1024"));
            so.jobs = (int)v;
            break;
        case 'S': {
            int used = 0;
            if (sscanf(optarg, "%d/%d%n", &so.shard_i, &so.shard_n, &used) != 2 ||
                optarg[used] != '\0' || so.shard_n < 1 || so.shard_i < 0 ||
                so.shard_i >= so.shard_n)
                return fpr_cli_fail("study", fpr_error(FPR_EUSAGE, "--shard needs I/N with "
                                                       "0 <= I < N (got '%s')", optarg));
            break;
        }
        case 'R': so.reference = optarg; break;
        case 's':
            if ((so.search = fpr_search_parse(optarg)) < 0)
                return fpr_cli_fail("study", fpr_error(FPR_EUSAGE, "--search must be grid or "
                                                       "brute (got '%s')", optarg));
            break;
        case 'N': so.no_report = 1; break;
        case 'C': so.no_chain_memo = 1; break;
        case 'K': so.keep_work = 1; break;
        case 'M':
            if (fpr_cli_parse_bytes(optarg, &bytes))
                return fpr_cli_fail("study", fpr_error(FPR_EUSAGE, "--max-memory needs a size of at "
                                                       "least 1 byte like 512M or 2G (got '%s')",
                                                       optarg));
            fpr_set_max_memory(bytes);
            break;
        case 'F': so.inject_fault = optarg; break;
        case 'I':
            if (nimports == 32)
                return fpr_cli_fail("study", fpr_error(FPR_EUSAGE, "at most 32 --import"));
            imports[nimports++] = optarg;
            break;
        case 'q': so.quiet = 1; break;
        case 'h': help(stdout); return 0;
        default: help(stderr); return 2;
        }
    }
    if (!so.outdir) {
        help(stderr);
        return 2;
    }
    so.imports = imports;
    so.nimports = nimports;
    so.cases = (const char *const *)(argv + optind);
    so.ncases = (size_t)(argc - optind);
    int rc = fpr_study_run_all(&so);
    free(offs);
    return rc ? fpr_cli_fail("study", rc) : 0;
}
