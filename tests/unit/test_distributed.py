"""minifc.distributed in one process: launch environment, the sampler's sharding rules, checksums,
and the helpers' behaviour without a process group (2-rank tests: test_distributed_ranks.py)."""

from __future__ import annotations

import pytest
import torch

from minifc import nn
from minifc.distributed import (
    DistributedError,
    GradReducer,
    ShardedSampler,
    all_reduce_accuracy,
    average_buffers,
    barrier,
    check_in_sync,
    eval_shard,
    get_rank,
    get_world_size,
    init_process_group,
    is_main_process,
    parameter_checksums,
    rank_seed,
    read_launch_env,
    run_on_main,
)
from minifc.distributed.rank import lost_ranks

TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture
def no_launch_env(monkeypatch):
    for var in TORCHRUN_VARS:
        monkeypatch.delenv(var, raising=False)


# -- launch environment ----------------------------------------------------------------------------
def test_read_launch_env():
    assert read_launch_env({}) is None
    env = {"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "10.0.0.2", "MASTER_PORT": "29500"}
    launch = read_launch_env(env)
    assert (launch.rank, launch.world_size, launch.local_rank, launch.master_addr, launch.master_port) == (
        1,
        4,
        1,
        "10.0.0.2",
        29500,
    )
    assert read_launch_env({**env, "LOCAL_RANK": ""}).local_rank == 1  # defaults to RANK


@pytest.mark.parametrize(
    "change, message",
    [
        ({"MASTER_ADDR": None}, "MASTER_ADDR is not"),
        ({"MASTER_PORT": None}, "MASTER_PORT is not set"),
        ({"RANK": None}, "RANK is not set"),
        ({"RANK": "4"}, "RANK=4 must be >= 0 and <= 3"),
        ({"WORLD_SIZE": "two"}, "WORLD_SIZE='two' is not an integer"),
        ({"MASTER_PORT": "70000"}, "MASTER_PORT=70000 must be"),
    ],
)
def test_read_launch_env_errors_name_the_variable(change, message):
    env = {"RANK": "0", "WORLD_SIZE": "4", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}
    for key, value in change.items():
        if value is None:
            env.pop(key)
        else:
            env[key] = value
    with pytest.raises(DistributedError, match=message):
        read_launch_env(env)


def test_init_without_torchrun_is_a_lone_rank(no_launch_env):
    ctx = init_process_group("cpu")
    assert (ctx.rank, ctx.world_size, ctx.local_rank, ctx.is_main, ctx.initialized) == (0, 1, 0, True, False)
    assert ctx.device == torch.device("cpu") and ctx.backend is None and not ctx.is_distributed
    ctx.barrier()
    ctx.destroy()


def test_init_errors(no_launch_env, monkeypatch):
    with pytest.raises(DistributedError, match="timeout must be a finite number"):
        init_process_group("cpu", timeout=0)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(DistributedError, match="MASTER_ADDR"):
        init_process_group("cpu")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29500")
    with pytest.raises(DistributedError, match="'nccl' needs CUDA tensors"):
        init_process_group("cpu", backend="nccl")
    with pytest.raises(DistributedError, match="backend must be"):
        init_process_group("cpu", backend="mpi")
    if not torch.cuda.is_available():
        with pytest.raises(DistributedError, match="CUDA is not available"):
            init_process_group("cuda")


def test_a_restarted_rank_that_cannot_join_is_told_about_torchruns_shared_store(no_launch_env, monkeypatch):
    def refuse(*a, **k):
        raise RuntimeError("Connection refused")

    monkeypatch.setattr(torch.distributed, "init_process_group", refuse)
    monkeypatch.delenv("TORCHELASTIC_USE_AGENT_STORE", raising=False)
    monkeypatch.delenv("TORCHELASTIC_RESTART_COUNT", raising=False)
    for key, value in dict(WORLD_SIZE="2", RANK="1", MASTER_ADDR="10.0.0.1", MASTER_PORT="29500").items():
        monkeypatch.setenv(key, value)
    with pytest.raises(DistributedError, match="could not join") as plain:
        init_process_group("cpu", timeout=5)
    assert "TORCH_DISABLE_SHARE_RDZV_TCP_STORE" not in str(plain.value)
    monkeypatch.setenv("TORCHELASTIC_USE_AGENT_STORE", "True")
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    with pytest.raises(DistributedError, match="rank 1 of 2 could not join .*TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1"):
        init_process_group("cpu", timeout=5)


# -- helpers without a process group ---------------------------------------------------------------
def test_helpers_in_a_lone_process():
    assert (get_rank(), get_world_size(), is_main_process()) == (0, 1, True)
    barrier()
    assert run_on_main(lambda a, b: a + b, 2, b=3) == 5
    assert all_reduce_accuracy(3, 4) == 0.75
    assert all_reduce_accuracy(torch.tensor(1), torch.tensor(2)) == 0.5
    with pytest.raises(ValueError, match="correct=5 is more than total=4"):
        all_reduce_accuracy(5, 4)
    with pytest.raises(ValueError, match="no rank evaluated"):
        all_reduce_accuracy(0, 0)
    buffers = {"m": torch.ones(3)}
    average_buffers(buffers)
    assert torch.equal(buffers["m"], torch.ones(3))
    assert check_in_sync(nn.Linear(3, 2).parameters(), step=0) is False  # nothing to compare with


def test_reducer_needs_a_process_group():
    with pytest.raises(DistributedError, match="GradReducer needs an initialised process group"):
        GradReducer(nn.Linear(3, 2).parameters())


# -- checksums --------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_checksum_sees_a_one_bit_change_and_ignores_layout_and_threads(dtype):
    w = torch.randn(64, 33).to(dtype)
    base = parameter_checksums([w])
    col_major = w.t().contiguous().t()
    assert torch.equal(parameter_checksums([col_major]), base)
    bits = w.clone().view(torch.int16 if dtype == torch.bfloat16 else torch.int32)
    bits.view(-1)[100] ^= 1  # the lowest bit of one value
    assert not torch.equal(parameter_checksums([bits.view(dtype)]), base)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert torch.equal(parameter_checksums([w]), base)
    finally:
        torch.set_num_threads(threads)


def test_rank_seed():
    assert rank_seed(7, 0) == 7
    assert len({rank_seed(7, r) for r in range(64)}) == 64


# -- the sampler ----------------------------------------------------------------------------------
def _union_of_ranks(num, batch, world, drop_last, epoch=0, seed=3):
    samplers = [
        ShardedSampler(num, batch, rank=r, world_size=world, seed=seed, drop_last=drop_last) for r in range(world)
    ]
    for s in samplers:
        s.set_epoch(epoch)
    per_rank = [s.batches() for s in samplers]
    assert len({len(b) for b in per_rank}) == 1  # the same number of steps on every rank
    return samplers, [torch.cat([b[k] for b in per_rank]) for k in range(len(per_rank[0]))]


@pytest.mark.parametrize("num, batch, world", [(64, 8, 2), (64, 12, 4), (50, 8, 4), (37, 6, 3), (20, 4, 2)])
@pytest.mark.parametrize("drop_last", [False, True])
def test_ranks_together_take_the_one_process_batches(num, batch, world, drop_last):
    samplers, steps = _union_of_ranks(num, batch, world, drop_last, epoch=2)
    one = ShardedSampler(num, batch, rank=0, world_size=1, seed=3, drop_last=drop_last)
    one.set_epoch(2)
    reference = one.batches()
    order = samplers[0].epoch_order()
    for k, union in enumerate(steps):
        # exactly the multiset order[k*B:(k+1)*B]; rank r's j-th sample is order[k*B + j*W + r]
        assert torch.equal(union.sort().values, order[k * batch : (k + 1) * batch].sort().values)
        for r, s in enumerate(samplers):
            assert torch.equal(s.batches()[k], order[k * batch + r : (k + 1) * batch : world])
        if (k + 1) * batch <= num:
            assert torch.equal(union.sort().values, reference[k].sort().values)
    if drop_last:
        assert len(steps) == len(reference) == num // batch


def test_sampler_remainder_padding_and_dropping():
    pad = [ShardedSampler(10, 4, rank=r, world_size=4, seed=1) for r in range(4)]
    order = pad[0].epoch_order()
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(1))
    assert pad[0].total_size == 12 and torch.equal(order, torch.cat([perm, perm[:2]]))  # padded by repetition
    shares = [s.indices() for s in pad]
    assert [len(x) for x in shares] == [3, 3, 3, 3]
    assert set(torch.cat(shares).tolist()) == set(range(10))  # every sample, two of them twice
    drop = [ShardedSampler(10, 4, rank=r, world_size=4, seed=1, drop_last=True) for r in range(4)]
    assert drop[0].total_size == 8 and torch.equal(drop[0].epoch_order(), perm[:8])
    assert sorted(torch.cat([s.indices() for s in drop]).tolist()) == sorted(perm[:8].tolist())  # disjoint
    tiny = ShardedSampler(3, 8, rank=7, world_size=8)  # fewer samples than ranks: padded several times
    assert tiny.total_size == 8 and len(tiny.batches()) == 1


