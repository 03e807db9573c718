#!/usr/bin/python3
"""torch_frames.py — run any function with OpenFold3's get_token_frame_atoms signature
over frameprec cases and the study's sweep, writing a DIR for `frameprec study --import`
and `frameprec score` (issue 14, SPEC §11).

  torch_frames.py CASE.h5 [CASE.h5 ...] -o DIR [--function F] [--device cpu|cuda]
                  [--matmul-precision highest|high|medium] [--offsets 0,10,100,1000]
                  [--modes native,all] [--max-atomize-all 60000] [--arithmetic NAME[:PARAMS]]
                  [--threads T]

The function. OpenFold3's signature, read from openfold3/core/utils/atomize_utils.py
(aqlaboratory/openfold-3):

    def get_token_frame_atoms(batch: dict, x: torch.Tensor, atom_mask: torch.Tensor,
                              angle_threshold: float = 25.0, eps: float = 1e-8,
                              inf: float = 1e9):
        ...
        return phi, valid_frame_mask

with phi a tuple of three [*, N_token, 3] position tensors (a, b, c) and
valid_frame_mask [*, N_token]. The batch keys it reads: restype (one-hot [*, N_token, 32],
float), token_mask, is_protein, is_rna, is_dna, is_atomized (float [*, N_token]), asym_id,
num_atoms_per_token (through broadcast_token_feat_to_atoms), start_atom_index (it calls
.long()). OpenFold3's own tests (openfold3/tests/test_atomize_utils.py) build such batches
with a leading batch dimension of 1 and x [1, N_atom, 3]; so does this adapter, one call
per sample. restype is one_hot(restype, 32) * token_mask[..., None], as in those tests.

--function: MODULE:FUNCTION importable from PYTHONPATH (e.g. with an OpenFold3 checkout,
openfold3.core.utils.atomize_utils:get_token_frame_atoms), or a built-in:
  builtin:original  (default) the original difference formula, the oracle's vendored
                    formulation (scripts/torch_oracle.py, form "orig"), behind the
                    OpenFold3 signature;
  builtin:cdist     the same with torch.cdist distances and boolean masks (PR 244).

Every output file records what ran: torch version, device and its name, the matmul
precision actually in effect (torch.get_float32_matmul_precision and
torch.backends.cuda.matmul.allow_tf32), the function, and the declared arithmetic (the
frameprec backend the run is scored as; --arithmetic, default: exact_diff for
builtin:original and any other function, matmul fma=0 for builtin:cdist on the CPU
(Debian's PyTorch: reference BLAS, no FMA), matmul_tf32 for builtin:cdist on CUDA under
"high"/"medium", matmul under "highest").

DIR layout (what `frameprec study --import NAME=DIR` reads): one HDF5 file per run,
DIR/<case name>@<mode>@<offset>.h5 — the case file's `name` attribute, mode "native" or
"all" (every atom atomized, names get "+atomize_all" inside frameprec but the key uses
the case's own name), offset as C's %g ("0", "10", "1000"); '/' and whitespace in the
name become '_'. Datasets phi [S][N_token][3][3] float32 (order a, b, c) and
valid_frame_mask [S][N_token] uint8; no indices (the function does not return them;
frameprec recovers them from phi). Root attributes: format = "frameprec-external-frames",
case_name, mode, offset, function, arithmetic, arithmetic_params, torch_version, device,
device_name, matmul_precision, allow_tf32, samples. DIR/manifest.json lists the files.

Only Debian's python3-torch, python3-h5py, python3-numpy; run with /usr/bin/python3.
"""
import argparse
import importlib
import json
import os
import re
import sys

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import torch_oracle  # noqa: E402  (the vendored formulations)


def read_case(path):
    c = torch_oracle.read_case(path)
    return c


