#!/usr/bin/python3
"""torch_oracle.py — PyTorch as the oracle of frameprec (issue 8).

Runs, in PyTorch on the CPU, the formulations of OpenFold3's get_token_frame_atoms
(SPEC §2) that a user would actually ship, on one frameprec case file (SPEC §8), and
writes each result as a frames file (SPEC §8) plus its wall time and peak memory.

Formulations (--form):
  orig     the original: float pair mask, difference formula
           d = sum(eps + (x_i - x_j)**2, -1) ** 0.5, then d*mask + inf*(1-mask),
           torch.topk over the full [N, N] matrix.
  bool     the same distances with a boolean pair mask (in-place &=) and
           d.masked_fill_(~mask, inf)   (the second commit of OpenFold3 PR 244).
  cdist    torch.cdist(x, x) (default compute mode: the matrix-product identity for
           more than 25 points) with the boolean mask and masked_fill_ (PR 244).
  cdist_nomm  torch.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist") (the
           direct difference kernel, no matrix product) with the boolean mask and
           masked_fill_ — the variant a reviewer of PR 244 asked about.
  rows     only the start-atom rows: difference formula on [N_token, N], boolean mask.
  chunked  the start-atom rows in chunks of --chunk rows: [chunk, N] at a time.
  atomized_rows  only the start atoms of atomized tokens, --chunk rows at a time
           (a structure without atomized tokens computes no distance at all).

Everything after the top-k (frame indices, positions, the angle test in float32 with
Python-float bounds, validity) is the same code for every form, written from
SPEC §2 and OpenFold3's function (re-implemented here, not copied).

Commands:
  run  CASE -o OUT.h5 --form F [--threads T] [--chunk C]
       one formulation in this process; prints one JSON line (form, seconds,
       peak_bytes, ...). Peak memory: /proc/self/clear_refs ("5" resets the peak RSS
       VmHWM) just before the call, then VmHWM after it minus VmRSS before it — the
       resident memory the call added at its high-water mark (falls back to
       ru_maxrss when clear_refs is not writable). Inputs are built before the reset.
  all  CASE --outdir DIR [--forms orig,bool,...] [--threads T] [--max-bytes B]
       each formulation in a fresh subprocess (clean peak); skips a form whose
       estimated peak exceeds --max-bytes and says so; prints one JSON line per form.

Only Debian's python3-torch, python3-h5py and python3-numpy are used; run with
/usr/bin/python3.
"""
import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time

import h5py
import numpy as np

FORMS = ("orig", "bool", "cdist", "cdist_nomm", "rows", "chunked", "atomized_rows")

# Frame-atom offsets (SPEC §1): protein N, CA, C; RNA and DNA C3', C1', C4';
# -1 / has=0 where the type lacks the atom (GAP, or the other kind).
_OFF = {}
for _r in range(32):
    if _r <= 20:
        _OFF[_r] = {"N": 0, "CA": 1, "C": 2}
    elif _r <= 25:
        _OFF[_r] = {"C3'": 7, "C1'": 11, "C4'": 5}
    elif _r <= 30:
        _OFF[_r] = {"C3'": 7, "C1'": 10, "C4'": 5}
    else:
        _OFF[_r] = {}


def atom_offset_table(name):
    idx = [_OFF[r].get(name, -1) for r in range(32)]
    has = [1 if name in _OFF[r] else 0 for r in range(32)]
    return idx, has


def read_case(path):
    """A case file as numpy arrays (any numeric dataset type accepted, SPEC §8)."""
    c = {}
    with h5py.File(path, "r") as h:
        for k in ("x", "atom_mask", "restype", "asym_id", "start_atom_index",
                  "num_atoms_per_token", "is_protein", "is_rna", "is_dna",
                  "is_atomized", "token_mask"):
            c[k] = np.asarray(h[k][()])
        a = h.attrs
        c["name"] = a["name"].decode() if isinstance(a.get("name"), bytes) else str(a.get("name", ""))
        c["angle_threshold"] = float(a.get("angle_threshold", 25.0))
        c["eps"] = float(a.get("eps", 1e-8))
        c["inf"] = float(a.get("inf", 1e9))
    c["x"] = c["x"].astype(np.float32)
    return c


