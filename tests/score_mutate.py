#!/usr/bin/python3
"""score_mutate.py — make a frames file with known damage for `frameprec score` (issue 14).

  score_mutate.py TRUTH_FRAMES.h5 OUT.h5 --degenerate 3 --swap 7 [--keep-indices]

Takes a truth frames file (frameprec frames --backend truth), chooses atomized tokens of
sample 0 whose picks are clearly ordered (margin1 > 1e-3, a valid frame, a != c), makes
the first --degenerate of them degenerate (a := b: phi's a row becomes b's coordinates)
and swaps a and c of the next --swap ones, then writes only phi and valid_frame_mask
(plus the indices with --keep-indices, consistently edited), as another program would.
Prints JSON {"degenerate": [tokens], "swapped": [tokens]}.
"""
import argparse
import json

import h5py
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("truth")
ap.add_argument("out")
ap.add_argument("--degenerate", type=int, default=3)
ap.add_argument("--swap", type=int, default=7)
ap.add_argument("--keep-indices", action="store_true")
a = ap.parse_args()
with h5py.File(a.truth, "r") as h:
    phi = np.array(h["phi"][()], dtype=np.float32)
    valid = np.array(h["valid_frame_mask"][()], dtype=np.uint8)
    ai, bi, ci = (np.array(h[k][()]) for k in ("a_index", "b_index", "c_index"))
    m1 = np.array(h["margin1"][()])
    top = np.array(h["top_value"][()])
atomized = ~np.isnan(top[0, :, 0])
ok = atomized & (m1[0] > 1e-3) & (valid[0] == 1) & (ai[0] != ci[0])
cand = [int(t) for t in np.nonzero(ok)[0]]
need = a.degenerate + a.swap
if len(cand) < need:
    raise SystemExit("score_mutate: only %d suitable tokens, need %d" % (len(cand), need))
step = max(1, len(cand) // need)
chosen = cand[::step][:need]
deg, swp = chosen[: a.degenerate], chosen[a.degenerate:]
for t in deg:
    phi[0, t, 0] = phi[0, t, 1]
    ai[0, t] = bi[0, t]
for t in swp:
    phi[0, t, [0, 2]] = phi[0, t, [2, 0]]
    ai[0, t], ci[0, t] = ci[0, t], ai[0, t]
with h5py.File(a.out, "w") as h:
    h.create_dataset("phi", data=phi)
    h.create_dataset("valid_frame_mask", data=valid)
    if a.keep_indices:
        for k, v in (("a_index", ai), ("b_index", bi), ("c_index", ci)):
            h.create_dataset(k, data=v.astype(np.int32))
    h.attrs["backend"] = "mutated"
print(json.dumps({"degenerate": deg, "swapped": swp}))