def test_sampler_epochs_differ_and_repeat():
    s = ShardedSampler(100, 10, rank=1, world_size=2, seed=5)
    first = s.indices()
    s.set_epoch(1)
    assert not torch.equal(s.indices(), first)
    s.set_epoch(0)
    assert torch.equal(s.indices(), first)
    assert len(s) == s.steps_per_epoch == 10 and all(len(b) == 5 for b in s)
    unshuffled = ShardedSampler(6, 2, rank=1, world_size=2, shuffle=False)
    assert unshuffled.indices().tolist() == [1, 3, 5]


def test_eval_shards_cover_every_sample_once():
    shards = [eval_shard(10, rank=r, world_size=3) for r in range(3)]
    assert [s.tolist() for s in shards] == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert eval_shard(5).tolist() == [0, 1, 2, 3, 4]  # a lone process: everything
    assert eval_shard(0, rank=1, world_size=2).numel() == 0
    with pytest.raises(ValueError, match="rank 2 is not below world_size 2"):
        eval_shard(10, rank=2, world_size=2)


def test_sampler_errors():
    with pytest.raises(ValueError, match="global batch size 10 is not divisible by the world size 4"):
        ShardedSampler(100, 10, rank=0, world_size=4)
    with pytest.raises(ValueError, match="fewer than the per-rank batch of 8"):
        ShardedSampler(10, 16, rank=0, world_size=2)
    with pytest.raises(ValueError, match="rank 2 is not below world_size 2"):
        ShardedSampler(10, 2, rank=2, world_size=2)
    with pytest.raises(ValueError, match="num_samples must be an integer >= 1"):
        ShardedSampler(0, 2, rank=0, world_size=1)


def test_run_local_arguments():
    from minifc.distributed import run_local

    with pytest.raises(ValueError, match="world_size must be a positive integer"):
        run_local(print, 0)
    with pytest.raises(ValueError, match="start_method must be 'forkserver' or 'spawn'"):
        run_local(print, 1, start_method="fork")


def test_lost_ranks_names_the_rank_a_failed_collective_waited_for():
    assert lost_ranks(0, 2).startswith("rank 1 did not answer") and lost_ranks(1, 2).startswith("rank 0 did not")
    assert lost_ranks(2, 4).startswith("one of ranks 0, 1, 3 did not answer")
    assert lost_ranks(0, 64).startswith("one of the other 63 ranks did not answer")