def to_batch(c, torch):
    """The feature dictionary as OpenFold3 receives it (float flags, one-hot restype)."""
    f = lambda k: torch.from_numpy(c[k].astype(np.float32))
    i = lambda k: torch.from_numpy(c[k].astype(np.int64))
    batch = {k: f(k) for k in ("is_protein", "is_rna", "is_dna", "is_atomized", "token_mask")}
    batch["asym_id"] = i("asym_id")
    batch["num_atoms_per_token"] = i("num_atoms_per_token")
    batch["start_atom_index"] = i("start_atom_index")
    batch["restype"] = torch.nn.functional.one_hot(i("restype"), 32).float()
    x = torch.from_numpy(c["x"])
    atom_mask = f("atom_mask")
    return batch, x, atom_mask


def atom_chain(batch, n_atom, torch):
    """SPEC §2 step 1: hand each unmasked token's asym_id to its next atoms (the
    reference's cumulative walk, as broadcast_token_feat_to_atoms does it); atoms left
    over at the end get chain 0."""
    tm = batch["token_mask"].long()
    counts = batch["num_atoms_per_token"] * tm
    ids = batch["asym_id"] * tm
    walk = torch.repeat_interleave(ids, counts)[:n_atom]
    out = torch.zeros(n_atom, dtype=torch.int64, device=walk.device)
    out[: walk.shape[0]] = walk
    return out


def offsets(name, restype_onehot, torch):
    idx, has = atom_offset_table(name)
    dev = restype_onehot.device  # the tables live where the batch lives (CPU or CUDA)
    o = torch.einsum("...k,k->...", restype_onehot, torch.tensor(idx, device=dev).float()).long()
    m = torch.einsum("...k,k->...", restype_onehot, torch.tensor(has, device=dev).float()).long()
    return o, m


def closest_full(form, x, atom_mask, chain, eps, inf, torch):
    """[S, N, 3] indices (and values) of the 3 smallest per row, full [N, N] matrix."""
    if form == "orig":
        pair_mask = atom_mask[..., None] * atom_mask[..., None, :]
        same = chain[..., None] == chain[..., None, :]
        pair_mask = pair_mask * same
        d = torch.sum(eps + (x[..., None, :] - x[..., None, :, :]) ** 2, dim=-1) ** 0.5
        d = d * pair_mask + inf * (1 - pair_mask)
    else:
        pair_mask = atom_mask.bool()[..., None] & atom_mask.bool()[..., None, :]
        pair_mask &= chain[..., None] == chain[..., None, :]
        if form == "bool":
            d = torch.sum(eps + (x[..., None, :] - x[..., None, :, :]) ** 2, dim=-1) ** 0.5
        elif form == "cdist_nomm":
            d = torch.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist")
        else:  # cdist
            d = torch.cdist(x, x)
        d.masked_fill_(~pair_mask, inf)
    val, idx = torch.topk(d, k=3, dim=-1, largest=False)
    return val, idx


def closest_rows(x, atom_mask, chain, start, eps, inf, torch, chunk=None):
    """Only the start-atom rows: [S, T, 3], optionally `chunk` rows at a time."""
    S, T = x.shape[0], start.shape[0]
    am = atom_mask.bool()
    vals = torch.empty((S, T, 3), dtype=x.dtype, device=x.device)
    idxs = torch.empty((S, T, 3), dtype=torch.int64, device=x.device)
    step = T if not chunk else chunk
    for t0 in range(0, T, step):
        st = start[t0 : t0 + step]
        xq = x[..., st, :]
        pm = am[st][:, None] & am[None, :]
        pm &= chain[st][:, None] == chain[None, :]
        d = torch.sum(eps + (xq[..., None, :] - x[..., None, :, :]) ** 2, dim=-1) ** 0.5
        d.masked_fill_(~pm, inf)
        v, i = torch.topk(d, k=3, dim=-1, largest=False)
        vals[:, t0 : t0 + step] = v
        idxs[:, t0 : t0 + step] = i
        del d, pm, xq
    return vals, idxs


