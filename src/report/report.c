/* report.c — the study's report: report.md (GitHub Markdown, < 60,000 characters, fit
 * for a pull-request comment) and report.html (the same tables plus inline SVG plots,
 * viewable offline). Both are built from one list of tables so they cannot disagree. */
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "report/svg.h"
#include "study/study.h"

enum { MAXCOL = 14, MAXB = 64 };

/* ------------------------------------------------------------------ tables */
typedef struct tbl {
    int ncol, nrow, cap;
    char head[MAXCOL][80];
    char (*cell)[MAXCOL][96];
    int right[MAXCOL];
} tbl;

static void t_init(tbl *t, int ncol, ...)
{
    memset(t, 0, sizeof *t);
    t->ncol = ncol;
    va_list ap;
    va_start(ap, ncol);
    for (int c = 0; c < ncol; c++) {
        snprintf(t->head[c], sizeof t->head[c], "%s", va_arg(ap, const char *));
        t->right[c] = c > 0;
    }
    va_end(ap);
}

static char *t_cell(tbl *t, int r, int c)
{
    if (r >= t->cap) {
        int nc = t->cap ? 2 * t->cap : 32;
        void *p = realloc(t->cell, (size_t)nc * sizeof *t->cell);
        if (!p)
            return NULL;
        t->cell = p;
        memset(t->cell + t->cap, 0, (size_t)(nc - t->cap) * sizeof *t->cell);
        t->cap = nc;
    }
    if (r >= t->nrow)
        t->nrow = r + 1;
    return t->cell[r][c];
}

static void t_set(tbl *t, int r, int c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static void t_set(tbl *t, int r, int c, const char *fmt, ...)
{
    char *p = t_cell(t, r, c);
    if (!p)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p, 96, fmt, ap);
    va_end(ap);
}

static void t_free(tbl *t) { free(t->cell); }

/* Inline Markdown subset used in cells and prose: `code` and **bold**. */
static void md_inline_html(FILE *o, const char *s)
{
    int code = 0, bold = 0;
    for (; *s; s++) {
        if (*s == '`') {
            fputs(code ? "</code>" : "<code>", o);
            code = !code;
        } else if (s[0] == '*' && s[1] == '*' && !code) {
            fputs(bold ? "</b>" : "<b>", o);
            bold = !bold;
            s++;
        } else if (*s == '<') {
            fputs("&lt;", o);
        } else if (*s == '>') {
            fputs("&gt;", o);
        } else if (*s == '&') {
            fputs("&amp;", o);
        } else {
            fputc(*s, o);
        }
    }
    if (code)
        fputs("</code>", o);
    if (bold)
        fputs("</b>", o);
}

static void t_md(const tbl *t, FILE *o)
{
    fputs("|", o);
    for (int c = 0; c < t->ncol; c++)
        fprintf(o, " %s |", t->head[c]);
    fputs("\n|", o);
    for (int c = 0; c < t->ncol; c++)
        fputs(t->right[c] ? "---:|" : "---|", o);
    fputs("\n", o);
    for (int r = 0; r < t->nrow; r++) {
        fputs("|", o);
        for (int c = 0; c < t->ncol; c++) {
            fputc(' ', o);
            for (const char *q = t->cell[r][c]; *q; q++) {
                if (*q == '|')
                    fputc('\\', o); /* a literal pipe inside a GitHub table cell */
                fputc(*q, o);
            }
            fputs(" |", o);
        }
        fputs("\n", o);
    }
    fputs("\n", o);
}

static void t_html(const tbl *t, FILE *o)
{
    fputs("<table>\n<tr>", o);
    for (int c = 0; c < t->ncol; c++) {
        fputs("<th>", o);
        md_inline_html(o, t->head[c]);
        fputs("</th>", o);
    }
    fputs("</tr>\n", o);
    for (int r = 0; r < t->nrow; r++) {
        fputs("<tr>", o);
        for (int c = 0; c < t->ncol; c++) {
            fprintf(o, "<td%s>", t->right[c] ? " class=\"r\"" : "");
            md_inline_html(o, t->cell[r][c]);
            fputs("</td>", o);
        }
        fputs("</tr>\n", o);
    }
    fputs("</table>\n", o);
}

/* ------------------------------------------------------------------ formatting */
static void fmt_bytes(char *b, size_t n, double v)
{
    if (!isfinite(v))
        snprintf(b, n, "–");
    else if (v < 1e6)
        snprintf(b, n, "< 1 MB");
    else if (v >= 1e12)
        snprintf(b, n, "%.1f TB", v / 1e12);
    else if (v >= 1e9)
        snprintf(b, n, "%.1f GB", v / 1e9);
    else if (v >= 1e6)
        snprintf(b, n, "%.1f MB", v / 1e6);
    else
        snprintf(b, n, "%.0f kB", v / 1e3);
}

