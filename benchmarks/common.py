"""Shared pieces of the benchmarks: configs, data, the minibatch sampler, clocks, alternating turns, tables.

The benchmark scripts in this folder import it as ``common`` (Python puts a script's own folder first
on ``sys.path``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

import minifc
from minifc.device import resolve_device

NUM_SAMPLES, INPUT_DIM, NUM_CLASSES = 4096, 3 * 32 * 32, 10


@dataclass(frozen=True)
class Config:
    """One benchmarked net: layer widths (input first), batch size, update rule and its hyper-parameters."""

    dims: list[int]
    batch_size: int
    update_rule: str
    optim_config: dict = field(default_factory=dict)
    dropout: float = 0.0


CONFIGS = {
    "tiny": Config([INPUT_DIM, 100, NUM_CLASSES], 100, "sgd", {"learning_rate": 1e-2}),
    "twolayer": Config([INPUT_DIM, 200, NUM_CLASSES], 100, "sgd", {"learning_rate": 1e-2}),
    "deep": Config([INPUT_DIM] + [100] * 5 + [NUM_CLASSES], 100, "sgd_momentum",
                   {"learning_rate": 1e-2, "momentum": 0.9}),
    "dropout": Config([INPUT_DIM, 512, NUM_CLASSES], 512, "adam", {"learning_rate": 1e-3}, dropout=0.5),
    "wide": Config([INPUT_DIM, 1024, 1024, NUM_CLASSES], 256, "adam", {"learning_rate": 1e-3}),
}


# -- data, model, sampler -------------------------------------------------------------------------------
def make_data(device: torch.device, dtype: torch.dtype, num_samples: int = NUM_SAMPLES, seed: int = 0,
              cfg: Config | None = None) -> dict:
    """A fixed random data set: X_train (num_samples, 3072) (or cfg's input width), y_train (num_samples,)
    (CIFAR's 10 classes, or cfg's), and the first 1000 of them as X_val, y_val."""
    input_dim, num_classes = (cfg.dims[0], cfg.dims[-1]) if cfg is not None else (INPUT_DIM, NUM_CLASSES)
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(num_samples, input_dim, generator=g, dtype=dtype)
    y = torch.randint(num_classes, (num_samples,), generator=g)
    n_val = min(1000, num_samples)
    return {"X_train": X.to(device), "y_train": y.to(device),
            "X_val": X[:n_val].to(device), "y_val": y[:n_val].to(device)}


def make_model(cfg: Config, device: torch.device, dtype: torch.dtype, seed: int = 0) -> minifc.FullyConnectedNet:
    """The config's :class:`minifc.FullyConnectedNet` (He initialisation from ``seed``)."""
    torch.manual_seed(seed)
    return minifc.FullyConnectedNet(cfg.dims[1:-1], input_dim=cfg.dims[0], num_classes=cfg.dims[-1],
                                    dropout=cfg.dropout, weight_scale=None, dtype=dtype, device=device)


class PermutationSampler:
    """A seeded permutation per epoch cut into batches (the order of the Trainer's "shuffle" sampling).

    Has the sampler protocol the Trainer accepts (``next_batch(step)``, ``iterations_per_epoch``,
    ``reset()``). ``gather``: ``"index"`` takes a batch as ``X[idx]`` (what plain torch code and the
    classic Solver write), ``"index_select"`` copies the rows into one buffer kept from step to step.
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int = 0,
                 gather: str = "index") -> None:
        if gather not in ("index", "index_select"):
            raise ValueError(f"gather must be 'index' or 'index_select', got {gather!r}")
        self.X, self.y, self.batch_size, self.seed, self.gather = X, y, batch_size, seed, gather
        self.iterations_per_epoch = max(X.shape[0] // batch_size, 1)
        self.buffer = X.new_empty((batch_size, *X.shape[1:]))
        self.reset()

    def reset(self) -> None:
        self.generator = torch.Generator().manual_seed(self.seed)
        self.order: torch.Tensor | None = None

    def next_batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(X rows (batch, 3072), labels (batch,)) of step ``step`` (0-based, over all epochs)."""
        pos = step % self.iterations_per_epoch
        if pos == 0 or self.order is None:
            self.order = torch.randperm(self.X.shape[0], generator=self.generator).to(self.X.device)
        idx = self.order[pos * self.batch_size : (pos + 1) * self.batch_size]
        if self.gather == "index_select":
            return torch.index_select(self.X, 0, idx, out=self.buffer), self.y.index_select(0, idx)
        return self.X[idx], self.y[idx]


def layer_shapes(cfg: Config) -> list[tuple[int, int, int]]:
    """(batch, in, out) of every Linear layer."""
    return [(cfg.batch_size, cfg.dims[i], cfg.dims[i + 1]) for i in range(len(cfg.dims) - 1)]


def step_flops(cfg: Config) -> int:
    """Forward 2*N*in*out per layer, backward 4*N*in*out except the first layer (no input gradient): 2*N*in*out."""
    return sum((4 if i == 0 else 6) * n * d_in * d_out for i, (n, d_in, d_out) in enumerate(layer_shapes(cfg)))


# -- clocks and turns -----------------------------------------------------------------------------------------
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}
clock: Callable[[], float] = time.perf_counter


