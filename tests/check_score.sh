#!/usr/bin/env bash
# check_score.sh — `frameprec score` and `study --import` (issue 14, SPEC §11).
#  1. A truth frames file damaged on purpose (tests/score_mutate.py: 3 atomized tokens made
#     degenerate, a := b, and 7 others with a and c swapped; indices dropped, so they are
#     recovered from phi): score finds exactly those 10 changed tokens and the 3
#     degenerate ones, --fail-on changed and --fail-on degenerate exit 1, --fail-on flips
#     exits 0; the same with the indices kept; a mis-shaped file is refused by name.
#  2. With PyTorch: frames of OpenFold3's original formula (scripts/torch_frames.py, the
#     oracle's vendored formulation) report nothing beyond tie-order differences, and
#     --fail-on changed exits 0.
#  3. With PyTorch: `study --import torch_orig=DIR` of that CPU run over a corpus subset
#     and a generated case: the row is identical to exact_diff except tie-order tokens
#     (ident_diff 0 on every run) and the gate passes; a tampered import fails the gate.
# Parts needing python3-h5py/numpy or python3-torch say SKIPPED when those are missing.
set -u
BIN=${FRAMEPREC:-${BUILD:-build}/frameprec}
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")/.." && pwd)
cd "$HERE"
W=$(mktemp -d /tmp/frameprec-check-score.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }

if ! $PY -c 'import h5py, numpy' 2>/dev/null; then
    echo "check_score: SKIPPED: python3-h5py / python3-numpy not installed"
    exit 0
fi
"$BIN" gen protein --atoms 1500 --chains 2 --ligand-atoms 40 --missing 0.05 --samples 2 \
    -o "$W/q.h5" >/dev/null 2>&1 || { echo "check_score: gen failed"; exit 1; }
"$BIN" gen ligands -o "$W/lig.h5" >/dev/null 2>&1 || { echo "check_score: gen failed"; exit 1; }
"$BIN" frames -q --backend truth "$W/q.h5" -o "$W/qt.h5" || { echo "check_score: truth failed"; exit 1; }

# ---------------------------------------------------------------- 1. known damage
for keep in "" --keep-indices; do
    exp=$($PY tests/score_mutate.py "$W/qt.h5" "$W/qm.h5" --degenerate 3 --swap 7 $keep) ||
        { bad "score_mutate"; continue; }
    "$BIN" score "$W/q.h5" "$W/qm.h5" --json "$W/s.json" --fail-on changed >"$W/s.txt" 2>&1
    rc=$?
    [ $rc = 1 ] && ok "score --fail-on changed exits 1 on damaged frames ${keep:-(indices recovered)}" ||
        { bad "score --fail-on changed exit $rc"; cat "$W/s.txt"; }
    $PY - "$exp" "$W/s.json" <<'EOF' && ok "score finds exactly the 10 changed and the 3 degenerate tokens" || fail=1
import json, sys
exp, got = json.loads(sys.argv[1]), json.load(open(sys.argv[2]))
changed = sorted(t["token"] for t in got["flagged_tokens"] if "changed" in t["flags"])
degen = sorted(t["token"] for t in got["flagged_tokens"] if "degenerate" in t["flags"])
want_changed = sorted(exp["degenerate"] + exp["swapped"])
samples = {t["sample"] for t in got["flagged_tokens"]}
kinds = {t["token"]: t["kind"] for t in got["flagged_tokens"]}
okay = (changed == want_changed and degen == sorted(exp["degenerate"]) and samples == {0}
        and got["changed"] == 10 and got["degenerate"] == 3
        and all(kinds[t] == "swapped" for t in exp["swapped"])
        and all(kinds[t] == "self_not_first" for t in exp["degenerate"]))
if not okay:
    print("FAIL score: changed %s (want %s), degenerate %s (want %s), kinds %s" %
          (changed, want_changed, degen, sorted(exp["degenerate"]), kinds))
sys.exit(0 if okay else 1)
EOF
done
"$BIN" score "$W/q.h5" "$W/qm.h5" --fail-on degenerate -q 2>/dev/null
[ $? = 1 ] && ok "score --fail-on degenerate exits 1" || bad "score --fail-on degenerate"
"$BIN" score "$W/q.h5" "$W/qm.h5" --fail-on flips -q 2>/dev/null
[ $? = 0 ] && ok "score --fail-on flips exits 0 (no valid mask was touched)" || bad "score --fail-on flips"
# --json onto an input is refused before anything is computed, and the input stays
sum0=$(sha256sum <"$W/qm.h5")
"$BIN" score "$W/q.h5" "$W/qm.h5" --json "$W/qm.h5" -q 2>/dev/null
rc=$?
[ $rc != 0 ] && [ "$(sha256sum <"$W/qm.h5")" = "$sum0" ] &&
    ok "score --json refuses to overwrite its input" || bad "score --json onto its input: exit $rc"