static void fmt_pct(char *b, size_t n, int64_t k, int64_t tot)
{
    if (tot <= 0)
        snprintf(b, n, "–");
    else if (k == 0)
        snprintf(b, n, "0");
    else {
        double p = 100.0 * (double)k / (double)tot;
        snprintf(b, n, p >= 10 ? "%.1f%%" : p >= 0.01 ? "%.2f%%" : "%.1e%%", p);
    }
}

/* ------------------------------------------------------------------ the document */
typedef struct doc {
    const fpr_study_results *r;
    const char *names[MAXB];
    size_t nb;
    double offs[64];
    size_t noffs;
    const char *main_mode; /* "all" when present (the seed's setting), else "native" */
    int ncases;
    int64_t total_tokens;
} doc;

static void doc_init(doc *d, const fpr_study_results *r)
{
    memset(d, 0, sizeof *d);
    d->r = r;
    d->nb = fpr_study_backend_names(r, d->names, MAXB);
    d->main_mode = "native";
    for (size_t i = 0; i < r->nruns; i++) {
        if (strcmp(r->runs[i].mode, "all") == 0)
            d->main_mode = "all";
        size_t q;
        for (q = 0; q < d->noffs && d->offs[q] != r->runs[i].offset; q++)
            ;
        if (q == d->noffs && d->noffs < 64)
            d->offs[d->noffs++] = r->runs[i].offset;
        if (i == 0 || strcmp(r->runs[i].case_name, r->runs[i - 1].case_name) != 0)
            d->ncases++;
    }
    for (size_t a = 0; a < d->noffs; a++) /* ascending offsets */
        for (size_t b = a + 1; b < d->noffs; b++)
            if (d->offs[b] < d->offs[a]) {
                double t = d->offs[a];
                d->offs[a] = d->offs[b];
                d->offs[b] = t;
            }
}

static double base_offset(const doc *d) { return d->noffs ? d->offs[0] : 0; }

static void headline(const doc *d, const char *mode, tbl *t)
{
    t_init(t, 9, "backend", "tokens", "pick mismatch", "phi changed", "valid flips 0→1 / 1→0",
           "unexplained", "max error (bound / ulp)", "peak memory here", "PyTorch @ 42k atoms");
    int r = 0;
    for (size_t i = 0; i < d->nb; i++) {
        fpr_metrics m;
        if (!fpr_study_aggregate(d->r, d->names[i], mode, base_offset(d), &m))
            continue;
        char p[32], q[32], b1[32], b2[32];
        fmt_pct(p, sizeof p, m.mismatch, m.tokens);
        fmt_bytes(b1, sizeof b1, m.rss_delta);
        fmt_bytes(b2, sizeof b2, m.torch_bytes_42k);
        t_set(t, r, 0, "`%s`", d->names[i]);
        t_set(t, r, 1, "%lld", (long long)m.tokens);
        t_set(t, r, 2, "%lld (%s)", (long long)m.mismatch, p);
        fmt_pct(q, sizeof q, m.phi_changed, m.tokens);
        t_set(t, r, 3, "%lld", (long long)m.phi_changed);
        t_set(t, r, 4, "%lld / %lld", (long long)m.flip_01, (long long)m.flip_10);
        t_set(t, r, 5, "%s%lld%s", m.unexplained ? "**" : "", (long long)m.unexplained,
              m.unexplained ? "**" : "");
        t_set(t, r, 6, "%.2g / %.3g", m.err_bound_max, m.err_ulp_max);
        t_set(t, r, 7, "%s", b1);
        t_set(t, r, 8, "%s", b2);
        r++;
    }
}

static void detail(const doc *d, const char *mode, tbl *t)
{
    t_init(t, 10, "backend", "self not first", "swapped", "one differs", "both differ",
           "rounded tie", "reordered", "same tie group, other atom", "flips: pick / angle",
           "time (s)");
    int r = 0;
    for (size_t i = 0; i < d->nb; i++) {
        fpr_metrics m;
        if (!fpr_study_aggregate(d->r, d->names[i], mode, base_offset(d), &m))
            continue;
        t_set(t, r, 0, "`%s`", d->names[i]);
        t_set(t, r, 1, "%lld", (long long)m.m_self);
        t_set(t, r, 2, "%lld", (long long)m.m_swapped);
        t_set(t, r, 3, "%lld", (long long)m.m_one);
        t_set(t, r, 4, "%lld", (long long)m.m_both);
        t_set(t, r, 5, "%lld", (long long)m.rounded_tie);
        t_set(t, r, 6, "%lld", (long long)(m.reordered + m.cause_unknown));
        t_set(t, r, 7, "%lld", (long long)m.tie_alt);
        t_set(t, r, 8, "%lld / %lld", (long long)m.flip_pick, (long long)m.flip_angle);
        t_set(t, r, 9, "%.2f", m.seconds);
        r++;
    }
}