def frame_atoms(form, batch, x, atom_mask, angle_threshold, eps, inf, torch, chunk=1024):
    """get_token_frame_atoms (SPEC §2) with the distance/top-k stage of `form`.
    Returns a, b, c indices [S, T], phi [S, T, 3, 3], valid [S, T], top values [S, T, 3]."""
    S, N = x.shape[0], x.shape[1]
    chain = atom_chain(batch, N, torch)
    start = batch["start_atom_index"]
    if form in ("rows", "chunked"):
        top_val, top_idx = closest_rows(x, atom_mask, chain, start, eps, inf, torch,
                                        chunk if form == "chunked" else None)
    elif form == "atomized_rows":
        # rows of the atomized tokens only; other tokens never read their row (their
        # index term is multiplied by is_atomized = 0), so they get index 0
        sel = torch.nonzero(batch["is_atomized"] > 0).flatten()
        top_val = torch.full((S, start.shape[0], 3), float("nan"), dtype=x.dtype)
        top_idx = torch.zeros((S, start.shape[0], 3), dtype=torch.int64)
        if sel.numel():
            v, i = closest_rows(x, atom_mask, chain, start[sel], eps, inf, torch, chunk)
            top_val[:, sel] = v
            top_idx[:, sel] = i
    else:
        v, i = closest_full(form, x, atom_mask, chain, eps, inf, torch)
        top_val = v[:, start, :]
        top_idx = i[:, start, :]
    a_index = top_idx[..., 1]
    c_index = top_idx[..., 2]

    atomized = batch["is_atomized"].long()
    std_prot = batch["is_protein"].long() * (1 - atomized)
    std_nuc = (batch["is_dna"].long() + batch["is_rna"].long()) * (1 - atomized)
    restype = batch["restype"] * batch["token_mask"][..., None]
    st = start.expand(S, start.shape[-1])
    names = {"a": ("N", "C3'"), "b": ("CA", "C1'"), "c": ("C", "C4'")}
    atomized_idx = {"a": a_index, "b": st, "c": c_index}
    fr = {}
    for key, (pn, nn) in names.items():
        po, pm = offsets(pn, restype, torch)
        no, nm = offsets(nn, restype, torch)
        index = (atomized_idx[key] * atomized + (st + po) * std_prot + (st + no) * std_nuc)
        tmask = atomized + pm * std_prot + nm * std_nuc
        pos = torch.gather(x, -2, index.unsqueeze(-1).expand(S, index.shape[-1], 3))
        asym = torch.gather(chain.expand(S, N), -1, index)
        am = torch.gather(atom_mask.expand(S, N), -1, index) * batch["token_mask"] * tmask
        fr[key] = (index, pos, asym, am)
    u = fr["a"][1] - fr["b"][1]
    w = fr["c"][1] - fr["b"][1]
    uv = torch.einsum("...i,...i->...", u, w)
    un = (eps + torch.sum(u ** 2, dim=-1)) ** 0.5
    wn = (eps + torch.sum(w ** 2, dim=-1)) ** 0.5
    cos = uv / (un * wn)
    lo = math.cos((180 - angle_threshold) * math.pi / 180)
    hi = math.cos(angle_threshold * math.pi / 180)
    ok = ((cos < hi) * (cos > lo)).long()
    ok = (ok * atomized + torch.ones_like(ok) * (1 - atomized)) * batch["token_mask"].long()
    ok_atom = fr["a"][3] * fr["b"][3] * fr["c"][3]
    ok_chain = (fr["a"][2] == fr["b"][2]) * (fr["b"][2] == fr["c"][2])
    valid = ok * ok_atom * ok_chain
    phi = torch.stack([fr["a"][1], fr["b"][1], fr["c"][1]], dim=-2)
    top = top_val.double()
    top[:, atomized == 0, :] = float("nan")
    return fr["a"][0], fr["b"][0], fr["c"][0], phi, valid, top


def write_frames(path, form, case_name, a, b, c, phi, valid, top, extra):
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as h:
        h.create_dataset("a_index", data=a.numpy().astype(np.int32))
        h.create_dataset("b_index", data=b.numpy().astype(np.int32))
        h.create_dataset("c_index", data=c.numpy().astype(np.int32))
        h.create_dataset("phi", data=phi.numpy().astype(np.float32))
        h.create_dataset("valid_frame_mask", data=valid.numpy().astype(np.uint8))
        h.create_dataset("top_value", data=top.numpy())
        h.attrs["backend"] = "torch_" + form
        h.attrs["case"] = case_name
        for k, v in extra.items():
            h.attrs[k] = v
    os.replace(tmp, path)


