/* svg.c — hand-written SVG plots (no dependency): see svg.h. Coordinates are data
 * values; log axes take log10 of the value (the caller passes raw values). */
#include <math.h>
#include <string.h>

#include "report/svg.h"

static const char *const palette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00",
                                      "#56B4E9", "#000000", "#999933", "#882255", "#44AA99",
                                      "#AA4499", "#117733"};

const char *fpr_svg_color(int k)
{
    return palette[(unsigned)k % (sizeof palette / sizeof palette[0])];
}

void fpr_svg_escape(FILE *o, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", o); break;
        case '>': fputs("&gt;", o); break;
        case '&': fputs("&amp;", o); break;
        case '"': fputs("&quot;", o); break;
        default: fputc(*s, o);
        }
    }
}

static double tx(const fpr_svg *p, double x) { return p->logx ? log10(x) : x; }
static double ty(const fpr_svg *p, double y) { return p->logy ? log10(y) : y; }

double fpr_svg_px(const fpr_svg *p, double x)
{
    double t = (tx(p, x) - p->x0) / (p->x1 - p->x0);
    return p->ml + t * (p->w - p->ml - p->mr);
}

double fpr_svg_py(const fpr_svg *p, double y)
{
    double t = (ty(p, y) - p->y0) / (p->y1 - p->y0);
    if (t < -0.02)
        t = -0.02;
    if (t > 1.02)
        t = 1.02;
    return p->h - p->mb - t * (p->h - p->mt - p->mb);
}

void fpr_svg_text(fpr_svg *p, double x, double y, const char *anchor, int size, const char *text)
{
    fprintf(p->o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\">", x, y,
            anchor, size);
    fpr_svg_escape(p->o, text);
    fputs("</text>\n", p->o);
}

