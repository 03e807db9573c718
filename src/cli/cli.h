/* cli.h — the subcommand table and small helpers shared by src/cli/ files. */
#ifndef FRAMEPREC_CLI_H
#define FRAMEPREC_CLI_H

#include <stdint.h>

#include "frameprec.h"

typedef struct fpr_cmd {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
} fpr_cmd;

/* Prints "frameprec CMD: message" for the current error and returns exit status 1
 * (2 for usage errors). */
int fpr_cli_fail(const char *cmd, int rc);
/* Parses a byte size like 512M, 2G, 1000000; returns 0 on success. */
int fpr_cli_parse_bytes(const char *s, uint64_t *out);
/* Parses a non-negative integer / a double; returns 0 on success. */
int fpr_cli_parse_int(const char *s, long *out);
int fpr_cli_parse_double(const char *s, double *out);
/* Angle stage names: backend, f32, f64, exact. */
int fpr_cli_parse_angle(const char *s, int *out);
const char *fpr_cli_angle_name(int a);
/* Applies the --max-memory option's default (3/4 of physical memory). */
void fpr_cli_default_memory(void);

#endif
