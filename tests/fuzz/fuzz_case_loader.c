/* fuzz_case_loader.c — libFuzzer target for the case loader (SPEC §7/§8, issue 9):
 * the input bytes are a case file; fpr_case_read must either load a case that passes
 * validation or refuse with a message, never crash, leak or read out of bounds. A
 * loaded case is run through the driver (exact_diff) and atomize-all, so what the
 * validator lets through is also exercised. Seeds: valid cases and the bad-input
 * catalogue (scripts/fuzz.sh). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frameprec.h"

static char case_path[256];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* a small limit: a fuzzed header declaring gigabytes must be refused, not tried */
    fpr_set_max_memory(64u << 20);
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(case_path, sizeof case_path, "%s/fpr-fuzz-case-%ld.h5", dir, (long)getpid());
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(case_path, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    fpr_case *c = NULL;
    int rc = fpr_case_read(case_path, &c);
    if (rc == FPR_OK) {
        if (!c || fpr_case_validate(c, case_path) != FPR_OK)
            abort(); /* loaded means valid */
        if (c->S * c->n_atom <= 20000) {
            const fpr_backend *b = fpr_backend_find("exact_diff");
            fpr_run_opts o;
            fpr_run_opts_init(&o);
            fpr_frames *fr = NULL;
            if (b && fpr_frames_compute(c, b, &o, &fr) == FPR_OK) {
                for (int64_t k = 0; k < fr->S * fr->n_token; k++)
                    if (fr->valid_frame_mask[k] > 1 || fr->a_index[k] < 0 ||
                        fr->a_index[k] >= c->n_atom || fr->c_index[k] < 0 ||
                        fr->c_index[k] >= c->n_atom)
                        abort(); /* frames index into the atom array */
            }
            fpr_frames_free(fr);
            fpr_case *d = NULL;
            if (fpr_case_atomize_all(c, &d) == FPR_OK && fpr_case_validate(d, case_path) != FPR_OK)
                abort(); /* atomize-all of a valid case is valid */
            fpr_case_free(d);
        }
    } else {
        if (c)
            abort(); /* outputs NULL on failure */
        const char *m = fpr_errmsg();
        if (!m || !*m)
            abort(); /* every refusal has a message */
    }
    fpr_case_free(c);
    unlink(case_path);
    return 0;
}