def atomize_all(c):
    """frameprec's fpr_case_atomize_all: every atom of an unmasked token becomes a token
    of its own (restype, asym_id and flags of its token; atomized; unmasked)."""
    keep = np.nonzero(c["token_mask"] != 0)[0]
    d = dict(c)
    rows = {k: [] for k in ("restype", "asym_id", "start_atom_index", "num_atoms_per_token",
                            "is_protein", "is_rna", "is_dna", "is_atomized", "token_mask")}
    for t in keep:
        n = int(c["num_atoms_per_token"][t])
        st = int(c["start_atom_index"][t])
        for i in range(n):
            rows["restype"].append(c["restype"][t])
            rows["asym_id"].append(c["asym_id"][t])
            rows["start_atom_index"].append(st + i)
            rows["num_atoms_per_token"].append(1)
            rows["is_protein"].append(c["is_protein"][t])
            rows["is_rna"].append(c["is_rna"][t])
            rows["is_dna"].append(c["is_dna"][t])
            rows["is_atomized"].append(1)
            rows["token_mask"].append(1)
    for k, v in rows.items():
        d[k] = np.asarray(v)
    return d


def to_batch(c, torch, device):
    """OpenFold3's feature dict with a batch dimension of 1 (one-hot restype × token
    mask, float flags), on `device`."""
    f = lambda k: torch.from_numpy(c[k].astype(np.float32))[None].to(device)
    i = lambda k: torch.from_numpy(c[k].astype(np.int64))[None].to(device)
    batch = {k: f(k) for k in ("is_protein", "is_rna", "is_dna", "is_atomized", "token_mask")}
    batch["asym_id"] = i("asym_id")
    batch["num_atoms_per_token"] = i("num_atoms_per_token")
    batch["start_atom_index"] = i("start_atom_index")
    oh = torch.nn.functional.one_hot(torch.from_numpy(c["restype"].astype(np.int64)), 32).float()
    batch["restype"] = (oh * torch.from_numpy(c["token_mask"].astype(np.float32))[:, None])[None].to(device)
    return batch


def _builtin(form):
    def fn(batch, x, atom_mask, angle_threshold=25.0, eps=1e-8, inf=1e9):
        import torch
        b = {k: v[0] for k, v in batch.items()}  # the oracle works without the batch dim
        _, _, _, phi, valid, _ = torch_oracle.frame_atoms(form, b, x, atom_mask[0], angle_threshold,
                                                          eps, inf, torch)
        return (phi[..., 0, :], phi[..., 1, :], phi[..., 2, :]), valid
    fn.__name__ = "builtin_" + form
    return fn


def load_function(spec):
    if spec == "builtin:original":
        return _builtin("orig")
    if spec == "builtin:cdist":
        return _builtin("cdist")
    if ":" not in spec:
        raise SystemExit("torch_frames: --function must be MODULE:FUNCTION or builtin:original|cdist")
    mod, name = spec.split(":", 1)
    return getattr(importlib.import_module(mod), name)


def default_arithmetic(spec, device, precision):
    if spec == "builtin:cdist":
        if device == "cpu":
            return "matmul", "fma=0"
        return ("matmul", "") if precision == "highest" else ("matmul_tf32", "")
    return "exact_diff", ""


