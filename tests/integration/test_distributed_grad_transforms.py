"""Gradient clipping in a data-parallel job (gloo over loopback, 2 processes): every rank clips the global
gradient, so the parameters are those of one process with the same global batch."""

from __future__ import annotations

import pytest
import torch

import minifc
from minifc.distributed import run_local

pytestmark = pytest.mark.subprocess

F64 = torch.float64
N, D, C, BATCH = 48, 12, 4, 8
CHAIN = ["clip_norm:max_norm=0.05"]


def _data() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    return {
        "X_train": torch.randn(N, D, dtype=F64, generator=g),
        "y_train": torch.randint(C, (N,), generator=g),
        "X_val": torch.randn(16, D, dtype=F64, generator=g),
        "y_val": torch.randint(C, (16,), generator=g),
    }


def _trainer(distributed) -> minifc.Trainer:
    torch.manual_seed(0)
    model = minifc.FullyConnectedNet([16], input_dim=D, num_classes=C, weight_scale=0.3, dtype=F64)
    return minifc.Trainer(model, _data(), update_rule="sgd_momentum", optim_config={"learning_rate": 0.1},
                          batch_size=BATCH, num_epochs=1, device="cpu", seed=7, verbose=False,
                          distributed=distributed, bucket_cap_mb=1e-3, gradient_transforms=CHAIN)  # fmt: skip


def _train_rank(ctx) -> dict[str, torch.Tensor]:
    trainer = _trainer(ctx)
    trainer.train(return_best_params=False)
    norms = torch.tensor(trainer.grad_norm_history, dtype=F64)
    return {k: v.clone() for k, v in trainer.model.params.items()} | {"norms": norms}


def test_two_ranks_clip_the_global_gradient_like_one_process_with_the_whole_batch() -> None:
    one = _trainer(True)
    one.train(return_best_params=False)
    assert min(one.grad_norm_history) > 0.05  # every step was clipped
    ranks = [o.value for o in run_local(_train_rank, 2, (), timeout=120, pg_timeout=30)]
    for name, w in one.model.params.items():
        assert torch.equal(ranks[0][name], ranks[1][name]), name
        torch.testing.assert_close(ranks[0][name], w, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(ranks[0]["norms"], torch.tensor(one.grad_norm_history, dtype=F64), rtol=1e-10, atol=0)
