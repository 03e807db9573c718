/* cmd_frames.c — `frameprec frames --backend NAME CASE.h5 -o OUT.h5`. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "internal.h"

static void help(FILE *o)
{
    fprintf(o,
            "usage: frameprec frames --backend NAME CASE.h5 -o OUT.h5 [options]\n"
            "Runs the frame-atom driver (SPEC §2) with one distance backend and writes the\n"
            "frames file (a_index, b_index, c_index, phi, valid_frame_mask, top_value; the\n"
            "truth backend adds tie1, tie2, margin1, margin2, fragile_angle).\n\n"
            "  -b, --backend NAME    distance backend (frameprec backends lists them)\n"
            "  -o, --output FILE     frames file to write (atomically)\n"
            "  -p, --params K=V,...  backend options (frameprec backends --verbose)\n"
            "      --angle STAGE     angle stage: backend (default), f32, f64, exact\n"
            "      --search S        candidate search: grid (default, SPEC §12) or brute;\n"
            "                        the same frames and top values either way\n"
            "  -j, --jobs N          threads (results identical for any N)\n"
            "      --atomize-all     treat every atom as an atomized token\n"
            "      --translate A     add A angstrom to every coordinate first\n"
            "      --max-memory B    refuse cases needing more than B bytes (e.g. 2G)\n"
            "  -q, --quiet           no summary line\n");
}

int fpr_cmd_frames(int argc, char **argv)
{
    static const struct option opts[] = {
        {"backend", required_argument, 0, 'b'}, {"output", required_argument, 0, 'o'},
        {"params", required_argument, 0, 'p'},  {"angle", required_argument, 0, 'A'},
        {"jobs", required_argument, 0, 'j'},    {"atomize-all", no_argument, 0, 'Z'},
        {"translate", required_argument, 0, 'T'}, {"max-memory", required_argument, 0, 'M'},
        {"search", required_argument, 0, 's'},
        {"quiet", no_argument, 0, 'q'},         {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *bname = NULL, *outp = NULL;
    fpr_run_opts ro;
    fpr_run_opts_init(&ro);
    int atomize = 0, quiet = 0;
    double shift = 0;
    long v;
    uint64_t bytes;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "b:o:p:j:qh", opts, NULL)) != -1) {
        switch (ch) {
        case 'b': bname = optarg; break;
        case 'o': outp = optarg; break;
        case 'p': ro.params = optarg; break;
        case 'A':
            if (fpr_cli_parse_angle(optarg, &ro.angle))
                return fpr_cli_fail("frames", fpr_error(FPR_EUSAGE, "--angle must be backend, "
                                                        "f32, f64 or exact (got '%s')", optarg));
            break;
        case 'j':
            if (fpr_cli_parse_int(optarg, &v) || v < 1 || v > 1024)
                return fpr_cli_fail("frames", fpr_error(FPR_EUSAGE, "--jobs needs 1..1024"));
            ro.jobs = (int)v;
            break;
        case 's':
            if ((ro.search = fpr_search_parse(optarg)) < 0)
                return fpr_cli_fail("frames", fpr_error(FPR_EUSAGE, "--search must be grid or "
                                                        "brute (got '%s')", optarg));
            break;
        case 'Z': atomize = 1; break;
        case 'T':
            if (fpr_cli_parse_double(optarg, &shift))
                return fpr_cli_fail("frames", fpr_error(FPR_EUSAGE, "--translate needs a number"));
            break;
        case 'M':
            if (fpr_cli_parse_bytes(optarg, &bytes))
                return fpr_cli_fail("frames", fpr_error(FPR_EUSAGE, "--max-memory needs a size "
                                                        "of at least 1 byte like 512M or 2G (got "
                                                        "'%s')", optarg));
            fpr_set_max_memory(bytes);
            break;
        case 'q': quiet = 1; break;
        case 'h': help(stdout); return 0;
        default: help(stderr); return 2;
        }
    }
    if (!bname || !outp || optind != argc - 1) {
        help(stderr);
        return 2;
    }
    const fpr_backend *b = fpr_backend_find(bname);
    if (!b)
        return fpr_cli_fail("frames", FPR_EUSAGE);
    fpr_case *c = NULL, *c2 = NULL;
    fpr_frames *f = NULL;
    /* the output is checked before any computing: never the input, a link, a FIFO, a device */
    fpr_input_register(argv[optind]);
    int rc = fpr_output_check(outp);
    if (!rc)
        rc = fpr_case_read(argv[optind], &c);
    if (!rc && atomize && !(rc = fpr_case_atomize_all(c, &c2))) {
        fpr_case_free(c);
        c = c2;
    }
    if (!rc && shift != 0 && !(rc = fpr_case_check_offset(c, shift, "--translate"))) {
        fpr_case_translate(c, shift);
        rc = fpr_case_validate(c, argv[optind]);
    }
    if (!rc)
        rc = fpr_frames_compute(c, b, &ro, &f);
    if (!rc)
        rc = fpr_frames_write(f, outp);
    if (!rc && !quiet) {
        int64_t nat = 0, nvalid = 0;
        for (int64_t t = 0; t < c->n_token; t++)
            nat += c->is_atomized[t];
        for (int64_t k = 0; k < f->S * f->n_token; k++)
            nvalid += f->valid_frame_mask[k];
        fprintf(stderr, "frameprec frames: %s: backend %s, %lld samples, %lld tokens "
                        "(%lld atomized), %lld valid frames, %.3f s (search %s, simd %s) -> %s\n",
                c->name, b->name, (long long)c->S, (long long)c->n_token, (long long)nat,
                (long long)nvalid, f->seconds, fpr_search_name(ro.search), fpr_simd_active(),
                outp);
    }
    fpr_frames_free(f);
    fpr_case_free(c);
    return rc ? fpr_cli_fail("frames", rc) : 0;
}
