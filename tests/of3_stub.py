"""of3_stub.py — a stand-in with OpenFold3's get_token_frame_atoms signature for
tests/check_score.sh (PYTHONPATH=tests, --function of3_stub:get_token_frame_atoms): it asserts the
batch is shaped as OpenFold3's own tests build it (openfold3/tests/test_atomize_utils.py:
features [1, N_token], restype one-hot [1, N_token, 32] float, x [1, N_atom, 3],
atom_mask [1, N_atom]) and then runs the oracle's original formula."""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import torch_oracle  # noqa: E402


def get_token_frame_atoms(batch, x, atom_mask, angle_threshold=25.0, eps=1e-8, inf=1e9):
    keys = ("restype", "token_mask", "is_protein", "is_rna", "is_dna", "is_atomized", "asym_id",
            "num_atoms_per_token", "start_atom_index")
    for k in keys:
        assert k in batch, k
    T = batch["token_mask"].shape[-1]
    assert batch["restype"].shape == (1, T, 32) and batch["restype"].is_floating_point()
    for k in keys[1:]:
        assert batch[k].shape == (1, T), (k, batch[k].shape)
    for k in ("token_mask", "is_protein", "is_rna", "is_dna", "is_atomized"):
        assert batch[k].is_floating_point(), k
    assert x.ndim == 3 and x.shape[0] == 1 and x.shape[2] == 3 and x.dtype == torch.float32
    assert atom_mask.shape == x.shape[:2]
    b = {k: v[0] for k, v in batch.items()}
    _, _, _, phi, valid, _ = torch_oracle.frame_atoms("orig", b, x, atom_mask[0], angle_threshold,
                                                      eps, inf, torch)
    return (phi[..., 0, :], phi[..., 1, :], phi[..., 2, :]), valid