void fpr_svg_begin(fpr_svg *p, FILE *o, int w, int h, const char *title, const char *xlabel,
                   const char *ylabel, double xmin, double xmax, int logx, double ymin,
                   double ymax, int logy)
{
    memset(p, 0, sizeof *p);
    p->o = o;
    p->w = w;
    p->h = h;
    p->ml = 78;
    p->mr = 190; /* legend column */
    p->mt = 40;
    p->mb = 56;
    p->logx = logx;
    p->logy = logy;
    p->x0 = logx ? log10(xmin) : xmin;
    p->x1 = logx ? log10(xmax) : xmax;
    p->y0 = logy ? log10(ymin) : ymin;
    p->y1 = logy ? log10(ymax) : ymax;
    if (!(p->x1 > p->x0))
        p->x1 = p->x0 + 1;
    if (!(p->y1 > p->y0))
        p->y1 = p->y0 + 1;
    fprintf(o, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"Helvetica, Arial, sans-serif\" "
               "role=\"img\">\n",
            w, h, w, h);
    fprintf(o, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", w, h);
    fprintf(o, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
               "stroke=\"#333\"/>\n",
            p->ml, p->mt, w - p->ml - p->mr, h - p->mt - p->mb);
    fpr_svg_text(p, p->ml + (w - p->ml - p->mr) / 2.0, 24, "middle", 15, title);
    fpr_svg_text(p, p->ml + (w - p->ml - p->mr) / 2.0, h - 12, "middle", 13, xlabel);
    fprintf(o, "<text transform=\"translate(18,%.1f) rotate(-90)\" text-anchor=\"middle\" "
               "font-size=\"13\">",
            p->mt + (h - p->mt - p->mb) / 2.0);
    fpr_svg_escape(o, ylabel);
    fputs("</text>\n", o);
}

void fpr_svg_xtick(fpr_svg *p, double x, const char *label)
{
    double px = fpr_svg_px(p, x);
    fprintf(p->o, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n", px,
            p->mt, px, p->h - p->mb);
    fpr_svg_text(p, px, p->h - p->mb + 18, "middle", 12, label);
}

static void fmt_pow10(char *b, size_t n, int e)
{
    if (e >= 0 && e <= 4)
        snprintf(b, n, "%g", pow(10, e));
    else if (e < 0 && e >= -3)
        snprintf(b, n, "%g", pow(10, e));
    else
        snprintf(b, n, "1e%d", e);
}

void fpr_svg_xticks_auto(fpr_svg *p)
{
    char b[64];
    if (p->logx) {
        for (int e = (int)ceil(p->x0 - 1e-9); e <= (int)floor(p->x1 + 1e-9); e++) {
            fmt_pow10(b, sizeof b, e);
            fpr_svg_xtick(p, pow(10, e), b);
        }
        return;
    }
    double span = p->x1 - p->x0, step = pow(10, floor(log10(span / 5)));
    if (span / step > 10)
        step *= 2;
    for (double v = ceil(p->x0 / step) * step; v <= p->x1 + 1e-9 * span; v += step) {
        snprintf(b, sizeof b, "%g", fabs(v) < 1e-12 * span ? 0.0 : v);
        fpr_svg_xtick(p, v, b);
    }
}

static void ytick(fpr_svg *p, double v, const char *label)
{
    double py = fpr_svg_py(p, v);
    fprintf(p->o, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", p->ml,
            py, p->w - p->mr, py);
    fpr_svg_text(p, p->ml - 6, py + 4, "end", 12, label);
}

void fpr_svg_yticks_auto(fpr_svg *p, const char *unit_fmt)
{
    char b[64], l[96];
    if (p->logy) {
        int e0 = (int)ceil(p->y0 - 1e-9), e1 = (int)floor(p->y1 + 1e-9);
        int stride = (e1 - e0) > 10 ? 2 : 1;
        for (int e = e0; e <= e1; e += stride) {
            fmt_pow10(b, sizeof b, e);
            snprintf(l, sizeof l, unit_fmt ? unit_fmt : "%s", b);
            ytick(p, pow(10, e), l);
        }
        return;
    }
    double span = p->y1 - p->y0, step = pow(10, floor(log10(span / 5)));
    if (span / step > 10)
        step *= 2;
    for (double v = ceil(p->y0 / step) * step; v <= p->y1 + 1e-9 * span; v += step) {
        snprintf(b, sizeof b, "%g", fabs(v) < 1e-12 * span ? 0.0 : v);
        snprintf(l, sizeof l, unit_fmt ? unit_fmt : "%s", b);
        ytick(p, v, l);
    }
}

static void marker(fpr_svg *p, double x, double y, int kind, const char *c)
{
    switch (kind % 4) {
    case 0:
        fprintf(p->o, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n", x, y, c);
        break;
    case 1:
        fprintf(p->o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"7\" height=\"7\" fill=\"%s\"/>\n",
                x - 3.5, y - 3.5, c);
        break;
    case 2:
        fprintf(p->o, "<path d=\"M%.1f %.1fL%.1f %.1fL%.1f %.1fZ\" fill=\"%s\"/>\n", x, y - 5,
                x + 4.5, y + 3.5, x - 4.5, y + 3.5, c);
        break;
    default:
        fprintf(p->o, "<path d=\"M%.1f %.1fL%.1f %.1fL%.1f %.1fL%.1f %.1fZ\" fill=\"%s\"/>\n", x,
                y - 5, x + 5, y, x, y + 5, x - 5, y, c);
    }
}

static void legend(fpr_svg *p, int color, int mk, int line, int dash, const char *label)
{
    if (!label)
        return;
    double x = p->w - p->mr + 14, y = p->mt + 10 + 18 * p->nlegend++;
    const char *c = fpr_svg_color(color);
    if (line || dash)
        fprintf(p->o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                      "stroke-width=\"2\"%s/>\n",
                x, y, x + 22, y, c, dash ? " stroke-dasharray=\"5,3\"" : "");
    if (mk >= 0)
        marker(p, x + 11, y, mk, c);
    fpr_svg_text(p, x + 28, y + 4, "start", 12, label);
}

void fpr_svg_series(fpr_svg *p, const double *x, const double *y, int n, int color, int mk,
                    int line, const char *label)
{
    const char *c = fpr_svg_color(color);
    if (line) {
        int open = 0;
        for (int i = 0; i < n; i++) {
            if (!isfinite(x[i]) || !isfinite(y[i])) {
                if (open)
                    fputs("\"/>\n", p->o);
                open = 0;
                continue;
            }
            if (!open)
                fprintf(p->o, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
                              "stroke-opacity=\"0.85\" points=\"",
                        c);
            fprintf(p->o, "%.1f,%.1f ", fpr_svg_px(p, x[i]), fpr_svg_py(p, y[i]));
            open = 1;
        }
        if (open)
            fputs("\"/>\n", p->o);
    }
    if (mk >= 0)
        for (int i = 0; i < n; i++)
            if (isfinite(x[i]) && isfinite(y[i]))
                marker(p, fpr_svg_px(p, x[i]), fpr_svg_py(p, y[i]), mk, c);
    legend(p, color, mk, line, 0, label);
}

void fpr_svg_bar(fpr_svg *p, double xa, double xb, double y, const char *fill)
{
    double pa = fpr_svg_px(p, xa), pb = fpr_svg_px(p, xb);
    double py = fpr_svg_py(p, y), base = p->h - p->mb;
    if (py >= base)
        return;
    fprintf(p->o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n",
            pa + 0.5, py, pb - pa - 1 > 0.5 ? pb - pa - 1 : 0.5, base - py, fill);
}

void fpr_svg_vline(fpr_svg *p, double x, int color, int dash, const char *label)
{
    double px = fpr_svg_px(p, x);
    fprintf(p->o, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\" "
                  "stroke-width=\"2\"%s/>\n",
            px, p->mt, px, p->h - p->mb, fpr_svg_color(color),
            dash ? " stroke-dasharray=\"5,3\"" : "");
    legend(p, color, -1, 0, dash, label);
}

void fpr_svg_hline(fpr_svg *p, double y, const char *color, const char *label)
{
    double py = fpr_svg_py(p, y);
    fprintf(p->o, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\" "
                  "stroke-dasharray=\"2,3\"/>\n",
            p->ml, py, p->w - p->mr, py, color);
    if (label)
        fpr_svg_text(p, p->ml + 6, py - 4, "start", 11, label);
}

void fpr_svg_end(fpr_svg *p) { fputs("</svg>\n", p->o); }
