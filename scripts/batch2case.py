#!/usr/bin/python3
"""batch2case.py — an OpenFold3 feature dict saved with torch.save, plus coordinates, as a
frameprec case file (issue 14, SPEC §11), so users bring their own inputs.

  batch2case.py BATCH.pt -o CASE.h5 [--name N] [--batch-index B] [--coords KEY]
                [--mask KEY] [--source TEXT]

BATCH.pt: torch.save of a dict holding OpenFold3's token features, as
get_token_frame_atoms reads them (openfold3/core/utils/atomize_utils.py): restype (one-hot
[*, N_token, 32]), token_mask, is_protein, is_rna, is_dna, is_atomized, asym_id,
num_atoms_per_token, start_atom_index; and the coordinates with their atom mask. Where
OpenFold3 keeps them (its losses and confidence code): predicted atom_positions_predicted
with batch["atom_mask"], or the ground truth batch["ground_truth"]["atom_positions"] with
batch["ground_truth"]["atom_resolved_mask"]. --coords / --mask name other keys; a dotted
key ("ground_truth.atom_positions") reaches into a nested dict. Default search order for
the coordinates: x, atom_positions_predicted, ground_truth.atom_positions,
gt_atom_positions, all_atom_positions; for the mask: atom_mask,
ground_truth.atom_resolved_mask, gt_atom_mask, all_atom_mask.

Shapes: a leading batch dimension is taken at --batch-index (default 0) when the token
features are 2-D; coordinates [N_atom, 3], [S, N_atom, 3] (samples) or with the batch
dimension first. The case is written with h5py (numbers as they come; frameprec converts
and validates on read: run `frameprec info CASE.h5`). Only Debian's python3-torch,
python3-h5py, python3-numpy; run with /usr/bin/python3.
"""
import argparse
import os

import h5py
import numpy as np

TOKEN_KEYS = ("token_mask", "is_protein", "is_rna", "is_dna", "is_atomized", "asym_id",
              "num_atoms_per_token", "start_atom_index")
COORD_KEYS = ("x", "atom_positions_predicted", "ground_truth.atom_positions",
              "gt_atom_positions", "all_atom_positions")
MASK_KEYS = ("atom_mask", "ground_truth.atom_resolved_mask", "gt_atom_mask", "all_atom_mask")


def get(d, key):
    for part in key.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


def arr(v):
    if hasattr(v, "detach"):
        v = v.detach().cpu()
        if v.dtype.is_floating_point:
            v = v.double()
        return v.numpy()
    return np.asarray(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("batch")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--name")
    ap.add_argument("--batch-index", type=int, default=0)
    ap.add_argument("--coords")
    ap.add_argument("--mask")
    ap.add_argument("--source")
    a = ap.parse_args()
    import torch

    d = torch.load(a.batch, map_location="cpu")
    if not isinstance(d, dict):
        raise SystemExit("batch2case: %s: expected a dict (torch.save of the feature dict)" % a.batch)
    missing = [k for k in ("restype",) + TOKEN_KEYS if get(d, k) is None]
    if missing:
        raise SystemExit("batch2case: %s: missing feature(s) %s" % (a.batch, ", ".join(missing)))
    restype = arr(get(d, "restype"))
    batched = restype.ndim == 3
    bi = a.batch_index
    if batched and not (0 <= bi < restype.shape[0]):
        raise SystemExit("batch2case: --batch-index %d outside the batch of %d" % (bi, restype.shape[0]))
    tok = {}
    for k in TOKEN_KEYS:
        v = arr(get(d, k))
        tok[k] = v[bi] if batched else v
    r = restype[bi] if batched else restype
    if r.ndim != 2 or r.shape[1] != 32:
        raise SystemExit("batch2case: restype has shape %s, expected one-hot [.., N_token, 32]" % (r.shape,))
    # one-hot rows of masked tokens may be all zero (restype x token_mask): index 0 then
    rt = np.argmax(r, axis=-1).astype(np.int32)
    ck = a.coords or next((k for k in COORD_KEYS if get(d, k) is not None), None)
    mk = a.mask or next((k for k in MASK_KEYS if get(d, k) is not None), None)
    if ck is None or get(d, ck) is None:
        raise SystemExit("batch2case: %s: no coordinates (tried %s; name one with --coords)"
                         % (a.batch, ", ".join([a.coords] if a.coords else COORD_KEYS)))
    if mk is None or get(d, mk) is None:
        raise SystemExit("batch2case: %s: no atom mask (tried %s; name one with --mask)"
                         % (a.batch, ", ".join([a.mask] if a.mask else MASK_KEYS)))
    x = arr(get(d, ck)).astype(np.float32)
    m = arr(get(d, mk))
    if batched and x.ndim >= 3 and x.shape[0] == restype.shape[0] and (x.ndim == 4 or x.ndim == 3):
        x = x[bi]
    if batched and m.ndim >= 2 and m.shape[0] == restype.shape[0]:
        m = m[bi]
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[-1] != 3:
        raise SystemExit("batch2case: coordinates '%s' have shape %s, expected [S, N_atom, 3]" % (ck, x.shape))
    while m.ndim > 1:  # a per-sample mask: frameprec keeps one mask for all samples
        if not (m == m[0]).all():
            raise SystemExit("batch2case: atom mask '%s' differs between samples" % mk)
        m = m[0]
    if m.shape[0] != x.shape[1]:
        raise SystemExit("batch2case: atom mask has %d atoms, coordinates %d" % (m.shape[0], x.shape[1]))
    name = a.name or os.path.splitext(os.path.basename(a.batch))[0]
    tmp = a.output + ".tmp.%d" % os.getpid()
    with h5py.File(tmp, "w") as h:
        h.attrs["format"] = "frameprec-case"
        h.attrs["version"] = 1
        h.attrs["name"] = name
        h.attrs["source"] = a.source or ("batch2case.py %s (coordinates %s, mask %s, batch index %d)"
                                         % (os.path.basename(a.batch), ck, mk, bi))
        h.create_dataset("x", data=x)
        h.create_dataset("atom_mask", data=m)
        h.create_dataset("restype", data=rt)
        for k in TOKEN_KEYS:
            h.create_dataset(k, data=tok[k])
    os.replace(tmp, a.output)
    print("batch2case: %s -> %s (%d samples, %d atoms, %d tokens)" % (a.batch, a.output, x.shape[0],
                                                                      x.shape[1], rt.shape[0]))


if __name__ == "__main__":
    main()