def set_clock(name: str) -> None:
    """``wall`` (what a user waits for) or ``cpu`` (this process's CPU time: steadier on a busy machine)."""
    global clock
    clock = CLOCKS[name]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(step: Callable[[], object], steps: int, device: torch.device) -> float:
    """Seconds per step over ``steps`` consecutive calls of ``step``, on the chosen clock."""
    sync(device)
    start = clock()
    for _ in range(steps):
        step()
    sync(device)
    return (clock() - start) / steps


def first_calls(step: Callable[[], object], calls: int, device: torch.device) -> tuple[float, list]:
    """Wall-clock seconds of the first ``calls`` calls (where a compiled step compiles), and what they returned."""
    sync(device)
    start = time.perf_counter()
    out = [step() for _ in range(calls)]
    sync(device)
    return time.perf_counter() - start, out


def alternate(sides: dict[str, Callable[[], object]], repeats: int, steps: int, device: torch.device
              ) -> dict[str, list[float]]:
    """``repeats`` turns; in each turn every side runs ``steps`` steps, one side after the other, so that
    a noisy shared machine slows all sides alike. Returns seconds per step, one entry per turn and side."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(repeats):
        for name, step in sides.items():
            times[name].append(timed(step, steps, device))
    return times


def ratio_stats(numerators: Sequence[float], denominators: Sequence[float]) -> dict[str, float]:
    """Median, min and max over the turns of numerator / denominator (times: > 1 means the denominator's
    side is faster)."""
    ratios = [a / b for a, b in zip(numerators, denominators, strict=True)]
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}


# -- command line and output -----------------------------------------------------------------------------------
def add_machine_args(parser: argparse.ArgumentParser) -> None:
    """The options every benchmark shares: device, dtype, threads, clock."""
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--clock", choices=list(CLOCKS), default="wall",
                        help="wall (default) or cpu: process CPU time, robust on a busy shared machine; "
                        "only meaningful with --threads 1 on CPU")


def checked_device(parser: argparse.ArgumentParser, name: str) -> torch.device:
    """``--device NAME`` as a torch.device that exists here ("auto": cuda, then mps, then cpu); otherwise
    exit through ``parser.error`` with a message naming the option and why."""
    try:
        return resolve_device(name)
    except ValueError as e:
        parser.error(f"--device: {str(e).removeprefix('device: ')}")


def apply_machine_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[torch.device, torch.dtype]:
    """Check the device, set threads and clock from the parsed options; returns (device, dtype).
    ``args.device`` becomes the resolved device's name (so "auto" reads as what it picked)."""
    device = checked_device(parser, args.device)
    args.device = str(device)
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    if args.clock == "cpu" and (device.type != "cpu" or torch.get_num_threads() != 1):
        parser.error("--clock cpu needs --device cpu and --threads 1 (CPU time sums over threads)")
    set_clock(args.clock)
    return device, dtype


def cpu_name() -> str:
    """The processor's model name and widest vector unit (Linux: from /proc/cpuinfo; else what :mod:`platform`
    knows), with the core count."""
    name, flags = "", ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            pairs = (line.split(":", 1) for line in f if ":" in line)
            info = {key.strip(): value.strip() for key, value in pairs}  # the last processor's lines
        name, flags = info.get("model name", ""), info.get("flags", "")
    except OSError:
        pass
    simd = ", AVX-512" if "avx512f" in flags.split() else ", AVX2" if "avx2" in flags.split() else ""
    return f"{name or platform.processor() or platform.machine()}{simd}, {os.cpu_count()} cores"


def describe_machine(args: argparse.Namespace) -> str:
    return (f"{cpu_name()}; torch {torch.__version__}, minifc {minifc.__version__}, device {args.device}, "
            f"dtype {args.dtype}, {torch.get_num_threads()} threads, {args.clock} clock")


def fmt_bytes(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 2**20:.1f} MiB"


def fmt_ratio(r: dict[str, float] | None) -> str:
    return "" if r is None else f"{r['median']:.2f} ({r['min']:.2f}-{r['max']:.2f})"


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A Markdown table."""
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |", flush=True)