# indices that disagree with phi (frames of the untranslated case scored at +10 A)
"$BIN" frames -q --backend exact_diff "$W/q.h5" -o "$W/qe.h5"
msg=$("$BIN" score "$W/q.h5" "$W/qe.h5" --translate 10 -q 2>&1)
rc=$?
[ $rc = 1 ] && echo "$msg" | grep -q "qe.h5: sample 0, token 0: phi\[0\] = .*indices and phi disagree" &&
    ok "score refuses indices that disagree with phi, naming sample and token" ||
    bad "score with indices contradicting phi: exit $rc: $msg"
"$BIN" score "$W/q.h5" "$W/qe.h5" -q --fail-on changed,degenerate,flips &&
    ok "frameprec's own exact_diff frames score clean" || bad "exact_diff frames did not score clean"
# a frames file of another case: refused, naming the file and the dataset
"$BIN" frames -q --backend exact_diff "$W/lig.h5" -o "$W/lf.h5"
msg=$("$BIN" score "$W/q.h5" "$W/lf.h5" 2>&1)
rc=$?
if [ $rc = 1 ] && echo "$msg" | grep -q "lf.h5: dataset 'phi' has shape"; then
    ok "score refuses frames of another case's shape by file and dataset"
else
    bad "score on mis-shaped frames: exit $rc: $msg"
fi

# ---------------------------------------------------------------- 2. OpenFold3's formula
if ! $PY -c 'import torch' 2>/dev/null; then
    echo "check_score: SKIPPED (parts 2, 3): python3-torch not installed"
    [ $fail = 0 ] && echo "check_score: passed" || echo "check_score: FAILED"
    exit $fail
fi
$PY scripts/torch_frames.py "$W/q.h5" "$W/lig.h5" -o "$W/of" --offsets 0 --modes native \
    >/dev/null || bad "torch_frames.py"
tie=0
for c in q:gen-protein-1500 lig:gen-ligands; do
    f="$W/of/${c#*:}@native@0.h5"
    c=${c%%:*}
    "$BIN" score "$W/$c.h5" "$f" --json "$W/o.json" --fail-on changed >"$W/o.txt" 2>&1
    rc=$?
    n=$($PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["changed"], d["tie_order"], d["vs_declared"], sum("changed" in t["flags"] for t in d["flagged_tokens"]))' "$W/o.json")
    set -- $n
    tie=$((tie + $2))
    if [ $rc = 0 ] && [ "$1" = 0 ] && [ "$3" = 0 ] && [ "$4" = 0 ]; then
        ok "OpenFold3's formula on $c: nothing changed beyond $2 tie-order tokens, --fail-on changed exits 0"
    else
        bad "OpenFold3's formula on $c: exit $rc, changed $1, vs exact_diff $3"; cat "$W/o.txt"
    fi
done
[ $tie -gt 0 ] && ok "tie-order differences are seen and told apart ($tie tokens)" ||
    bad "no tie-order token seen: the generated cases no longer exercise topk's tie order"

# --function MODULE:FUNCTION: a stand-in with OpenFold3's signature that asserts the batch
# has OpenFold3's keys, shapes and dtypes gives byte-identical files to the built-in
PYTHONPATH=tests $PY scripts/torch_frames.py "$W/q.h5" -o "$W/stub" --offsets 0 --modes native \
    --function of3_stub:get_token_frame_atoms >/dev/null 2>"$W/stub.log" &&
    $PY -c 'import sys, h5py, numpy as np; a, b = h5py.File(sys.argv[1]), h5py.File(sys.argv[2]); sys.exit(0 if all(np.array_equal(a[k][()], b[k][()]) for k in ("phi", "valid_frame_mask")) else 1)' \
        "$W/stub/gen-protein-1500@native@0.h5" "$W/of/gen-protein-1500@native@0.h5" &&
    ok "torch_frames.py --function MODULE:FUNCTION passes OpenFold3's batch layout" ||
    { bad "torch_frames.py --function with the OpenFold3-signature stand-in"; cat "$W/stub.log"; }

