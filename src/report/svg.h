/* svg.h — a small hand-written SVG plotter for the HTML report: axes with linear or
 * log scales, grid, series (lines and markers), bars, vertical markers, legend. */
#ifndef FRAMEPREC_SVG_H
#define FRAMEPREC_SVG_H

#include <stdio.h>

typedef struct fpr_svg {
    FILE *o;
    int w, h, ml, mr, mt, mb;
    double x0, x1, y0, y1; /* data range (log10 already applied for log axes) */
    int logx, logy;
    int nlegend;
} fpr_svg;

/* Colour of series k (colour-blind-safe palette). */
const char *fpr_svg_color(int k);
void fpr_svg_begin(fpr_svg *p, FILE *o, int w, int h, const char *title, const char *xlabel,
                   const char *ylabel, double xmin, double xmax, int logx, double ymin,
                   double ymax, int logy);
/* Custom x tick: a label at data x (used for categorical-looking axes). */
void fpr_svg_xtick(fpr_svg *p, double x, const char *label);
void fpr_svg_xticks_auto(fpr_svg *p);
void fpr_svg_yticks_auto(fpr_svg *p, const char *unit_fmt);
double fpr_svg_px(const fpr_svg *p, double x);
double fpr_svg_py(const fpr_svg *p, double y);
/* A series; NaN points break the line. marker: 0 circle, 1 square, 2 triangle, 3 diamond. */
void fpr_svg_series(fpr_svg *p, const double *x, const double *y, int n, int color,
                    int marker, int line, const char *label);
void fpr_svg_bar(fpr_svg *p, double xa, double xb, double y, const char *fill);
void fpr_svg_vline(fpr_svg *p, double x, int color, int dash, const char *label);
void fpr_svg_hline(fpr_svg *p, double y, const char *color, const char *label);
void fpr_svg_text(fpr_svg *p, double px, double py, const char *anchor, int size,
                  const char *text);
void fpr_svg_end(fpr_svg *p);
/* XML-escapes s to o. */
void fpr_svg_escape(FILE *o, const char *s);

#endif
