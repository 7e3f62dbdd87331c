"""The Trainer as ranks of a data-parallel job (gloo over loopback, 2 processes): the same result as one
process with the global batch, identical parameters on every rank, rank-0-only checkpoints with exact
resume, a lost rank, and ``minifc train --nproc-per-node 2`` end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

import minifc
from minifc.distributed import DistributedError, free_port, run_local
from minifc.training.gradients import LocalGradients

pytestmark = pytest.mark.subprocess

F64 = torch.float64
N, D, C, BATCH = 48, 12, 4, 8


def _data() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    return {
        "X_train": torch.randn(N, D, dtype=F64, generator=g),
        "y_train": torch.randint(C, (N,), generator=g),
        "X_val": torch.randn(16, D, dtype=F64, generator=g),
        "y_val": torch.randint(C, (16,), generator=g),
    }


def _trainer(distributed, rule: str, epochs: int = 2, **kwargs) -> minifc.Trainer:
    torch.manual_seed(0)
    model = minifc.FullyConnectedNet([16, 16], input_dim=D, num_classes=C, weight_scale=0.3, reg=0.01, dtype=F64)
    config = {"learning_rate": 0.05} if rule != "adam" else {"learning_rate": 1e-2}
    return minifc.Trainer(model, _data(), update_rule=rule, optim_config=config, batch_size=BATCH,
                          num_epochs=epochs, device="cpu", seed=7, verbose=False, distributed=distributed,
                          bucket_cap_mb=1e-3, **kwargs)


def _train_rank(ctx, rule: str) -> dict[str, torch.Tensor]:
    trainer = _trainer(ctx, rule)
    trainer.train(return_best_params=False)
    return {k: v.clone() for k, v in trainer.model.params.items()} | {"val_acc": torch.tensor(trainer.val_acc_history)}


@pytest.mark.parametrize("rule", ["sgd", "sgd_momentum", "adam"])
def test_two_ranks_with_half_batches_match_one_process_with_the_whole_batch(rule):
    one = _trainer(True, rule)  # no launcher environment: one process, rank 0 of 1
    one.train(return_best_params=False)
    ranks = [o.value for o in run_local(_train_rank, 2, (rule,), timeout=120, pg_timeout=30)]
    for name, w in one.model.params.items():
        assert torch.equal(ranks[0][name], ranks[1][name]), name  # every rank applied the same update
        torch.testing.assert_close(ranks[0][name], w, rtol=1e-10, atol=1e-12)
    assert torch.equal(ranks[0]["val_acc"], torch.tensor(one.val_acc_history))  # accuracy over both shards


def _no_autograd_rank(ctx) -> dict[str, torch.Tensor]:
    """Each rank's steps (foreach with the bucketed all-reduce, adam's one kernel) with autograd forbidden
    and parameters that would record a graph outside no_grad."""

    def forbidden(*args, **kwargs):
        raise AssertionError(f"autograd was called on rank {ctx.rank}")

    torch.Tensor.backward = forbidden  # this rank's process only
    torch.autograd.grad = torch.autograd.backward = forbidden
    steps = {}
    for rule in ("sgd_momentum", "adam"):
        trainer = _trainer(ctx, rule, epochs=1)
        assert not isinstance(trainer.gradient_hooks, LocalGradients)  # gradients all-reduced in buckets
        for name, w in trainer.model.params.items():
            trainer.model.params[name] = w.requires_grad_()
        with torch.autograd.graph.saved_tensors_hooks(forbidden, forbidden):
            for _ in range(3):
                trainer.step()
        assert all(w.grad_fn is None for w in trainer.model.params.values())
        steps[rule] = torch.tensor(trainer.step_count)
    return steps


def test_ranks_never_call_autograd():
    outcomes = run_local(_no_autograd_rank, 2, timeout=120, pg_timeout=30)
    assert [int(o.value["adam"]) for o in outcomes] == [3, 3]


def _resume_rank(ctx, folder: str) -> dict[str, torch.Tensor]:
    path = Path(folder) / "checkpoint.pt"
    full = _trainer(ctx, "sgd_momentum", epochs=3)
    full.train(return_best_params=False)
    first = _trainer(ctx, "sgd_momentum", epochs=2, checkpoint_path=path)
    first.train(return_best_params=False)
    written = sorted(p.name for p in Path(folder).iterdir())
    rest = _trainer(ctx, "sgd_momentum", epochs=3, checkpoint_path=path)
    rest.train(resume=True, return_best_params=False)
    same = all(torch.equal(full.model.params[k], rest.model.params[k]) for k in full.model.params)
    return {"same": torch.tensor(same), "files": torch.tensor(len(written))}


def test_rank_0_writes_the_checkpoint_and_resume_is_exact(tmp_path):
    outcomes = run_local(_resume_rank, 2, (str(tmp_path),), timeout=120, pg_timeout=30)
    for o in outcomes:
        assert bool(o.value["same"]), f"rank {o.rank}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.prev.pt", "checkpoint.pt"]


class _DieAt:
    def __init__(self, rank: int, step: int) -> None:
        self.rank, self.step = rank, step

    def on_step_end(self, trainer) -> None:
        if trainer.parallel.rank == self.rank and trainer.step_count == self.step:
            os._exit(3)


def _dying_rank(ctx) -> None:
    trainer = _trainer(ctx, "sgd", epochs=50, callbacks=[_DieAt(1, 3)], timeout=5.0)
    trainer.train()


def test_a_lost_rank_stops_the_others_with_an_error():
    outcomes = run_local(_dying_rank, 2, timeout=60, pg_timeout=5, check=False)
    assert outcomes[1].exitcode == 3
    assert outcomes[0].error is not None and not outcomes[0].timed_out  # an error, not a hang


def test_global_batch_must_divide_by_the_world_size():
    with pytest.raises(DistributedError, match="global batch size 7 is not divisible by the world size 2"):
        run_local(_odd_batch_rank, 2, timeout=60, pg_timeout=10)


def _odd_batch_rank(ctx) -> None:
    torch.manual_seed(0)
    model = minifc.FullyConnectedNet([8], input_dim=D, num_classes=C, dtype=F64)
    minifc.Trainer(model, _data(), batch_size=7, device="cpu", seed=1, verbose=False, distributed=ctx)


def _close_rank(ctx, port: int) -> dict[str, torch.Tensor]:
    adopted = _trainer(ctx, "sgd", epochs=1)
    adopted.train()
    adopted.close()
    kept = dist.is_initialized()  # the caller's group stays
    ctx.destroy()
    os.environ["MASTER_PORT"] = str(port)
    own = _trainer(None, "sgd", epochs=1)  # joins from torchrun's environment itself
    created = dist.is_initialized()
    own.train()
    own.close()
    left = not dist.is_initialized()
    return {"kept": torch.tensor(kept), "created": torch.tensor(created), "left": torch.tensor(left)}


def test_close_leaves_the_group_the_trainer_created_and_keeps_an_adopted_one():
    for o in run_local(_close_rank, 2, (free_port(),), timeout=120, pg_timeout=30):
        assert all(bool(v) for v in o.value.values()), (o.rank, o.value)


def test_cli_nproc_per_node_trains_end_to_end(tiny_cifar, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "minifc", "train", "--nproc-per-node", "2", "--data", str(tiny_cifar),
           "--hidden", "16", "--epochs", "2", "--batch-size", "20", "--device", "cpu", "--out", str(out), "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (out / "checkpoint.pt").is_file() and (out / "result.json").is_file()
    assert "run saved in" in result.stdout


def test_a_job_restarted_by_torchrun_continues_its_run(tiny_cifar, tmp_path, monkeypatch):
    from minifc.testing import invoke_cli

    out = tmp_path / "run"
    args = ["train", "--data", str(tiny_cifar), "--hidden", "8", "--batch-size", "20", "--device", "cpu",
            "--out", str(out), "--quiet"]
    first = invoke_cli(*args, "--epochs", "1")
    assert first.exit_code == 0, first.output
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")  # what torchrun sets after --max-restarts kicked in
    again = invoke_cli(*args, "--epochs", "2")
    assert again.exit_code == 0, again.output
    assert "continues from its last checkpoint" in again.output
    assert json.loads((out / "result.json").read_text())["epochs"] == 2
