/* main.c — `frameprec`: one executable, subcommands, a thin layer over the library. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "internal.h"
#include "io/h5util.h"

int fpr_cmd_backends(int argc, char **argv);
int fpr_cmd_candidates(int argc, char **argv);
int fpr_cmd_frames(int argc, char **argv);
int fpr_cmd_gen(int argc, char **argv);
int fpr_cmd_info(int argc, char **argv);
int fpr_cmd_study(int argc, char **argv);
int fpr_cmd_report(int argc, char **argv);
int fpr_cmd_check(int argc, char **argv);
int fpr_cmd_merge(int argc, char **argv);
int fpr_cmd_score(int argc, char **argv);

static const fpr_cmd commands[] = {
    {"backends", "list the registered distance backends", fpr_cmd_backends},
    {"candidates", "the PyTorch formulations a maintainer could merge, with their memory", fpr_cmd_candidates},
    {"frames", "run the frame-atom driver with one backend over a case", fpr_cmd_frames},
    {"gen", "write a synthetic or adversarial case (ligands, protein, nucleic)", fpr_cmd_gen},
    {"info", "validate a case file and print its summary", fpr_cmd_info},
    {"study", "every backend over every case and sweep vs the truth -> results, report", fpr_cmd_study},
    {"report", "report.md and report.html (inline SVG plots) from study results", fpr_cmd_report},
    {"check", "regression gate: unexplained mismatches, identity contracts, baseline", fpr_cmd_check},
    {"merge", "join the results of sharded studies (study --shard I/N)", fpr_cmd_merge},
    {"score", "score a frames file made by any program against the exact truth", fpr_cmd_score},
};

int fpr_cli_fail(const char *cmd, int rc)
{
    fprintf(stderr, "frameprec %s: error: %s\n", cmd, fpr_errmsg());
    return rc == FPR_EUSAGE ? 2 : 1;
}

int fpr_cli_parse_bytes(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !(v >= 0))
        return -1;
    double mul = 1;
    switch (*end) {
    case 'k': case 'K': mul = 1024.0; end++; break;
    case 'm': case 'M': mul = 1024.0 * 1024; end++; break;
    case 'g': case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
    case 't': case 'T': mul = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end || v * mul > 1.8e19 || v * mul < 1.0) /* 0 or 0.5 bytes is no limit to set */
        return -1;
    *out = (uint64_t)(v * mul);
    return 0;
}

int fpr_cli_parse_int(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0)
        return -1;
    *out = v;
    return 0;
}

int fpr_cli_parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static const char *const angle_names[] = {"backend", "f32", "f64", "exact"};

int fpr_cli_parse_angle(const char *s, int *out)
{
    for (int k = 0; k < 4; k++)
        if (strcmp(s, angle_names[k]) == 0) {
            *out = k;
            return 0;
        }
    return -1;
}

const char *fpr_cli_angle_name(int a) { return a >= 0 && a < 4 ? angle_names[a] : "?"; }

void fpr_cli_default_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    if (pages > 0 && psz > 0)
        fpr_set_max_memory((uint64_t)pages * (uint64_t)psz / 4 * 3);
}

static void usage(FILE *out)
{
    fprintf(out, "frameprec %s — floating-point precision of the frame-atom search\n\n"
                 "usage: frameprec COMMAND [options]   (frameprec COMMAND --help)\n\ncommands:\n",
            FPR_VERSION_STRING);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

/* libgomp keeps a thread that waits at the end of a parallel region spinning for up to
 * GOMP_SPINCOUNT = 300,000 iterations (libgomp manual, "GOMP_SPINCOUNT"; with
 * OMP_WAIT_POLICY unset) before it sleeps. A study runs its run-file writer beside the
 * driver's threads, and on 2 cores those spins took the writer's core: measured on
 * the corpus study (2 cores), 33.5–35.7 s with a spin count of 10,000 against
 * 35.8–36.7 s with the default, and 5–7 s less CPU; then, with the writer's queue,
 * 33.7/32.1 s with 1,000 against 33.6/34.1 s with 10,000. libgomp reads the variable once,
 * before main, so `study` sets it and executes itself again (the same process, its
 * arguments unchanged) unless the user chose a wait policy or spin count, or the
 * program runs under valgrind (whose exec would leave it). Results do not depend on
 * it. */
static void study_spin_count(char **argv)
{
    const char *pre = getenv("LD_PRELOAD");
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT") || (pre && strstr(pre, "vgpreload")))
        return;
    if (setenv("GOMP_SPINCOUNT", "1000", 1) != 0)
        return;
    execv("/proc/self/exe", argv); /* returns only if it failed: go on as we are */
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "study") == 0)
        study_spin_count(argv);
    if (fpr_registry_check() != FPR_OK) {
        fprintf(stderr, "frameprec: %s\n", fpr_errmsg());
        return 70;
    }
    fpr_h5_quiet(); /* first HDF5 call: no atexit hook that crashes after a full disk */
    if (fpr_simd_env_check() != FPR_OK) {
        fprintf(stderr, "frameprec: error: %s\n", fpr_errmsg());
        return 2;
    }
    fpr_cli_default_memory();
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("frameprec %s\n", FPR_VERSION_STRING);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "frameprec: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