# batch2case.py: the batch dict torch_frames.py builds, torch.save'd with the coordinates,
# comes back as a case whose frames are byte-identical to the original's
$PY - "$W/q.h5" "$W/batch.pt" <<'EOF' || bad "saving a batch dict"
import sys, numpy as np, torch
sys.path.insert(0, "scripts")
import torch_frames as tf
c = tf.read_case(sys.argv[1])
b = tf.to_batch(c, torch, "cpu")
b["x"] = torch.from_numpy(c["x"])[None]
b["atom_mask"] = torch.from_numpy(c["atom_mask"].astype(np.float32))[None]
torch.save(b, sys.argv[2])
EOF
if $PY scripts/batch2case.py "$W/batch.pt" -o "$W/q2.h5" --name gen-protein-1500 >/dev/null &&
   "$BIN" frames -q --backend exact_diff "$W/q.h5" -o "$W/f1.h5" &&
   "$BIN" frames -q --backend exact_diff "$W/q2.h5" -o "$W/f2.h5" &&
   $PY -c 'import sys, h5py, numpy as np; a, b = h5py.File(sys.argv[1]), h5py.File(sys.argv[2]); sys.exit(0 if all(np.array_equal(a[k][()], b[k][()]) for k in ("a_index", "b_index", "c_index", "phi", "valid_frame_mask")) else 1)' "$W/f1.h5" "$W/f2.h5"; then
    ok "batch2case.py: a saved OpenFold3 batch becomes a case with identical frames"
else
    bad "batch2case.py round trip"
fi

# ---------------------------------------------------------------- 3. study --import
SUB="cases/133d.h5 cases/1a8o.h5 $W/q.h5 $W/lig.h5"
$PY scripts/torch_frames.py $SUB -o "$W/imp" --offsets 0,1000 >/dev/null || bad "torch_frames.py over the subset"
if "$BIN" study $SUB --offsets 0,1000 -q -o "$W/si" --import torch_orig="$W/imp" >"$W/si.log" 2>&1; then
    ok "study --import torch_orig"
else
    bad "study --import"; cat "$W/si.log"
fi
$PY - "$W/si/summary.json" <<'EOF' && ok "torch_orig is identical to exact_diff except tie-order tokens on every run" || fail=1
import json, sys
d = json.load(open(sys.argv[1]))
ids = []
def walk(o, key=None):
    # every per-run result of torch_orig, whatever the summary's nesting
    if isinstance(o, dict):
        if key == "torch_orig" or o.get("backend") == "torch_orig":
            m = o.get("metrics", o)
            if "ident_diff" in m:
                ids.append(m["ident_diff"])
        for k, v in o.items():
            walk(v, k)
    elif isinstance(o, list):
        for v in o:
            walk(v)
walk(d.get("runs"))
ok = len(ids) >= 16 and all(v == 0 for v in ids)
if not ok:
    print("FAIL torch_orig ident_diff per run: %s" % ids)
sys.exit(0 if ok else 1)
EOF
"$BIN" check --baseline reports/baseline.json --allow-new "$W/si" >"$W/c.log" 2>&1 &&
    ok "the gate passes with the import row" || { bad "gate with the import row"; cat "$W/c.log"; }
# tamper with one import: swap a and c of the first well-separated token of 133d
f="$W/imp/133d@native@0.h5"
"$BIN" frames -q --backend truth cases/133d.h5 -o "$W/t133.h5"
$PY - "$f" "$W/t133.h5" <<'EOF'
import sys, h5py, numpy as np
with h5py.File(sys.argv[2], "r") as t:
    m1 = t["margin1"][()][0]
    top = t["top_value"][()][0]
cand = [i for i in range(len(m1)) if not np.isnan(top[i, 0]) and m1[i] > 1e-3]
with h5py.File(sys.argv[1], "r+") as h:
    phi = h["phi"][()]
    phi[0, cand[0], [0, 2]] = phi[0, cand[0], [2, 0]]
    h["phi"][...] = phi
EOF
"$BIN" study $SUB --offsets 0,1000 -q -o "$W/st" --import torch_orig="$W/imp" >/dev/null 2>&1
"$BIN" check --baseline reports/baseline.json --allow-new "$W/st" >"$W/c2.log" 2>&1
rc=$?
if [ $rc = 1 ] && grep -q "^FAIL 133d \[native, +0 A\] torch_orig" "$W/c2.log"; then
    ok "a tampered import fails the gate, named"
else
    bad "tampered import: gate exit $rc"; cat "$W/c2.log"
fi
rm -f "$W/imp/1a8o@all@1000.h5"
"$BIN" study $SUB --offsets 0,1000 -q -o "$W/sm" --import torch_orig="$W/imp" >"$W/sm.log" 2>&1
rc=$?
[ $rc != 0 ] && grep -q "1a8o@all@1000.h5 is missing" "$W/sm.log" &&
    ok "a missing import file is refused by name" || { bad "missing import file: exit $rc"; cat "$W/sm.log"; }

[ $fail = 0 ] && echo "check_score: passed" || echo "check_score: FAILED"
exit $fail