static void sweep(const doc *d, const char *mode, tbl *t)
{
    memset(t, 0, sizeof *t);
    t->ncol = (int)(d->noffs < MAXCOL - 1 ? d->noffs : MAXCOL - 1) + 1;
    snprintf(t->head[0], sizeof t->head[0], "backend");
    for (int c = 1; c < t->ncol; c++) {
        snprintf(t->head[c], sizeof t->head[c], "+%g Å", d->offs[c - 1]);
        t->right[c] = 1;
    }
    int r = 0;
    for (size_t i = 0; i < d->nb; i++) {
        t_set(t, r, 0, "`%s`", d->names[i]);
        for (int c = 1; c < t->ncol; c++) {
            fpr_metrics m;
            char p[32];
            if (!fpr_study_aggregate(d->r, d->names[i], mode, d->offs[c - 1], &m)) {
                t_set(t, r, c, "–");
                continue;
            }
            fmt_pct(p, sizeof p, m.mismatch, m.tokens);
            if (m.flip_01 + m.flip_10)
                t_set(t, r, c, "%s (%lld flips)", p, (long long)(m.flip_01 + m.flip_10));
            else
                t_set(t, r, c, "%s", p);
        }
        r++;
    }
}

typedef struct worst { const fpr_study_run *run; const fpr_study_backend *b; double rate; } worst;

static int cmp_worst(const void *a, const void *b)
{
    const worst *x = a, *y = b;
    if (x->rate != y->rate)
        return x->rate < y->rate ? 1 : -1;
    return strcmp(x->run->key, y->run->key);
}

static void worst_cases(const doc *d, tbl *t, int limit)
{
    t_init(t, 9, "case", "atomization", "offset", "backend", "tokens", "mismatches",
           "phi changed", "valid flips", "unexplained");
    t->right[1] = t->right[3] = 0;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < d->r->nruns; i++)
        cap += d->r->runs[i].nb;
    worst *w = fpr_calloc(cap + 1, sizeof *w);
    if (!w)
        return;
    for (size_t i = 0; i < d->r->nruns; i++)
        for (size_t j = 0; j < d->r->runs[i].nb; j++) {
            const fpr_metrics *m = &d->r->runs[i].b[j].m;
            if (m->mismatch + m->flip_01 + m->flip_10 + m->unexplained == 0 || m->tokens == 0)
                continue;
            w[n].run = &d->r->runs[i];
            w[n].b = &d->r->runs[i].b[j];
            w[n].rate = (double)(m->mismatch + m->flip_01 + m->flip_10) / (double)m->tokens +
                        1e6 * (double)m->unexplained;
            n++;
        }
    qsort(w, n, sizeof *w, cmp_worst);
    for (size_t k = 0; k < n && (int)k < limit; k++) {
        const fpr_metrics *m = &w[k].b->m;
        char p[32];
        fmt_pct(p, sizeof p, m->mismatch, m->tokens);
        t_set(t, (int)k, 0, "%s", w[k].run->case_name);
        t_set(t, (int)k, 1, "%s", w[k].run->mode);
        t_set(t, (int)k, 2, "+%g Å", w[k].run->offset);
        t_set(t, (int)k, 3, "`%s`", w[k].b->name);
        t_set(t, (int)k, 4, "%lld", (long long)m->tokens);
        t_set(t, (int)k, 5, "%lld (%s)", (long long)m->mismatch, p);
        t_set(t, (int)k, 6, "%lld", (long long)m->phi_changed);
        t_set(t, (int)k, 7, "%lld", (long long)(m->flip_01 + m->flip_10));
        t_set(t, (int)k, 8, "%lld", (long long)m->unexplained);
    }
    free(w);
}