def status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def cmd_run(args):
    import torch

    torch.set_num_threads(args.threads)
    c = read_case(args.case)
    batch, x, atom_mask = to_batch(c, torch)
    # Warm up (libraries, thread pool, kernels) on a 4-atom ligand so the measured
    # call pays no one-time costs.
    wc = {"x": np.arange(12, dtype=np.float32).reshape(1, 4, 3) ** 1.5,
          "atom_mask": np.ones(4), "restype": np.full(4, 20), "asym_id": np.ones(4),
          "start_atom_index": np.arange(4), "num_atoms_per_token": np.ones(4),
          "is_protein": np.zeros(4), "is_rna": np.zeros(4), "is_dna": np.zeros(4),
          "is_atomized": np.ones(4), "token_mask": np.ones(4)}
    wb, wx, wm = to_batch(wc, torch)
    with torch.no_grad():
        frame_atoms(args.form, wb, wx, wm, 25.0, 1e-8, 1e9, torch, 2)
    rss0 = status_kb("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        method = "VmHWM after clear_refs=5, minus VmRSS before"
    except OSError:
        method = "ru_maxrss minus VmRSS before (upper bound if setup peaked higher)"
    t0 = time.perf_counter()
    with torch.no_grad():
        out = frame_atoms(args.form, batch, x, atom_mask, c["angle_threshold"], c["eps"],
                          c["inf"], torch, args.chunk)
    sec = time.perf_counter() - t0
    if method.startswith("VmHWM"):
        peak_kb = status_kb("VmHWM")
    else:
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak = max(0, peak_kb - rss0) * 1024
    rec = {"form": args.form, "case": c["name"], "file": args.case, "S": int(c["x"].shape[0]),
           "n_atom": int(c["x"].shape[1]), "n_token": int(c["restype"].shape[0]),
           "threads": args.threads,
           "chunk": args.chunk if args.form in ("chunked", "atomized_rows") else None,
           "n_atomized": int((c["is_atomized"] > 0).sum()),
           "cpu_capability": os.environ.get("ATEN_CPU_CAPABILITY", "(default dispatch)"),
           "seconds": sec, "peak_bytes": peak, "peak_method": method,
           "torch": torch.__version__, "output": args.output}
    if args.output:
        write_frames(args.output, args.form, c["name"], *out,
                     {"seconds": sec, "peak_bytes": peak, "threads": args.threads})
    print(json.dumps(rec), flush=True)


def estimate_bytes(form, S, N, T, chunk):
    """Rough peak of each form (bytes) to decide what fits before trying; the
    measured figures, not these, go into the reports."""
    if form == "orig":
        return S * 29.0 * N * N
    if form == "bool":
        return S * 25.0 * N * N
    if form == "cdist":
        return S * 9.0 * N * N
    if form == "cdist_nomm":
        return S * 6.0 * N * N
    rows = T if form == "rows" else min(chunk, T)
    return S * 25.0 * rows * N


def cmd_all(args):
    os.makedirs(args.outdir, exist_ok=True)
    with h5py.File(args.case, "r") as h:
        S, N = h["x"].shape[0], h["x"].shape[1]
        T = h["restype"].shape[0]
    base = os.path.splitext(os.path.basename(args.case))[0]
    for form in args.forms.split(","):
        est = estimate_bytes(form, S, N, T, args.chunk)
        if est > args.max_bytes:
            print(json.dumps({"form": form, "file": args.case, "n_atom": N, "S": S,
                              "skipped": "estimated peak %.1f GB exceeds --max-bytes %.1f GB"
                              % (est / 1e9, args.max_bytes / 1e9)}), flush=True)
            continue
        out = os.path.join(args.outdir, "%s.torch_%s.h5" % (base, form))
        cmd = [sys.executable, os.path.abspath(__file__), "run", args.case, "-o", out,
               "--form", form, "--threads", str(args.threads), "--chunk", str(args.chunk)]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            print(json.dumps({"form": form, "file": args.case, "n_atom": N, "S": S,
                              "error": p.stderr.strip().splitlines()[-1:] or ["exit %d" % p.returncode]}),
                  flush=True)
            continue
        print(p.stdout.strip().splitlines()[-1], flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="one formulation in this process")
    r.add_argument("case")
    r.add_argument("-o", "--output")
    r.add_argument("--form", choices=FORMS, required=True)
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--chunk", type=int, default=1024)
    a = sub.add_parser("all", help="every formulation, each in a fresh subprocess")
    a.add_argument("case")
    a.add_argument("--outdir", required=True)
    a.add_argument("--forms", default=",".join(FORMS))
    a.add_argument("--threads", type=int, default=1)
    a.add_argument("--chunk", type=int, default=1024)
    a.add_argument("--max-bytes", type=float, default=12e9)
    args = ap.parse_args()
    if args.cmd == "run":
        cmd_run(args)
    else:
        cmd_all(args)


if __name__ == "__main__":
    main()
