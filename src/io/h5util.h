/* h5util.h — HDF5 helpers for the io/ module: silenced HDF5 errors turned into
 * frameprec messages naming file, dataset and index; numeric conversion on read;
 * write-to-temporary-then-rename. */
#ifndef FRAMEPREC_H5UTIL_H
#define FRAMEPREC_H5UTIL_H

#include <hdf5.h>

#include "internal.h"

void fpr_h5_quiet(void);
/* Creation lists without object modification times (byte-identical outputs): groups;
 * every dataset and file frameprec creates through fpr_h5_create/fpr_h5_write too. */
hid_t fpr_h5_gcpl(void);

/* Opens an existing file read-only; message names the file. */
int fpr_h5_open_read(const char *path, hid_t *out);

/* Reads the shape of a dataset; fails (naming file and dataset) when it is missing,
 * not numeric (for numeric = 1), or its rank is not one of the allowed ones
 * (rank_lo..rank_hi). dims gets up to 4 entries. */
int fpr_h5_shape(hid_t f, const char *file, const char *ds, int numeric, int rank_lo,
                 int rank_hi, int *rank, hsize_t dims[4]);

/* Reads a whole numeric dataset of n elements converted to double / float. Any
 * integer, float or enum (h5py bool) type is accepted. */
int fpr_h5_read_f64(hid_t f, const char *file, const char *ds, size_t n, double *out);
int fpr_h5_read_f32(hid_t f, const char *file, const char *ds, size_t n, float *out);
/* Reads a string dataset of n strings (fixed or variable length); out[i] malloc'ed. */
int fpr_h5_read_strings(hid_t f, const char *file, const char *ds, size_t n, char **out);
int fpr_h5_exists(hid_t f, const char *ds);

/* Root attributes: string (malloc'ed, NULL if absent and optional) and number. */
int fpr_h5_attr_string(hid_t f, const char *file, const char *name, int required, char **out);
int fpr_h5_attr_double(hid_t f, const char *file, const char *name, int *present, double *out);

/* Writing. fpr_h5_create makes `path`.tmp.<pid>; fpr_h5_commit closes and renames it,
 * fpr_h5_abort closes and removes it. */
typedef struct fpr_h5_out {
    hid_t f;
    char *final_path;
    char *tmp_path;
    int slot; /* fpr_tmp_register slot: removed on SIGINT/SIGTERM while open */
} fpr_h5_out;
int fpr_h5_create(const char *path, fpr_h5_out *o);
int fpr_h5_commit(fpr_h5_out *o);
void fpr_h5_abort(fpr_h5_out *o);

int fpr_h5_write(fpr_h5_out *o, const char *ds, hid_t memtype, hid_t filetype, int rank,
                 const hsize_t *dims, const void *data, int compress);
int fpr_h5_write_strings(fpr_h5_out *o, const char *ds, size_t n, char *const *s, int compress);
int fpr_h5_set_attr_string(fpr_h5_out *o, const char *name, const char *value);
int fpr_h5_set_attr_double(fpr_h5_out *o, const char *name, double value);
int fpr_h5_set_attr_int(fpr_h5_out *o, const char *name, int value);

#endif