/* Per case at the base offset, main mode: mismatches/flips per backend. */
static void per_case(const doc *d, const char *mode, tbl *t)
{
    memset(t, 0, sizeof *t);
    t->ncol = (int)(d->nb < MAXCOL - 3 ? d->nb : MAXCOL - 3) + 3;
    snprintf(t->head[0], sizeof t->head[0], "case");
    snprintf(t->head[1], sizeof t->head[1], "atoms");
    snprintf(t->head[2], sizeof t->head[2], "tokens × S");
    t->right[1] = t->right[2] = 1;
    for (int c = 3; c < t->ncol; c++) {
        snprintf(t->head[c], sizeof t->head[c], "`%s`", d->names[c - 3]);
        t->right[c] = 1;
    }
    int r = 0;
    for (size_t i = 0; i < d->r->nruns; i++) {
        const fpr_study_run *run = &d->r->runs[i];
        if (strcmp(run->mode, mode) != 0 || run->offset != base_offset(d))
            continue;
        t_set(t, r, 0, "%s", run->case_name);
        t_set(t, r, 1, "%lld", (long long)run->n_atom);
        t_set(t, r, 2, "%lld", (long long)(run->n_atomized * run->S));
        for (int c = 3; c < t->ncol; c++) {
            const fpr_metrics *m = NULL;
            for (size_t j = 0; j < run->nb; j++)
                if (strcmp(run->b[j].name, d->names[c - 3]) == 0)
                    m = &run->b[j].m;
            if (!m)
                t_set(t, r, c, "–");
            else if (m->flip_01 + m->flip_10)
                t_set(t, r, c, "%lld / %lld", (long long)m->mismatch,
                      (long long)(m->flip_01 + m->flip_10));
            else
                t_set(t, r, c, "%lld", (long long)m->mismatch);
        }
        r++;
    }
}

/* The seed's question, answered per backend in one sentence each. */
static void answer(const doc *d, FILE *o, int html)
{
    const char *mode = d->main_mode;
    for (size_t i = 0; i < d->nb; i++) {
        fpr_metrics m;
        if (!fpr_study_aggregate(d->r, d->names[i], mode, base_offset(d), &m))
            continue;
        char p[32], q[32], line[1024];
        fmt_pct(p, sizeof p, m.phi_changed, m.tokens);
        fmt_pct(q, sizeof q, m.mismatch, m.tokens);
        int n = snprintf(line, sizeof line,
                         "`%s`: phi changed for %lld of %lld atomized tokens (%s; pick "
                         "mismatches %s), valid mask flipped for %lld",
                         d->names[i], (long long)m.phi_changed, (long long)m.tokens, p, q,
                         (long long)(m.flip_01 + m.flip_10));
        if (m.mismatch == 0)
            n += snprintf(line + n, sizeof line - (size_t)n, "; no pick differs from the truth");
        else if (m.unexplained == 0)
            n += snprintf(line + n, sizeof line - (size_t)n,
                          "; every mismatch is explained by rounding within the declared "
                          "bound (%lld rounded ties, %lld reordered)",
                          (long long)m.rounded_tie, (long long)(m.reordered + m.cause_unknown));
        else
            n += snprintf(line + n, sizeof line - (size_t)n,
                          "; **%lld mismatches are NOT explained by the bound (a bug)**",
                          (long long)m.unexplained);
        const char *partner = fpr_study_identity_partner(d->names[i]);
        if (m.ident_diff >= 0 && partner)
            n += snprintf(line + n, sizeof line - (size_t)n,
                          m.ident_diff == 0 ? "; bit-identical to `%s` as promised"
                                            : "; **differs from `%s` on %lld tokens**",
                          partner, (long long)m.ident_diff);
        else if (m.ident_diff >= 0) /* an imported row: its declared arithmetic */
            n += snprintf(line + n, sizeof line - (size_t)n,
                          m.ident_diff == 0
                              ? "; identical to its declared arithmetic except tie order"
                              : "; **differs from its declared arithmetic beyond tie order on "
                                "%lld tokens**",
                          (long long)m.ident_diff);
        if (html) {
            fputs("<li>", o);
            md_inline_html(o, line);
            fputs(".</li>\n", o);
        } else {
            fprintf(o, "- %s.\n", line);
        }
    }
}

/* ------------------------------------------------------------------ sections */
typedef struct out {
    FILE *o;
    int html;
} out;

static void h2(out *w, const char *s)
{
    if (w->html) {
        fputs("<h2>", w->o);
        md_inline_html(w->o, s);
        fputs("</h2>\n", w->o);
    } else {
        fprintf(w->o, "## %s\n\n", s);
    }
}