def key_of(name, mode, off):
    k = "%s@%s@%s" % (name, mode, "%g" % off)
    return re.sub(r"[/\s]", "_", k)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases", nargs="+")
    ap.add_argument("-o", "--outdir", required=True)
    ap.add_argument("--function", default="builtin:original")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--matmul-precision", default="highest", choices=("highest", "high", "medium"))
    ap.add_argument("--offsets", default="0,10,100,1000")
    ap.add_argument("--modes", default="native,all")
    ap.add_argument("--max-atomize-all", type=int, default=60000)
    ap.add_argument("--arithmetic", default=None, help="NAME[:PARAMS] the run is scored as")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    if a.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("torch_frames: --device cuda but torch.cuda.is_available() is False")
    torch.set_float32_matmul_precision(a.matmul_precision)
    fn = load_function(a.function)
    if a.arithmetic:
        arith, _, aparams = a.arithmetic.partition(":")
    else:
        arith, aparams = default_arithmetic(a.function, a.device, a.matmul_precision)
    dev = torch.device(a.device)
    dname = torch.cuda.get_device_name(0) if a.device == "cuda" else "cpu"
    offsets = [float(v) for v in a.offsets.split(",") if v != ""]
    modes = [m for m in a.modes.split(",") if m]
    os.makedirs(a.outdir, exist_ok=True)
    manifest = []
    for path in a.cases:
        base = read_case(path)
        for mode in modes:
            if mode not in ("native", "all"):
                raise SystemExit("torch_frames: --modes takes native and/or all")
            if mode == "all" and a.max_atomize_all > 0 and base["x"].shape[1] > a.max_atomize_all:
                continue
            c = atomize_all(base) if mode == "all" else base
            for off in offsets:
                x32 = c["x"].astype(np.float32)
                if off != 0:  # frameprec: (float)((double)x + offset)
                    x32 = (x32.astype(np.float64) + off).astype(np.float32)
                S, T = x32.shape[0], c["restype"].shape[0]
                cc = dict(c)
                cc["x"] = x32
                batch = to_batch(cc, torch, dev)
                atom_mask = torch.from_numpy(c["atom_mask"].astype(np.float32))[None].to(dev)
                phi = np.zeros((S, T, 3, 3), dtype=np.float32)
                valid = np.zeros((S, T), dtype=np.uint8)
                with torch.no_grad():
                    for s in range(S):
                        xs = torch.from_numpy(x32[s])[None].to(dev)
                        (pa, pb, pc), v = fn(batch, xs, atom_mask, c["angle_threshold"], c["eps"],
                                             c["inf"])
                        phi[s] = torch.stack([pa, pb, pc], dim=-2)[0].float().cpu().numpy()
                        valid[s] = (v[0] != 0).cpu().numpy().astype(np.uint8)
                key = key_of(base["name"], mode, off)
                out = os.path.join(a.outdir, key + ".h5")
                tmp = out + ".tmp.%d" % os.getpid()
                with h5py.File(tmp, "w") as h:
                    h.create_dataset("phi", data=phi)
                    h.create_dataset("valid_frame_mask", data=valid)
                    at = h.attrs
                    at["format"] = "frameprec-external-frames"
                    at["case_name"] = base["name"]
                    at["case_file"] = os.path.abspath(path)
                    at["mode"] = mode
                    at["offset"] = off
                    at["function"] = a.function
                    at["arithmetic"] = arith
                    at["arithmetic_params"] = aparams
                    at["backend"] = "torch:" + a.function
                    at["torch_version"] = str(torch.__version__)
                    at["device"] = a.device
                    at["device_name"] = dname
                    at["matmul_precision"] = torch.get_float32_matmul_precision()
                    at["allow_tf32"] = int(bool(torch.backends.cuda.matmul.allow_tf32))
                    at["samples"] = S
                os.replace(tmp, out)
                manifest.append({"file": key + ".h5", "case": base["name"], "mode": mode,
                                 "offset": off})
                print("torch_frames: %s -> %s" % (key, out), flush=True)
    with open(os.path.join(a.outdir, "manifest.json.tmp"), "w") as f:
        json.dump({"format": "frameprec-external-dir", "function": a.function,
                   "device": a.device, "device_name": dname, "torch_version": torch.__version__,
                   "matmul_precision": torch.get_float32_matmul_precision(),
                   "arithmetic": arith, "arithmetic_params": aparams, "runs": manifest}, f,
                  indent=1)
    os.replace(os.path.join(a.outdir, "manifest.json.tmp"), os.path.join(a.outdir, "manifest.json"))


if __name__ == "__main__":
    main()
