/* registry.c — the static table of distance backends (SPEC §3). A new backend is
 * one file in src/backends/ exporting one descriptor, plus one line here. */
#include <string.h>

#include "internal.h"

extern const fpr_backend fpr_backend_exact_diff;
extern const fpr_backend fpr_backend_fp64;
extern const fpr_backend fpr_backend_chunked_fp32;
extern const fpr_backend fpr_backend_matmul;
extern const fpr_backend fpr_backend_matmul_comp;
extern const fpr_backend fpr_backend_matmul_centered;
extern const fpr_backend fpr_backend_matmul_tf32;
extern const fpr_backend fpr_backend_matmul_bf16x3;
extern const fpr_backend fpr_backend_matmul_bf16;
extern const fpr_backend fpr_backend_cdist_direct;
extern const fpr_backend fpr_backend_truth;

static const fpr_backend *const table[] = {
    &fpr_backend_exact_diff,
    &fpr_backend_fp64,
    &fpr_backend_chunked_fp32,
    &fpr_backend_matmul,
    &fpr_backend_matmul_comp,
    &fpr_backend_matmul_centered,
    &fpr_backend_matmul_tf32,
    &fpr_backend_matmul_bf16x3,
    &fpr_backend_matmul_bf16,
    &fpr_backend_cdist_direct,
    &fpr_backend_truth,
};

size_t fpr_backend_count(void) { return sizeof table / sizeof table[0]; }

const fpr_backend *fpr_backend_at(size_t i)
{
    return i < fpr_backend_count() ? table[i] : NULL;
}

const fpr_backend *fpr_backend_find(const char *name)
{
    for (size_t i = 0; i < fpr_backend_count(); i++)
        if (name && strcmp(table[i]->name, name) == 0)
            return table[i];
    char list[1024] = "";
    size_t used = 0;
    for (size_t i = 0; i < fpr_backend_count() && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                                 table[i]->name);
    fpr_error(FPR_EUSAGE, "unknown backend '%s'; valid backends: %s", name ? name : "(null)",
              list);
    return NULL;
}

int fpr_registry_check(void)
{
    for (size_t i = 0; i < fpr_backend_count(); i++) {
        const fpr_backend *b = table[i];
        if (!b->name || !b->summary || b->version < 1)
            return fpr_error(FPR_EINTERNAL, "backend #%zu lacks a name, summary or version", i);
        if (!b->eval_f32 && !b->eval_f64 && !b->block_top3)
            return fpr_error(FPR_EINTERNAL, "backend %s has no evaluation method", b->name);
        if (b->precision < FPR_PREC_F32 || b->precision > FPR_PREC_EXACT)
            return fpr_error(FPR_EINTERNAL, "backend %s has no precision class", b->name);
        if (!b->torch_peak_bytes)
            return fpr_error(FPR_EINTERNAL, "backend %s declares no PyTorch memory model", b->name);
        if (b->precision != FPR_PREC_EXACT && !b->d2_error_bound)
            return fpr_error(FPR_EINTERNAL, "backend %s declares no error bound", b->name);
        if (b->scratch_bytes && !b->block_top3 && !b->eval_f32 && !b->eval_f64)
            return fpr_error(FPR_EINTERNAL, "backend %s: scratch without methods", b->name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(table[j]->name, b->name) == 0)
                return fpr_error(FPR_EINTERNAL, "backend name %s registered twice", b->name);
    }
    return FPR_OK;
}