static void para(out *w, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void para(out *w, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (w->html) {
        fputs("<p>", w->o);
        md_inline_html(w->o, buf);
        fputs("</p>\n", w->o);
    } else {
        fprintf(w->o, "%s\n\n", buf);
    }
}

static void table(out *w, tbl *t)
{
    if (w->html)
        t_html(t, w->o);
    else
        t_md(t, w->o);
    t_free(t);
}

static const char *mode_words(const char *mode)
{
    return strcmp(mode, "all") == 0 ? "every atom atomized (the seed's stress test)"
                                    : "the case's own atomization (ligands, modified residues)";
}

/* ------------------------------------------------------------------ plots */
static int bcolor(const doc *d, const char *name)
{
    for (size_t i = 0; i < d->nb; i++)
        if (strcmp(d->names[i], name) == 0)
            return (int)i;
    return 0;
}

static void plot_sweep(const doc *d, FILE *o)
{
    const char *mode = d->main_mode;
    double lo = 1e9;
    double y[MAXB][64];
    for (size_t i = 0; i < d->nb; i++)
        for (size_t q = 0; q < d->noffs; q++) {
            fpr_metrics m;
            y[i][q] = NAN;
            if (fpr_study_aggregate(d->r, d->names[i], mode, d->offs[q], &m) && m.tokens) {
                y[i][q] = 100.0 * (double)m.mismatch / (double)m.tokens;
                if (y[i][q] > 0 && y[i][q] < lo)
                    lo = y[i][q];
            }
        }
    double floor_v = pow(10, floor(log10(lo > 1e8 ? 1e-3 : lo)) - 1);
    fpr_svg p;
    char title[160];
    snprintf(title, sizeof title, "Pick mismatch rate against translation offset (%s)",
             strcmp(mode, "all") == 0 ? "atomize-all" : "native atomization");
    fpr_svg_begin(&p, o, 900, 420, title, "coordinates translated by (Å; log axis, 0 at left)",
                  "pick mismatches (% of tokens, log)", 0.5, 2000, 1, floor_v * 0.6, 100, 1);
    for (size_t q = 0; q < d->noffs; q++) {
        char b[32];
        snprintf(b, sizeof b, "%g", d->offs[q]);
        fpr_svg_xtick(&p, d->offs[q] > 0 ? d->offs[q] : 1, b);
    }
    fpr_svg_yticks_auto(&p, "%s%%");
    fpr_svg_hline(&p, floor_v, "#888", "0 (no mismatch) plotted on this line");
    for (size_t i = 0; i < d->nb; i++) {
        double x[64], yy[64];
        for (size_t q = 0; q < d->noffs; q++) {
            x[q] = d->offs[q] > 0 ? d->offs[q] : 1;
            yy[q] = isnan(y[i][q]) ? NAN : y[i][q] > 0 ? y[i][q] : floor_v;
        }
        int allzero = 1;
        for (size_t q = 0; q < d->noffs; q++)
            allzero &= !(y[i][q] > 0);
        char lab[96];
        snprintf(lab, sizeof lab, "%s%s", d->names[i], allzero ? " (0 at all)" : "");
        fpr_svg_series(&p, x, yy, (int)d->noffs, (int)i, (int)i % 4, 1, lab);
    }
    fpr_svg_end(&p);
}

static void plot_size(const doc *d, FILE *o)
{
    const char *mode = d->main_mode;
    double xmin = 1e12, xmax = 1, lo = 1e9;
    for (size_t k = 0; k < d->r->nruns; k++) {
        const fpr_study_run *run = &d->r->runs[k];
        if (strcmp(run->mode, mode) || run->offset != base_offset(d))
            continue;
        xmin = fmin(xmin, (double)run->n_atom);
        xmax = fmax(xmax, (double)run->n_atom);
        for (size_t j = 0; j < run->nb; j++)
            if (run->b[j].m.tokens && run->b[j].m.mismatch)
                lo = fmin(lo, 100.0 * (double)run->b[j].m.mismatch / (double)run->b[j].m.tokens);
    }
    if (xmin > xmax)
        return;
    double floor_v = pow(10, floor(log10(lo > 1e8 ? 1e-3 : lo)) - 1);
    fpr_svg p;
    char title[160];
    snprintf(title, sizeof title, "Pick mismatch rate against structure size (+%g Å, %s)",
             base_offset(d), strcmp(mode, "all") == 0 ? "atomize-all" : "native");
    fpr_svg_begin(&p, o, 900, 420, title, "atoms in the case (log)",
                  "pick mismatches (% of tokens, log)", pow(10, floor(log10(xmin))),
                  pow(10, ceil(log10(xmax * 1.01))), 1, floor_v * 0.6, 100, 1);
    fpr_svg_xticks_auto(&p);
    fpr_svg_yticks_auto(&p, "%s%%");
    fpr_svg_hline(&p, floor_v, "#888", "0 (no mismatch) plotted on this line");
    for (size_t i = 0; i < d->nb; i++) {
        double x[512], y[512];
        int n = 0;
        for (size_t k = 0; k < d->r->nruns && n < 512; k++) {
            const fpr_study_run *run = &d->r->runs[k];
            if (strcmp(run->mode, mode) || run->offset != base_offset(d))
                continue;
            for (size_t j = 0; j < run->nb; j++)
                if (strcmp(run->b[j].name, d->names[i]) == 0 && run->b[j].m.tokens) {
                    double v = 100.0 * (double)run->b[j].m.mismatch / (double)run->b[j].m.tokens;
                    /* jitter-free: tiny per-backend offset so equal points stay visible */
                    x[n] = (double)run->n_atom * (1 + 0.012 * ((double)i - (double)d->nb / 2));
                    y[n++] = v > 0 ? v : floor_v;
                }
        }
        fpr_svg_series(&p, x, y, n, (int)i, (int)i % 4, 0, d->names[i]);
    }
    fpr_svg_end(&p);
}

static double hist_median(const fpr_hist *h)
{
    int64_t tot = h->zero;
    for (int k = 0; k < FPR_HIST_BINS; k++)
        tot += h->bin[k];
    if (!tot)
        return NAN;
    int64_t acc = h->zero;
    for (int k = 0; k < FPR_HIST_BINS; k++) {
        acc += h->bin[k];
        if (2 * acc >= tot)
            return FPR_HIST_LO + (k + 0.5) * FPR_HIST_W;
    }
    return NAN;
}

static void plot_margins(const doc *d, FILE *o)
{
    const char *mode = d->main_mode;
    fpr_hist h;
    memset(&h, 0, sizeof h);
    fpr_hist bh[MAXB];
    memset(bh, 0, sizeof bh);
    for (size_t k = 0; k < d->r->nruns; k++) {
        const fpr_study_run *run = &d->r->runs[k];
        if (strcmp(run->mode, mode) || run->offset != base_offset(d))
            continue;
        h.zero += run->margin_hist.zero;
        for (int q = 0; q < FPR_HIST_BINS; q++)
            h.bin[q] += run->margin_hist.bin[q];
        for (size_t j = 0; j < run->nb; j++) {
            int c = bcolor(d, run->b[j].name);
            bh[c].zero += run->b[j].bound_hist.zero;
            for (int q = 0; q < FPR_HIST_BINS; q++)
                bh[c].bin[q] += run->b[j].bound_hist.bin[q];
        }
    }
    double ymax = (double)h.zero;
    for (int q = 0; q < FPR_HIST_BINS; q++)
        ymax = fmax(ymax, (double)h.bin[q]);
    if (ymax <= 0)
        return;
    fpr_svg p;
    char title[200];
    snprintf(title, sizeof title, "Truth pick margins (+%g Å, %s) and each backend's error bound",
             base_offset(d), strcmp(mode, "all") == 0 ? "atomize-all" : "native");
    double xl = FPR_HIST_LO - 1.5;
    fpr_svg_begin(&p, o, 900, 440, title,
                  "relative margin (D²(r+1) − D²(r)) / D²(r+1), log10; dashed: median bound / D²",
                  "tokens × ranks (log)", xl, 0.5, 0, 0.7, pow(10, ceil(log10(ymax)) + 0.2), 1);
    for (int e = -16; e <= 0; e += 2) {
        char b[16];
        snprintf(b, sizeof b, "1e%d", e);
        fpr_svg_xtick(&p, e, b);
    }
    fpr_svg_xtick(&p, xl + 0.5, "exact tie");
    fpr_svg_yticks_auto(&p, NULL);
    if (h.zero)
        fpr_svg_bar(&p, xl + 0.1, xl + 0.9, (double)h.zero, "#555");
    for (int q = 0; q < FPR_HIST_BINS; q++)
        if (h.bin[q])
            fpr_svg_bar(&p, FPR_HIST_LO + q * FPR_HIST_W, FPR_HIST_LO + (q + 1) * FPR_HIST_W,
                        (double)h.bin[q], "#9bb7d4");
    for (size_t i = 0; i < d->nb; i++) {
        double med = hist_median(&bh[i]);
        if (isfinite(med))
            fpr_svg_vline(&p, med, (int)i, 1, d->names[i]);
    }
    fpr_svg_end(&p);
}

static void plot_memory(const doc *d, FILE *o)
{
    fpr_svg p;
    fpr_svg_begin(&p, o, 900, 420, "PyTorch memory model against structure size (S = 1, every atom a token)",
                  "atoms N (log)", "bytes at the peak (log)", 1e3, 1e5, 1, 1e6, 1e12, 1);
    fpr_svg_xticks_auto(&p);
    char lab[32];
    for (int e = 6; e <= 12; e++) {
        static const char *const u[] = {"1 MB", "10 MB", "100 MB", "1 GB", "10 GB", "100 GB",
                                        "1 TB"};
        snprintf(lab, sizeof lab, "%s", u[e - 6]);
        double py = fpr_svg_py(&p, pow(10, e));
        fprintf(o, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", p.ml,
                py, p.w - p.mr, py);
        fpr_svg_text(&p, p.ml - 6, py + 4, "end", 12, lab);
    }
    fpr_svg_hline(&p, 80e9, "#c00", "80 GB (one A100/H100)");
    for (size_t i = 0; i < d->nb; i++) {
        const fpr_backend *b = fpr_backend_find(d->names[i]);
        fpr_clear_error();
        if (!b || !b->torch_peak_bytes)
            continue;
        void *cfg = NULL;
        if (b->configure && b->configure(b, NULL, &cfg))
            continue;
        double x[41], y[41];
        for (int k = 0; k <= 40; k++) {
            x[k] = pow(10, 3 + k * 0.05);
            y[k] = b->torch_peak_bytes(b, cfg, x[k], x[k], 1);
        }
        if (cfg && b->cfg_free)
            b->cfg_free(cfg);
        fpr_svg_series(&p, x, y, 41, (int)i, -1, 1, d->names[i]);
    }
    fpr_svg_vline(&p, 42000, 6, 1, "42,000 atoms");
    fpr_svg_end(&p);
}

/* ------------------------------------------------------------------ whole document */
static void body(const doc *d, out *w)
{
    const fpr_study_results *r = d->r;
    FILE *o = w->o;
    int exact = strcmp(r->reference, "truth") == 0;
    if (w->html)
        fputs("<h1>frameprec study: precision of the frame-atom search</h1>\n", o);
    else
        fputs("# frameprec study: precision of the frame-atom search\n\n", o);
    para(w, "%d cases, %zu runs (case × atomization × offset), %zu backends compared with "
            "`%s`%s. Built with frameprec %s.",
         d->ncases, r->nruns, d->nb, r->reference,
         exact ? " (exact: GMP/MPFR)" : " — **not the exact truth**", r->version);
    if (r->notes && r->notes[0])
        para(w, "**Note:** %s", r->notes);
    {
        tbl bt;
        t_init(&bt, 2, "backend", "what it computes (default parameters)");
        bt.right[1] = 0;
        for (size_t i = 0; i < d->nb; i++) {
            const fpr_backend *b = fpr_backend_find(d->names[i]);
            fpr_clear_error();
            t_set(&bt, (int)i, 0, "`%s`", d->names[i]);
            t_set(&bt, (int)i, 1, "%.94s",
                  b ? b->summary : "(not a frameprec backend: an imported implementation, see the note)");
        }
        table(w, &bt);
    }

    h2(w, "The seed's question: how often does each variant change phi and the valid mask, "
          "and is it explained by rounding?");
    para(w, "At the deposited coordinates (+%g Å), %s:", base_offset(d), mode_words(d->main_mode));
    if (w->html)
        fputs("<ul>\n", o);
    answer(d, o, w->html);
    if (w->html)
        fputs("</ul>\n", o);
    else
        fputs("\n", o);

    static const char *const modes[2] = {"all", "native"};
    for (int mi = 0; mi < 2; mi++) {
        int any = 0;
        for (size_t k = 0; k < r->nruns; k++)
            any |= strcmp(r->runs[k].mode, modes[mi]) == 0;
        if (!any)
            continue;
        char t[200];
        snprintf(t, sizeof t, "Headline: +%g Å, %s", base_offset(d), mode_words(modes[mi]));
        h2(w, t);
        tbl tb;
        headline(d, modes[mi], &tb);
        table(w, &tb);
        detail(d, modes[mi], &tb);
        table(w, &tb);
    }
    if (w->html) {
        h2(w, "Plots");
        plot_sweep(d, o);
        plot_size(d, o);
        plot_margins(d, o);
        plot_memory(d, o);
    }
    for (int mi = 0; mi < 2; mi++) {
        int any = 0;
        for (size_t k = 0; k < r->nruns; k++)
            any |= strcmp(r->runs[k].mode, modes[mi]) == 0;
        if (!any || d->noffs < 2)
            continue;
        char t[200];
        snprintf(t, sizeof t, "Translation sweep: pick mismatches, %s", mode_words(modes[mi]));
        h2(w, t);
        tbl tb;
        sweep(d, modes[mi], &tb);
        table(w, &tb);
    }
    h2(w, "Worst cases");
    para(w, "Runs ranked by (pick mismatches + valid flips) / tokens; unexplained first.");
    tbl tb;
    worst_cases(d, &tb, 15);
    if (tb.nrow)
        table(w, &tb);
    else {
        t_free(&tb);
        para(w, "No backend differs from the truth anywhere.");
    }
    char t[200];
    snprintf(t, sizeof t, "Per case: pick mismatches (/ valid flips), +%g Å, %s", base_offset(d),
             d->main_mode);
    h2(w, t);
    per_case(d, d->main_mode, &tb);
    table(w, &tb);

    h2(w, "How to read this");
    para(w, "A **pick mismatch** is an atomized token whose frame atoms (a, c) differ from the "
            "exact nearest neighbours; a pick inside the truth's exact tie group counts as equal "
            "(\"same tie group, other atom\"). **phi changed** counts tokens whose frame "
            "coordinates differ at all (including such tie-group alternatives). **Valid flips** "
            "compare `valid_frame_mask` with the truth: *pick* = a pick changed, *angle* = same "
            "picks but the angle test (25°/155°) decided differently near the threshold.");
    para(w, "Each mismatch has a cause: **rounded tie** (the backend computed equal values and "
            "the tie rule chose) or **reordered** (its values are in the wrong order). It is "
            "**explained** when the true gap between the two atoms' squared distances is within "
            "the sum of the backend's declared error bounds; **unexplained** mismatches are bugs "
            "and fail `frameprec check`. Errors are |d̂² − D²| in units of that bound (≤ 1 "
            "always) and in float32 ulps of D².");
    para(w, "**Peak memory here** is the growth of this process's peak RSS during the backend's "
            "run (frameprec streams rows: O(N)); **PyTorch @ 42k atoms** is the backend's "
            "memory model of the equivalent PyTorch code (SPEC §6) at 42,000 atoms, S = 1. The "
            "translation sweep adds a common offset to every coordinate: the matrix-product "
            "identity loses accuracy with |x|², the difference formula does not.");
    h2(w, "Provenance");
    para(w, "frameprec %s; reference `%s`; compiler: %s; flags: %s; machine: %s; created %s.",
         r->version, r->reference, r->compiler, r->flags, r->machine, r->created);
}

int fpr_report_markdown(const fpr_study_results *r, FILE *o)
{
    doc d;
    doc_init(&d, r);
    out w = {o, 0};
    body(&d, &w);
    return FPR_OK;
}

int fpr_report_html(const fpr_study_results *r, FILE *o)
{
    doc d;
    doc_init(&d, r);
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<title>frameprec study</title>\n<style>\n"
          "body{font-family:Helvetica,Arial,sans-serif;max-width:1150px;margin:24px auto;"
          "padding:0 16px;color:#222;line-height:1.45}\n"
          "table{border-collapse:collapse;margin:10px 0 22px;font-size:13px}\n"
          "th,td{border:1px solid #ccc;padding:4px 8px}th{background:#f0f3f7;text-align:left}\n"
          "td.r{text-align:right;font-variant-numeric:tabular-nums}tr:nth-child(even){background:#fafafa}\n"
          "code{background:#f3f3f3;padding:0 3px;border-radius:3px}\n"
          "h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:34px}\n"
          "svg{display:block;margin:14px 0;border:1px solid #eee}\n"
          "</style></head><body>\n",
          o);
    out w = {o, 1};
    body(&d, &w);
    fputs("</body></html>\n", o);
    return FPR_OK;
}

static int write_one(const fpr_study_results *r, const char *dir, const char *name, int html)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fpr_atomic_file a;
    int rc = fpr_atomic_open(path, &a);
    if (rc)
        return rc;
    rc = html ? fpr_report_html(r, a.fp) : fpr_report_markdown(r, a.fp);
    if (!rc && ferror(a.fp))
        rc = fpr_error(FPR_EIO, "%s: write failed", path);
    if (rc) {
        fpr_atomic_abort(&a);
        return rc;
    }
    if (!html && ftell(a.fp) >= 60000)
        fprintf(stderr, "frameprec report: warning: %s is %ld characters (GitHub comments "
                        "take < 65,536)\n", path, ftell(a.fp));
    return fpr_atomic_commit(&a);
}

int fpr_report_write(const fpr_study_results *r, const char *outdir)
{
    int rc = write_one(r, outdir, "report.md", 0);
    if (!rc)
        rc = write_one(r, outdir, "report.html", 1);
    return rc;
}
