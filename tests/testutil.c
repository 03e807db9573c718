/* testutil.c — shared helpers for the cmocka suites. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

uint64_t tu_seed(uint64_t dflt)
{
    static int printed = 0;
    const char *e = getenv("FRAMEPREC_SEED");
    uint64_t s = e && *e ? strtoull(e, NULL, 0) : dflt;
    if (!printed) {
        fprintf(stderr, "[ seed     ] FRAMEPREC_SEED=%llu\n", (unsigned long long)s);
        printed = 1;
    }
    return s;
}

uint64_t tu_next(tu_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double tu_uniform(tu_rng *r) { return (double)(tu_next(r) >> 11) * 0x1p-53; }

float tu_uniform_f(tu_rng *r, float lo, float hi)
{
    return (float)((double)lo + ((double)hi - (double)lo) * tu_uniform(r));
}

static char tmpdir[256];

static void rm_tmpdir(void)
{
    char cmd[300];
    if (tmpdir[0]) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "warning: could not remove %s\n", tmpdir);
    }
}

const char *tu_tmp(const char *name)
{
    static _Thread_local char path[512];
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/frameprec-test-XXXXXX");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            exit(1);
        }
        atexit(rm_tmpdir);
    }
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

int tu_file_exists(const char *path) { return access(path, F_OK) == 0; }

fpr_case *tu_atomized_case(int64_t S, int64_t n, int32_t chain)
{
    fpr_case *c = NULL;
    assert_int_equal(fpr_case_new(S, n, n, &c), FPR_OK);
    for (int64_t i = 0; i < n; i++) {
        c->atom_mask[i] = 1;
        c->restype[i] = 20;
        c->asym_id[i] = chain;
        c->start_atom_index[i] = (int32_t)i;
        c->num_atoms_per_token[i] = 1;
        c->is_atomized[i] = 1;
        c->token_mask[i] = 1;
    }
    c->name = strdup("test");
    return c;
}

fpr_frames *tu_run(const fpr_case *c, const char *backend)
{
    const fpr_backend *b = fpr_backend_find(backend);
    if (!b)
        fail_msg("%s", fpr_errmsg());
    fpr_frames *f = NULL;
    int rc = fpr_frames_compute(c, b, NULL, &f);
    if (rc)
        fail_msg("frames_compute(%s): %s", backend, fpr_errmsg());
    return f;
}
