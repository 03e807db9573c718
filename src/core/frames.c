/* frames.c — allocation of the driver's output (SPEC §8 frames). */
#include <math.h>
#include <string.h>

#include "internal.h"

int fpr_frames_new(int64_t S, int64_t n_token, int with_truth_extras, fpr_frames **out)
{
    *out = NULL;
    fpr_frames *f = fpr_calloc(1, sizeof *f);
    if (!f)
        return FPR_ENOMEM;
    size_t n = (size_t)S * (size_t)n_token;
    f->S = S;
    f->n_token = n_token;
    f->a_index = fpr_calloc(n, sizeof(int32_t));
    f->b_index = fpr_calloc(n, sizeof(int32_t));
    f->c_index = fpr_calloc(n, sizeof(int32_t));
    f->phi = fpr_calloc(n * 9, sizeof(float));
    f->valid_frame_mask = fpr_calloc(n, 1);
    f->top_value = fpr_calloc(n * 3, sizeof(double));
    int ok = f->a_index && f->b_index && f->c_index && f->phi && f->valid_frame_mask &&
             f->top_value;
    if (ok && with_truth_extras) {
        f->tie1 = fpr_calloc(n, sizeof(int32_t));
        f->tie2 = fpr_calloc(n, sizeof(int32_t));
        f->margin1 = fpr_calloc(n, sizeof(double));
        f->margin2 = fpr_calloc(n, sizeof(double));
        f->fragile_angle = fpr_calloc(n, 1);
        ok = f->tie1 && f->tie2 && f->margin1 && f->margin2 && f->fragile_angle;
    }
    if (!ok) {
        fpr_frames_free(f);
        return FPR_ENOMEM;
    }
    for (size_t k = 0; k < n * 3; k++)
        f->top_value[k] = NAN;
    if (f->margin1)
        for (size_t k = 0; k < n; k++)
            f->margin1[k] = f->margin2[k] = NAN;
    *out = f;
    return FPR_OK;
}

void fpr_frames_free(fpr_frames *f)
{
    if (!f)
        return;
    free(f->a_index);
    free(f->first_index);
    free(f->tie3);
    free(f->b_index);
    free(f->c_index);
    free(f->phi);
    free(f->valid_frame_mask);
    free(f->top_value);
    free(f->tie1);
    free(f->tie2);
    free(f->margin1);
    free(f->margin2);
    free(f->fragile_angle);
    free(f->backend);
    free(f->case_name);
    free(f);
}
