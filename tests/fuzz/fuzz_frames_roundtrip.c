/* fuzz_frames_roundtrip.c — libFuzzer target for the frames writer and reader (SPEC §8,
 * issue 9): frames built from the input bytes (any sizes up to 4 x 64, any float bit
 * patterns including NaN and ±Inf, any backend/case strings, with or without the truth
 * extras) are written atomically and read back bit for bit; no temporary file stays. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frameprec.h"

static char frames_path[256];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(frames_path, sizeof frames_path, "%s/fpr-fuzz-frames-%ld.h5", dir, (long)getpid());
    return 0;
}

typedef struct src { const uint8_t *p; size_t n; } src;

static void take(src *s, void *out, size_t k)
{
    /* bytes from the input, zeros once it runs out */
    size_t m = k < s->n ? k : s->n;
    memcpy(out, s->p, m);
    memset((uint8_t *)out + m, 0, k - m);
    s->p += m;
    s->n -= m;
}

static char *take_string(src *s)
{
    uint8_t len = 0;
    take(s, &len, 1);
    len &= 31;
    char *str = calloc(len + 1u, 1);
    take(s, str, len);
    for (size_t i = 0; i < len; i++)
        if (!str[i])
            str[i] = 'z'; /* C strings: an inner NUL would end it */
    return str;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    src s = {data, size};
    uint8_t hdr[3] = {0, 0, 0};
    take(&s, hdr, 3);
    int64_t S = 1 + (hdr[0] & 3), T = hdr[1] & 63;
    int truth = hdr[2] & 1;
    fpr_frames *f = NULL;
    if (fpr_frames_new(S, T, truth, &f) != FPR_OK)
        abort();
    size_t n = (size_t)(S * T);
    take(&s, f->a_index, n * 4);
    take(&s, f->b_index, n * 4);
    take(&s, f->c_index, n * 4);
    take(&s, f->phi, n * 36);
    take(&s, f->valid_frame_mask, n);
    for (size_t k = 0; k < n; k++)
        f->valid_frame_mask[k] &= 1; /* the format's mask is 0/1 */
    take(&s, f->top_value, n * 24);
    if (truth) {
        take(&s, f->tie1, n * 4);
        take(&s, f->tie2, n * 4);
        take(&s, f->margin1, n * 8);
        take(&s, f->margin2, n * 8);
        take(&s, f->fragile_angle, n);
        for (size_t k = 0; k < n; k++)
            f->fragile_angle[k] &= 1;
    }
    f->backend = take_string(&s);
    f->case_name = take_string(&s);

    if (fpr_frames_write(f, frames_path) != FPR_OK) {
        fprintf(stderr, "write failed: %s\n", fpr_errmsg());
        abort();
    }
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", frames_path, (long)getpid());
    if (access(tmp, F_OK) == 0)
        abort(); /* the temporary name is gone after the rename */
    fpr_frames *g = NULL;
    if (fpr_frames_read(frames_path, &g) != FPR_OK) {
        fprintf(stderr, "read failed: %s\n", fpr_errmsg());
        abort();
    }
    int same = g->S == f->S && g->n_token == f->n_token &&
               !memcmp(g->a_index, f->a_index, n * 4) && !memcmp(g->b_index, f->b_index, n * 4) &&
               !memcmp(g->c_index, f->c_index, n * 4) && !memcmp(g->phi, f->phi, n * 36) &&
               !memcmp(g->valid_frame_mask, f->valid_frame_mask, n) &&
               !memcmp(g->top_value, f->top_value, n * 24) && !strcmp(g->backend, f->backend) &&
               !strcmp(g->case_name, f->case_name) && !g->tie1 == !truth;
    if (same && truth)
        same = !memcmp(g->tie1, f->tie1, n * 4) && !memcmp(g->tie2, f->tie2, n * 4) &&
               !memcmp(g->margin1, f->margin1, n * 8) && !memcmp(g->margin2, f->margin2, n * 8) &&
               !memcmp(g->fragile_angle, f->fragile_angle, n);
    if (!same)
        abort(); /* the round trip changed something */
    fpr_frames_free(g);
    fpr_frames_free(f);
    unlink(frames_path);
    return 0;
}
