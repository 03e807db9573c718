#!/bin/bash
# Converter test: scripts/cif2case.py on the hand-written tests/data/mini.cif and on
# small fixtures tests/test_cif2case.py writes (variants of mini.cif, PDB files), checked
# against hand-written expectations. One case for each OpenFold3 reading rule and each
# refusal: mmCIF without occupancy columns, altloc by summed occupancy with ties,
# crystallization aids, simulation waters (SOL/TIP3/WAT) and lipids, a glycan tree in PDB
# and mmCIF (same chains, bonded ASN atomized), BinaryCIF, a missing --chains chain, an
# unwritable or missing output folder, a malformed file (one line, no traceback), unique
# temporary names and per-option default case names. Run by `make test`.
# Needs Debian's python3-gemmi, python3-h5py, python3-numpy: installed when missing and
# we are root, otherwise the test says SKIPPED (exit 0).
set -u
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
if ! $PY -c 'import gemmi, h5py, numpy' 2>/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        echo "check_cif2case: installing python3-gemmi python3-h5py python3-numpy"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq python3-gemmi python3-h5py python3-numpy >/dev/null
    fi
    if ! $PY -c 'import gemmi, h5py, numpy' 2>/dev/null; then
        echo "check_cif2case: SKIPPED (python3-gemmi/h5py/numpy missing and not root;" \
             "run: sudo apt-get install -y python3-gemmi python3-h5py python3-numpy)"
        exit 0
    fi
fi
if $PY tests/test_cif2case.py; then
    echo "check_cif2case: PASS"
else
    echo "check_cif2case: FAIL"
    exit 1
fi
