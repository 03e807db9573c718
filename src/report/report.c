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

/* A name from a case file as literal text inside a Markdown line: the characters that
 * Markdown or HTML could read there (backslash, backtick, * _ [ ] < > & ~ !) get a
 * backslash, the CommonMark escape, so a name like "<img src=x>" or "**x**" shows as
 * itself (md_inline_html undoes the escape for report.html); '|' is left to t_md,
 * which escapes it in cells; control characters become spaces. */
static const char *md_literal(char *out, size_t n, const char *s)
{
    size_t k = 0;
    for (; s && *s && k + 3 < n; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 || ch == 0x7f) {
            out[k++] = ' ';
            continue;
        }
        if (ch != '|' && ch < 0x80 && strchr("\\`*_[]<>&~!", ch))
            out[k++] = '\\';
        out[k++] = (char)ch;
    }
    out[k] = 0;
    return out;
}

/* Inline Markdown subset used in cells and prose: `code`, **bold** and backslash
 * escapes (md_literal). */
static void md_inline_html(FILE *o, const char *s)
{
    int code = 0, bold = 0;
    for (; *s; s++) {
        if (*s == '\\' && s[1] && !code && strchr("\\`*_[]<>&~!|", s[1])) {
            s++;
            if (*s == '<')
                fputs("&lt;", o);
            else if (*s == '>')
                fputs("&gt;", o);
            else if (*s == '&')
                fputs("&amp;", o);
            else if (*s == '"')
                fputs("&quot;", o);
            else
                fputc(*s, o);
        } else if (*s == '`') {
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

/* Worst case per backend within plausible settings: the deposited coordinates (base
 * offset), either atomization; the run with the most (frames changed vs the truth +
 * valid flips) per token, unexplained first. Backends ranked by that rate. */
typedef struct worst { const fpr_study_run *run; const fpr_study_backend *b; double rate; } worst;

static int cmp_worst(const void *a, const void *b)
{
    const worst *x = a, *y = b;
    if (x->rate != y->rate)
        return x->rate < y->rate ? 1 : -1;
    return strcmp(x->b->name, y->b->name);
}

static void worst_cases(const doc *d, tbl *t, int limit)
{
    t_init(t, 9, "backend", "worst case", "atomization", "tokens", "pick mismatches",
           "degenerate (valid)", "valid flips", "changed atoms moved up to (Å)", "explained?");
    t->right[1] = t->right[2] = t->right[8] = 0;
    worst w[MAXB];
    size_t n = 0;
    for (size_t i = 0; i < d->nb && n < MAXB; i++) {
        worst best = {NULL, NULL, 0};
        for (size_t r = 0; r < d->r->nruns; r++) {
            const fpr_study_run *run = &d->r->runs[r];
            if (run->offset != base_offset(d))
                continue;
            for (size_t j = 0; j < run->nb; j++) {
                const fpr_metrics *m = &run->b[j].m;
                if (strcmp(run->b[j].name, d->names[i]) || m->tokens == 0 ||
                    m->mismatch + m->flip_01 + m->flip_10 + m->unexplained == 0)
                    continue;
                double v = (double)(m->mismatch + m->flip_01 + m->flip_10) / (double)m->tokens +
                           1e6 * (double)m->unexplained;
                if (!best.run || v > best.rate)
                    best = (worst){run, &run->b[j], v};
            }
        }
        if (best.run)
            w[n++] = best;
    }
    qsort(w, n, sizeof *w, cmp_worst);
    for (size_t k = 0; k < n && (int)k < limit; k++) {
        const fpr_metrics *m = &w[k].b->m;
        char p[32];
        fmt_pct(p, sizeof p, m->mismatch, m->tokens);
        t_set(t, (int)k, 0, "`%s`", w[k].b->name);
        char lit[192];
        t_set(t, (int)k, 1, "%s", md_literal(lit, sizeof lit, w[k].run->case_name));
        t_set(t, (int)k, 2, "%s", w[k].run->mode);
        t_set(t, (int)k, 3, "%lld", (long long)m->tokens);
        t_set(t, (int)k, 4, "%lld (%s)", (long long)m->mismatch, p);
        t_set(t, (int)k, 5, "%lld (%lld)", (long long)m->degenerate, (long long)m->degenerate_valid);
        t_set(t, (int)k, 6, "%lld", (long long)(m->flip_01 + m->flip_10));
        t_set(t, (int)k, 7, m->disp_n ? "%.2f" : "–", m->disp_max);
        if (m->unexplained)
            t_set(t, (int)k, 8, "**%lld NOT within the bound: a bug**", (long long)m->unexplained);
        else if (m->mismatch)
            t_set(t, (int)k, 8, "yes, all %lld: rounding, still changed frames",
                  (long long)m->explained);
        else
            t_set(t, (int)k, 8, "no pick changed (angle flips only)");
    }
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
        char lit[192];
        t_set(t, r, 0, "%s", md_literal(lit, sizeof lit, run->case_name));
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

/* One paragraph or list item: <TAG>…</TAG> in HTML, PREFIX…SUFFIX in Markdown. The text
 * is formatted into a buffer of its own size, so a long line is never cut. */
static void block(out *w, const char *tag, const char *prefix, const char *suffix,
                  const char *fmt, va_list ap)
{
    char small[1024];
    char *buf = small;
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n >= (int)sizeof small && (buf = malloc((size_t)n + 1)) != NULL)
        vsnprintf(buf, (size_t)n + 1, fmt, ap2);
    else if (buf == NULL)
        buf = small; /* out of memory: the cut text rather than none */
    va_end(ap2);
    if (w->html) {
        fprintf(w->o, "<%s>", tag);
        md_inline_html(w->o, buf);
        fprintf(w->o, "</%s>\n", tag);
    } else {
        fprintf(w->o, "%s%s%s", prefix, buf, suffix);
    }
    if (buf != small)
        free(buf);
}

static void para(out *w, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void para(out *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    block(w, "p", "", "\n\n", fmt, ap);
    va_end(ap);
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


/* ------------------------------------------------------------------ candidates & severity */
static int in_scope(const fpr_study_run *run, const char *scope, double off);

/* The scope of the real use: each case's own atomization when the study has such runs
 * (see in_scope), else the stress test. */
static const char *real_mode(const doc *d)
{
    for (size_t i = 0; i < d->r->nruns; i++)
        if (in_scope(&d->r->runs[i], "real", NAN))
            return "real";
    return d->main_mode;
}

static int has_mode(const doc *d, const char *mode)
{
    for (size_t i = 0; i < d->r->nruns; i++)
        if (strcmp(d->r->runs[i].mode, mode) == 0)
            return 1;
    return 0;
}

/* Scopes: "real" = each case's own atomization, except case files that are atomized
 * throughout (every atom its own atomized token, like 1ubi-all: a stress test stored as a
 * case, already covered by mode "all"); any other string is a mode name. */
static int all_atomized_case(const fpr_study_run *run)
{
    return run->n_token > 1 && run->n_atomized == run->n_token && run->n_token == run->n_atom;
}

static int in_scope(const fpr_study_run *run, const char *scope, double off)
{
    if (!isnan(off) && run->offset != off)
        return 0;
    if (!scope)
        return 1;
    if (strcmp(scope, "real") == 0)
        return strcmp(run->mode, "native") == 0 && !all_atomized_case(run);
    return strcmp(run->mode, scope) == 0;
}

static int agg_scope(const doc *d, const char *name, const char *scope, double off,
                     fpr_metrics *m)
{
    fpr_metrics_init(m);
    int n = 0;
    for (size_t i = 0; i < d->r->nruns; i++) {
        const fpr_study_run *run = &d->r->runs[i];
        if (!in_scope(run, scope, off))
            continue;
        for (size_t j = 0; j < run->nb; j++)
            if (strcmp(run->b[j].name, name) == 0) {
                fpr_metrics_add(m, &run->b[j].m);
                n++;
            }
    }
    return n;
}

static const fpr_study_backend *run_backend(const fpr_study_run *run, const char *name)
{
    for (size_t j = 0; j < run->nb; j++)
        if (strcmp(run->b[j].name, name) == 0)
            return &run->b[j];
    return NULL;
}

/* Median displacement of changed frame atoms over runs matching mode/offset (NULL/NAN:
 * any), read from the 1/100 Å histograms. */
static double disp_median(const doc *d, const char *name, const char *mode, double offset)
{
    static fpr_disp_hist h;
    memset(&h, 0, sizeof h);
    for (size_t i = 0; i < d->r->nruns; i++) {
        const fpr_study_run *run = &d->r->runs[i];
        if (!in_scope(run, mode, offset))
            continue;
        const fpr_study_backend *b = run_backend(run, name);
        for (int k = 0; b && k < FPR_DISP_BINS; k++)
            h.bin[k] += b->disp_hist.bin[k];
    }
    return fpr_disp_hist_median(&h);
}

/* A candidate against `original` over every run of the study: runs where its backend
 * ran and the comparison was made, and the sums. identical = compared on every run and
 * nothing differs. */
typedef struct cand_state {
    const fpr_candidate *k;
    int runs, compared;
    int64_t changed, flips;
    int identical;
    double mem0, mem1; /* PyTorch model at the seed's two sizes */
} cand_state;

static void cand_eval(const doc *d, const fpr_candidate *k, cand_state *c)
{
    memset(c, 0, sizeof *c);
    c->k = k;
    fpr_candidate_result cr;
    fpr_candidate_against_original(d->r, k, &cr);
    c->runs = cr.runs;
    c->compared = cr.compared;
    c->changed = cr.changed;
    c->flips = cr.flips;
    c->identical = cr.identical;
    c->mem0 = fpr_candidate_bytes_seed(k, 0);
    c->mem1 = fpr_candidate_bytes_seed(k, 1);
}

/* Worst run of backend `name` in mode/offset by frames changed against original per
 * token; NULL when none changed. */
static const fpr_study_run *worst_run(const doc *d, const char *name, const char *mode,
                                      double offset, double *rate)
{
    const fpr_study_run *best = NULL;
    *rate = 0;
    for (size_t i = 0; i < d->r->nruns; i++) {
        const fpr_study_run *run = &d->r->runs[i];
        if (!in_scope(run, mode, offset))
            continue;
        const fpr_study_backend *b = run_backend(run, name);
        if (!b || b->m.orig_changed <= 0 || b->m.tokens <= 0)
            continue;
        double v = (double)b->m.orig_changed / (double)b->m.tokens;
        if (v > *rate) {
            *rate = v;
            best = run;
        }
    }
    return best;
}

static void li(out *w, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void li(out *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    block(w, "li", "- ", "\n", fmt, ap);
    va_end(ap);
}
static void ul_open(out *w) { if (w->html) fputs("<ul>\n", w->o); }
static void ul_close(out *w) { fputs(w->html ? "</ul>\n" : "\n", w->o); }

static int cmp_cand_mem(const void *a, const void *b)
{
    const cand_state *x = a, *y = b;
    if (x->mem0 != y->mem0)
        return x->mem0 < y->mem0 ? -1 : 1;
    if (x->mem1 != y->mem1)
        return x->mem1 < y->mem1 ? -1 : 1;
    return strcmp(x->k->name, y->k->name);
}

/* The answer first (SPEC §10): what to ship, and what every other candidate costs. */
static void verdict(const doc *d, out *w)
{
    enum { MAXK = 32 };
    cand_state cs[MAXK];
    size_t nk = 0;
    for (size_t i = 0; i < fpr_candidate_count() && nk < MAXK; i++)
        cand_eval(d, fpr_candidate_at(i), &cs[nk++]);
    qsort(cs, nk, sizeof cs[0], cmp_cand_mem);
    const cand_state *orig = NULL;
    for (size_t i = 0; i < nk; i++)
        if (strcmp(cs[i].k->name, "original") == 0)
            orig = &cs[i];
    const char *mode = real_mode(d);
    double off = base_offset(d);
    char m0[32], m1[32], o0[32], o1[32];
    h2(w, "Verdict");
    if (!orig || orig->runs == 0 || (size_t)orig->runs != d->r->nruns) {
        para(w, "**No verdict:** `original`'s arithmetic (`exact_diff`) was not run on every "
                "run of this study, so no candidate can be compared with it. Run the study "
                "with `exact_diff` among the backends.");
        return;
    }
    fmt_bytes(o0, sizeof o0, orig->mem0);
    fmt_bytes(o1, sizeof o1, orig->mem1);
    int nid = 0;
    for (size_t i = 0; i < nk; i++)
        nid += cs[i].identical;
    for (size_t i = 0, first = 1; i < nk; i++) {
        if (!cs[i].identical)
            continue;
        fmt_bytes(m0, sizeof m0, cs[i].mem0);
        fmt_bytes(m1, sizeof m1, cs[i].mem1);
        if (first) {
            para(w, "**Ship `%s`** (arithmetic `%s`; rows: %s). It is bit-identical to "
                    "`original` on every one of the %zu runs of this study — 0 frames changed, 0 valid "
                    "flips (summary.json: `orig_changed`, `orig_flips` of `%s`) — and needs "
                    "the least PyTorch memory of the %d bit-identical candidates: **%s** at "
                    "42,000 atoms with 5,000 tokens and none atomized (the monomer that ran "
                    "out of memory; `original`: %s), **%s** with all 42,000 atoms atomized "
                    "(`original`: %s).",
                 cs[i].k->name, cs[i].k->backend, cs[i].k->rows, d->r->nruns, cs[i].k->backend,
                 nid, m0, o0, m1, o1);
            if (nid > 1)
                para(w, "Also bit-identical, with more memory (42k atoms / 5,000 tokens; 42k "
                        "all atomized):");
            ul_open(w);
            first = 0;
            continue;
        }
        li(w, "`%s` (%s): %s; %s", cs[i].k->name, cs[i].k->rows, m0, m1);
    }
    if (nid)
        ul_close(w);
    int64_t tok = 0;
    int nr = 0;
    for (size_t i = 0; i < d->r->nruns; i++)
        if (in_scope(&d->r->runs[i], mode, off)) {
            tok += d->r->runs[i].n_atomized * d->r->runs[i].S;
            nr++;
        }
    para(w, "Every other candidate changes frames. Its price at the deposited coordinates "
            "(+%g Å) with %s — %d runs, %lld atomized tokens × samples — against `original`, then the "
            "severity of what changed (against the exact truth) and its memory (42k atoms / "
            "5,000 tokens; 42k all atomized):",
         off, strcmp(mode, "real") == 0 ? "each case's own atomization (the real use; case "
                                          "files atomized throughout count as stress test)"
                                        : mode_words(mode),
         nr, (long long)tok);
    ul_open(w);
    for (size_t i = 0; i < nk; i++) {
        const cand_state *c = &cs[i];
        if (c->identical)
            continue;
        if (c->runs == 0) {
            li(w, "`%s` (`%s`): not measured — backend `%s` was not run in this study.",
               c->k->name, c->k->backend, c->k->backend);
            continue;
        }
        fpr_metrics m;
        int n = agg_scope(d, c->k->backend, mode, off, &m);
        fmt_bytes(m0, sizeof m0, c->mem0);
        fmt_bytes(m1, sizeof m1, c->mem1);
        if (!n) {
            li(w, "`%s` (`%s`): no run at +%g Å, %s; memory %s; %s.", c->k->name,
               c->k->backend, off, mode, m0, m1);
            continue;
        }
        double rate;
        const fpr_study_run *wr = worst_run(d, c->k->backend, mode, off, &rate);
        char pc[32], wtxt[200] = "", disp[120] = "";
        fmt_pct(pc, sizeof pc, m.orig_changed > 0 ? m.orig_changed : 0, m.tokens);
        char lit[120];
        if (wr)
            snprintf(wtxt, sizeof wtxt, "; worst case %s: %.3g%% of its atomized tokens",
                     md_literal(lit, sizeof lit, wr->case_name), 100 * rate);
        if (m.disp_n > 0)
            snprintf(disp, sizeof disp, "; changed frame atoms moved up to %.2f Å (median %.2f Å)",
                     m.disp_max, disp_median(d, c->k->backend, mode, off));
        li(w, "`%s` (`%s`; %s): **%lld frames changed** (%s of the atomized tokens)%s; valid flips %lld; "
              "**degenerate frames marked valid: %lld**%s; memory %s; %s. Over all %d runs "
              "(every atomization and offset): %lld frames changed, %lld valid flips.",
           c->k->name, c->k->backend, c->k->note, (long long)(m.orig_changed > 0 ? m.orig_changed : 0),
           pc, wtxt, (long long)(m.orig_flips > 0 ? m.orig_flips : 0),
           (long long)m.degenerate_valid, disp, m0, m1, c->runs, (long long)c->changed,
           (long long)c->flips);
    }
    ul_close(w);
    if (has_mode(d, "all") && strcmp(mode, "all") != 0) {
        /* the stress test: mode "all" only (its runs already include the all-atomized
         * case files, in their "all" copy) */
        char line[2048];
        int n = snprintf(line, sizeof line, "In the stress test (every atom atomized, +%g Å) "
                         "frames changed / degenerate frames marked valid:", off);
        int any = 0;
        for (size_t i = 0; i < nk && n < (int)sizeof line - 200; i++) {
            fpr_metrics m;
            if (cs[i].identical || !fpr_study_aggregate(d->r, cs[i].k->backend, "all", off, &m))
                continue;
            n += snprintf(line + n, sizeof line - (size_t)n, "%s `%s` %lld / %lld of %lld",
                          any ? ";" : "", cs[i].k->name,
                          (long long)(m.orig_changed > 0 ? m.orig_changed : 0),
                          (long long)m.degenerate_valid, (long long)m.tokens);
            any = 1;
        }
        if (any)
            para(w, "%s.", line);
    }
    for (size_t i = 0; i < nk; i++)
        if (strcmp(cs[i].k->name, "cdist_gpu_tf32") == 0 && cs[i].runs)
            para(w, "**On a GPU the cdist change is `cdist_gpu_tf32`, not `cdist_cpu`.** "
                    "OpenFold3's entry point calls `torch.set_float32_matmul_precision(\"high\")` "
                    "(\"large speedup on Ampere\"), under which PyTorch runs float32 matrix "
                    "products in TF32 (10-bit mantissa) on Ampere and later GPUs, and "
                    "`torch.cdist`'s distance is such a product (K = 5 GEMM; pytorch issue "
                    "57690: TF32 inflates cdist's diagonal on an RTX 3090). Sources: SPEC §3, "
                    "PyTorch's CUDA notes on TF32, CUTLASS's float→tf32 conversion.");
    para(w, "A **degenerate** frame uses the token's own atom as a or c: zero extent, yet the "
            "float32 angle test computes cos = 0 and marks it valid, so it enters the PAE loss "
            "and the ranking mask silently. Memory is each candidate's PyTorch model (SPEC §6), "
            "checked against PyTorch measurements in reports/ORACLE.md.");
}

static void severity(const doc *d, const char *mode, tbl *t)
{
    t_init(t, 9, "backend", "tokens", "degenerate (marked valid)", "valid flips 0→1 / 1→0",
           "frames changed vs `original`", "phi changed vs truth",
           "changed atoms moved: max / median (Å)", "largest coordinate change (Å)",
           "tie-order sensitive");
    int r = 0;
    for (size_t i = 0; i < d->nb; i++) {
        fpr_metrics m;
        if (!agg_scope(d, d->names[i], mode, base_offset(d), &m))
            continue;
        t_set(t, r, 0, "`%s`", d->names[i]);
        t_set(t, r, 1, "%lld", (long long)m.tokens);
        t_set(t, r, 2, "%s%lld (%lld)%s", m.degenerate_valid ? "**" : "",
              (long long)m.degenerate, (long long)m.degenerate_valid,
              m.degenerate_valid ? "**" : "");
        t_set(t, r, 3, "%lld / %lld", (long long)m.flip_01, (long long)m.flip_10);
        if (m.orig_changed >= 0)
            t_set(t, r, 4, "%lld", (long long)m.orig_changed);
        else
            t_set(t, r, 4, "–");
        t_set(t, r, 5, "%lld", (long long)m.phi_changed);
        if (m.disp_n)
            t_set(t, r, 6, "%.2f / %.2f", m.disp_max,
                  disp_median(d, d->names[i], mode, base_offset(d)));
        else
            t_set(t, r, 6, "–");
        t_set(t, r, 7, m.phi_max_change > 0 ? "%.3g" : "0", m.phi_max_change);
        t_set(t, r, 8, "%lld", (long long)m.tie_order);
        r++;
    }
}

/* Hand-checkable changed tokens of every candidate that changes frames. */
static void examples(const doc *d, out *w)
{
    const char *mode = real_mode(d);
    double off = base_offset(d);
    const char *done[32];
    size_t nd = 0;
    int any = 0;
    for (size_t i = 0; i < fpr_candidate_count(); i++) {
        const fpr_candidate *k = fpr_candidate_at(i);
        cand_state c;
        cand_eval(d, k, &c);
        if (c.identical || c.runs == 0)
            continue;
        int seen = 0;
        for (size_t q = 0; q < nd; q++)
            seen |= strcmp(done[q], k->backend) == 0;
        if (seen || nd >= 32)
            continue;
        done[nd++] = k->backend;
        for (int pass = 0; pass < 2; pass++) {
            const char *md = pass == 0 ? mode : "all";
            if (pass == 1 && (strcmp(mode, "all") == 0 || !has_mode(d, "all")))
                break;
            int lines = 0;
            for (size_t r = 0; r < d->r->nruns && lines < FPR_EXAMPLES; r++) {
                const fpr_study_run *run = &d->r->runs[r];
                if (!in_scope(run, md, off))
                    continue;
                const fpr_study_backend *b = run_backend(run, k->backend);
                if (!b || !b->examples || !b->examples[0])
                    continue;
                const char *p = b->examples;
                while (*p && lines < FPR_EXAMPLES) {
                    const char *e = strchr(p, '\n');
                    size_t len = e ? (size_t)(e - p) : strlen(p);
                    if (!lines) {
                        para(w, "`%s` (`%s`), %s:", k->name, k->backend,
                             pass == 0 ? "the real use (deposited coordinates, each case's "
                                         "own atomization)"
                                       : "nothing changed in the real use; from the stress "
                                         "test (every atom atomized)");
                        ul_open(w);
                    }
                    char line[1501], lit[3100];
                    snprintf(line, sizeof line, "%.*s", (int)(len < 1500 ? len : 1500), p);
                    li(w, "%s", md_literal(lit, sizeof lit, line)); /* names from the case */
                    lines++;
                    any = 1;
                    p += len + (e ? 1 : 0);
                }
            }
            if (lines) {
                ul_close(w);
                break;
            }
        }
    }
    if (!any)
        para(w, "No candidate changed a frame at +%g Å: nothing to show.", off);
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

/* The candidates' PyTorch models against N, S = 1: `all` = every atom an atomized token
 * (T = A = N), else the monomer regime of the seed (T = N/8.4 tokens, none atomized).
 * Lines whose models agree within 5% everywhere are drawn once with every name on it,
 * and every line is labelled at its right end as well as in the legend. */
static void plot_memory(const doc *d, FILE *o, int all)
{
    (void)d;
    enum { NP = 41, NK = 32 };
    double x[NP], y[NK][NP];
    size_t nk = fpr_candidate_count() < NK ? fpr_candidate_count() : NK;
    for (int q = 0; q < NP; q++)
        x[q] = pow(10, 3 + q * 0.05);
    for (size_t k = 0; k < nk; k++)
        for (int q = 0; q < NP; q++) {
            double T = all ? x[q] : x[q] / 8.4, A = all ? x[q] : 0;
            y[k][q] = fpr_candidate_bytes(fpr_candidate_at(k), x[q], T, A, 1);
        }
    fpr_svg p;
    fpr_svg_begin(&p, o, 900, 440,
                  all ? "PyTorch memory of each candidate: every atom an atomized token (S = 1)"
                      : "PyTorch memory of each candidate: a monomer, N/8.4 tokens, none atomized (S = 1)",
                  "atoms N (log)", "bytes at the peak (log)", 1e3, 1e5, 1, 1e3, 1e12, 1);
    fpr_svg_xticks_auto(&p);
    static const char *const u[] = {"1 kB", "10 kB", "100 kB", "1 MB", "10 MB", "100 MB",
                                    "1 GB", "10 GB", "100 GB", "1 TB"};
    for (int e = 3; e <= 12; e++) {
        double py = fpr_svg_py(&p, pow(10, e));
        fprintf(o, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", p.ml,
                py, p.w - p.mr, py);
        fpr_svg_text(&p, p.ml - 6, py + 4, "end", 12, u[e - 3]);
    }
    fpr_svg_hline(&p, 80e9, "#c00", "80 GB (one A100/H100)");
    int drawn[NK] = {0};
    int color = 0;
    double last_label_y = -1e9;
    for (size_t k = 0; k < nk; k++) {
        if (drawn[k])
            continue;
        char lab[256];
        int n = snprintf(lab, sizeof lab, "%s", fpr_candidate_at(k)->name);
        for (size_t j = k + 1; j < nk; j++) {
            int same = !drawn[j];
            for (int q = 0; q < NP && same; q++)
                same = fabs(y[j][q] - y[k][q]) <= 0.05 * fmax(y[j][q], y[k][q]);
            if (same) {
                drawn[j] = 1;
                n += snprintf(lab + n, sizeof lab - (size_t)(n < (int)sizeof lab ? n : 0),
                              " = %s", fpr_candidate_at(j)->name);
            }
        }
        double yy[NP];
        for (int q = 0; q < NP; q++)
            yy[q] = y[k][q] >= 1e3 ? y[k][q] : NAN; /* below the axis: off the plot */
        fpr_svg_series(&p, x, yy, NP, color, -1, 1, lab);
        if (isfinite(yy[NP - 1])) {
            double py = fpr_svg_py(&p, yy[NP - 1]);
            if (fabs(py - last_label_y) < 12)
                py = last_label_y + 12;
            last_label_y = py;
            fpr_svg_text(&p, fpr_svg_px(&p, x[NP - 1]) - 4, py - 4, "end", 11, lab);
        }
        color++;
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
        fputs("<h1>frameprec study: which frame-atom search to ship</h1>\n", o);
    else
        fputs("# frameprec study: which frame-atom search to ship\n\n", o);
    para(w, "OpenFold3's `get_token_frame_atoms` picks each atomized token's frame atoms by a "
            "nearest-neighbour search; PR 244 (and PR 419) replace its distance formula to "
            "save memory. %d cases, %zu runs (case × atomization × offset), %zu backends "
            "compared with `%s`%s. Built with frameprec %s.",
         d->ncases, r->nruns, d->nb, r->reference,
         exact ? " (exact: GMP/MPFR)" : " — **not the exact truth**", r->version);
    if (r->notes && r->notes[0]) {
        char lit[4000];
        para(w, "**Note:** %s", md_literal(lit, sizeof lit, r->notes));
    }

    verdict(d, w);

    static const char *const modes[2] = {"native", "all"};
    char t[240];
    tbl tb;
    for (int mi = 0; mi < 2; mi++) {
        const char *scope = mi == 0 ? "real" : "all";
        int any = 0;
        for (size_t k = 0; k < r->nruns; k++)
            any |= in_scope(&r->runs[k], scope, base_offset(d));
        if (!any)
            continue;
        snprintf(t, sizeof t, "Severity, worst first: +%g Å, %s", base_offset(d),
                 mi == 0 ? "each case's own atomization (the real use)" : mode_words("all"));
        h2(w, t);
        if (mi == 0 || !has_mode(d, "native"))
            para(w, "Worst first: **degenerate** frames (a or c is the token's own atom; in "
                    "brackets those marked valid all the same), valid-mask flips against the "
                    "exact truth, frames changed against `original` and phi changed against the "
                    "truth, how far a changed frame atom moved from the true one, the largest "
                    "change of any phi coordinate, and **tie-order sensitive** tokens (the "
                    "backend's own values tie at a rank boundary, so the pick depends on how "
                    "top-k orders equal values — unstable in PyTorch and different between CPU "
                    "and CUDA, pytorch issues 85227 and 127196).");
        severity(d, scope, &tb);
        table(w, &tb);
    }
    if (has_mode(d, "all")) {
        snprintf(t, sizeof t, "The stress test: +%g Å, %s", base_offset(d), mode_words("all"));
        h2(w, t);
        headline(d, "all", &tb);
        table(w, &tb);
        detail(d, "all", &tb);
        table(w, &tb);
    }
    if (has_mode(d, "native")) {
        snprintf(t, sizeof t, "The real use in detail: +%g Å, %s", base_offset(d),
                 mode_words("native"));
        h2(w, t);
        headline(d, "native", &tb);
        table(w, &tb);
        detail(d, "native", &tb);
        table(w, &tb);
    }
    if (w->html) {
        h2(w, "Plots");
        plot_sweep(d, o);
        plot_size(d, o);
        plot_margins(d, o);
        plot_memory(d, o, 0);
        plot_memory(d, o, 1);
    }
    for (int mi = 1; mi >= 0; mi--) {
        if (!has_mode(d, modes[mi]) || d->noffs < 2)
            continue;
        snprintf(t, sizeof t, "Translation sweep: pick mismatches, %s", mode_words(modes[mi]));
        h2(w, t);
        sweep(d, modes[mi], &tb);
        table(w, &tb);
    }
    h2(w, "Examples a reviewer can check by hand");
    para(w, "Real changed tokens, picked first among frames that are degenerate and marked "
            "valid, then by how far the frame atom moved: case, sample, chain, residue, token "
            "index and the atom names (b = the token's own atom); the distances from b to the "
            "picked and to the true atoms (Å, from the case's float32 coordinates); the true "
            "relative margins (D²(r+1) − D²(r)) / D²(r+1) at ranks 1 and 2; and how far the "
            "picked a and c are from the true ones.");
    examples(d, w);
    h2(w, "Worst cases, per backend, at the deposited coordinates");
    para(w, "Each backend's worst run at +%g Å (either atomization), ranked by (pick "
            "mismatches + valid flips) / tokens. **Explained** means the true gap between the "
            "atom picked and the atom that should have been is smaller than the variant's "
            "proven worst-case rounding error: the variant's arithmetic did it, not a bug in "
            "frameprec. It is still a changed frame. **Not within the bound** would be a bug "
            "and fails `frameprec check`.",
         base_offset(d));
    worst_cases(d, &tb, 64);
    if (tb.nrow)
        table(w, &tb);
    else {
        t_free(&tb);
        para(w, "No backend differs from the truth at +%g Å.", base_offset(d));
    }
    snprintf(t, sizeof t, "Per case: pick mismatches (/ valid flips), +%g Å, %s", base_offset(d),
             d->main_mode);
    h2(w, t);
    per_case(d, d->main_mode, &tb);
    table(w, &tb);

    h2(w, "Each backend in one sentence");
    para(w, "At the deposited coordinates (+%g Å), %s:", base_offset(d), mode_words(d->main_mode));
    if (w->html)
        fputs("<ul>\n", o);
    answer(d, o, w->html);
    if (w->html)
        fputs("</ul>\n", o);
    else
        fputs("\n", o);
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

    h2(w, "How to read this");
    para(w, "A **pick mismatch** is an atomized token whose frame atoms (a, c) differ from the "
            "exact nearest neighbours; a pick inside the truth's exact tie group counts as equal "
            "(\"same tie group, other atom\"). **phi changed** counts tokens whose frame "
            "coordinates differ at all (including such tie-group alternatives). **Valid flips** "
            "compare `valid_frame_mask` with the truth: *pick* = a pick changed, *angle* = same "
            "picks but the angle test (25°/155°) decided differently near the threshold. "
            "**Frames changed vs `original`** compares frame atoms and phi with `exact_diff`, "
            "the arithmetic OpenFold3 ships today, on the same run.");
    para(w, "Each mismatch has a cause: **rounded tie** (the backend computed equal values and "
            "the tie rule chose) or **reordered** (its values are in the wrong order). It is "
            "**explained** when the true gap between the two atoms' squared distances is within "
            "the sum of the backend's proven error bounds — rounding, not a bug, though the "
            "frame still changed; **unexplained** mismatches are bugs and fail `frameprec "
            "check`. Errors are |d̂² − D²| in units of that bound (≤ 1 always) and in float32 "
            "ulps of D².");
    {
        int64_t memo = 0, rows = 0, runs = 0;
        for (size_t i = 0; i < r->nruns; i++) {
            const fpr_study_run *u = &r->runs[i];
            int64_t m = u->truth_memo_rows;
            for (size_t j = 0; j < u->nb; j++)
                m += u->b[j].memo_rows;
            memo += m;
            runs += m > 0;
            rows += u->S * u->n_atomized * (int64_t)(u->nb + 1);
        }
        para(w, "**time (s)** is the wall time of the backend's runs at that offset and mode, "
                "summed over the cases. A chain whose content (coordinates, rows, eps) equals one "
                "the study searched before with the same backend is answered from that search, "
                "the same bits (the chain memo; `frameprec study --no-chain-memo` searches "
                "every chain): here %lld of %lld row searches, in %lld runs (results.h5: "
                "`memo_rows`), whose times are then less than a full search's. The largest "
                "cases run first, so a case that is part of another is "
                "the one answered.", (long long)memo, (long long)rows, (long long)runs);
    }
    para(w, "**Peak memory here** is the growth of this process's peak RSS during the backend's "
            "run (frameprec streams rows: O(N)), the largest over the runs; memory the process "
            "freed before (an earlier run's, the chain memo's) is reused without growth, so "
            "compare it between backends of one study rather than between studies; "
            "**PyTorch @ 42k atoms** is the backend's "
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
