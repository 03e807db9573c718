/* test_fuzz_regress.c — replays the fuzz targets of tests/fuzz/ over their regression
 * inputs (tests/fuzz/regress/<target>/: crashes fuzzing found, kept once fixed) and a
 * few fixed inputs, in the normal and the sanitizer builds, without libFuzzer. A
 * target aborts on a broken property, so a regression fails this suite. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define LLVMFuzzerInitialize case_loader_init
#define LLVMFuzzerTestOneInput case_loader_one
#include "fuzz/fuzz_case_loader.c"
#undef LLVMFuzzerInitialize
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerInitialize frames_init
#define LLVMFuzzerTestOneInput frames_one
#include "fuzz/fuzz_frames_roundtrip.c"
#undef LLVMFuzzerInitialize
#undef LLVMFuzzerTestOneInput

typedef int (*one_fn)(const uint8_t *, size_t);

static int replay_dir(const char *dir, one_fn one)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    char p[4096];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "README.md"))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        FILE *f = fopen(p, "rb");
        assert_non_null(f);
        static uint8_t buf[1 << 20];
        size_t m = fread(buf, 1, sizeof buf, f);
        fclose(f);
        fprintf(stderr, "[ replay   ] %s (%zu bytes)\n", p, m);
        one(buf, m);
        n++;
    }
    closedir(d);
    return n;
}

static const char *srcdir(void)
{
    const char *s = getenv("FRAMEPREC_SRCDIR");
    return s && *s ? s : ".";
}

static void test_case_loader_regressions(void **state)
{
    (void)state;
    int argc = 0;
    char **argv = NULL;
    case_loader_init(&argc, &argv);
    /* fixed inputs: nothing, garbage, the HDF5 signature alone */
    case_loader_one((const uint8_t *)"", 0);
    case_loader_one((const uint8_t *)"not hdf5 at all", 15);
    case_loader_one((const uint8_t *)"\x89HDF\r\n\x1a\n", 8);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/regress/case_loader", srcdir());
    replay_dir(dir, case_loader_one);
    fpr_set_max_memory(0);
}

static void test_frames_roundtrip_regressions(void **state)
{
    (void)state;
    int argc = 0;
    char **argv = NULL;
    frames_init(&argc, &argv);
    static const uint8_t fixed[][8] = {{0, 0, 0}, {3, 63, 1, 0xff, 0x80, 0x7f, 0xc0, 0}};
    frames_one(fixed[0], 3);
    frames_one(fixed[1], 8);
    tu_rng r = {tu_seed(9)};
    static uint8_t buf[20000];
    for (int k = 0; k < 20; k++) {
        for (size_t i = 0; i < sizeof buf; i++)
            buf[i] = (uint8_t)tu_next(&r);
        frames_one(buf, (size_t)(tu_next(&r) % sizeof buf));
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/regress/frames_roundtrip", srcdir());
    replay_dir(dir, frames_one);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_case_loader_regressions),
        cmocka_unit_test(test_frames_roundtrip_regressions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
