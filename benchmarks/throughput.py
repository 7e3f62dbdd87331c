"""Training-step throughput: minifc (explicit backward) against torch.nn + autograd + torch.optim.

    python benchmarks/throughput.py                       # every config, float32, CPU
    python benchmarks/throughput.py --configs tiny deep --repeats 15 --steps 20
    python benchmarks/throughput.py --device cuda --json results.json
    python benchmarks/throughput.py --overhead            # Trainer epoch vs the bare work of its steps
    python benchmarks/throughput.py --overhead --overhead-variant presliced   # the same without the row copy

One training step = draw a minibatch from a fixed random data set of CIFAR shape, forward, backward,
update every parameter, read the loss as a Python float. The contestants:

* ``minifc``: ``Trainer._step()`` of a :class:`minifc.Trainer` on a :class:`minifc.FullyConnectedNet`,
  i.e. exactly the per-step code users run (dropout through the model's ``dropout`` argument).
* ``torch``: ``nn.Sequential(Linear, ReLU, [Dropout], ...)``, ``F.cross_entropy``, ``loss.backward()``
  and the equivalent ``torch.optim`` rule with its defaults, the weights copied from the minifc
  model, the same minibatch sampler (a seeded permutation per epoch).
* ``mm``: only the matrix products of one step at the layer shapes (``torch.mm`` into preallocated
  outputs): the machine's matmul throughput for this work, the yardstick of "% of mm".

The three run in turns (minifc, torch, mm, minifc, torch, mm, ...) after a warm-up, so that a noisy
shared machine slows all of them alike; the reported figures are medians over the turns, and the
ratio is the median of the per-turn ratios minifc/torch (> 1: minifc is faster).

FLOPs of one step: forward 2*N*in*out per layer, backward 4*N*in*out per layer except the first,
which needs no input gradient (2*N*in*out). "% of mm" = achieved GFLOP/s / mm GFLOP/s.

Peak memory (``--memory``, on by default) is measured in a fresh subprocess per side and config:
CPU: the peak resident set size (``VmHWM``, reset through ``/proc/self/clear_refs``) while training
minus the resident size right after set-up (data, model, optimizer object); CUDA:
``torch.cuda.max_memory_allocated`` minus the memory allocated after set-up. Either way it is what
training adds on top of data and weights: gradients, activations, optimizer state, temporaries.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as TF
from torch import nn

import minifc

NUM_SAMPLES, INPUT_DIM, NUM_CLASSES = 4096, 3 * 32 * 32, 10


@dataclass(frozen=True)
class Config:
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


# -- the data and the sampler -------------------------------------------------------------------------
def make_data(device: torch.device, dtype: torch.dtype, num_samples: int = NUM_SAMPLES, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(num_samples, INPUT_DIM, generator=g, dtype=dtype)
    y = torch.randint(NUM_CLASSES, (num_samples,), generator=g)
    n_val = min(1000, num_samples)
    return {"X_train": X.to(device), "y_train": y.to(device),
            "X_val": X[:n_val].to(device), "y_val": y[:n_val].to(device)}


class Batches:
    """The Trainer's "shuffle" sampling: a permutation per epoch from a seeded CPU generator."""

    def __init__(self, n: int, batch_size: int, device: torch.device, seed: int) -> None:
        self.n, self.batch_size, self.device = n, batch_size, device
        self.per_epoch = max(n // batch_size, 1)
        self.generator = torch.Generator().manual_seed(seed)
        self.step = 0
        self.order: torch.Tensor | None = None

    def next(self) -> torch.Tensor:
        pos = self.step % self.per_epoch
        if pos == 0 or self.order is None:
            self.order = torch.randperm(self.n, generator=self.generator)
        self.step += 1
        return self.order[pos * self.batch_size : (pos + 1) * self.batch_size].to(self.device)


# -- the contestants ------------------------------------------------------------------------------------
def make_trainer(cfg: Config, data: dict, device: torch.device, dtype: torch.dtype, seed: int = 0, **kwargs):
    torch.manual_seed(seed)
    model = minifc.FullyConnectedNet(cfg.dims[1:-1], input_dim=cfg.dims[0], num_classes=cfg.dims[-1],
                                     dropout=cfg.dropout, weight_scale=None, dtype=dtype, device=device)
    options = dict(update_rule=cfg.update_rule, optim_config=cfg.optim_config, batch_size=cfg.batch_size,
                   num_epochs=1, device=device, seed=seed, verbose=False, progress=False)
    return minifc.Trainer(model, data, **{**options, **kwargs})


def torch_optimizer(cfg: Config, params) -> torch.optim.Optimizer:
    """The torch.optim rule that computes exactly what the minifc rule does (torch's defaults otherwise)."""
    c = cfg.optim_config
    if cfg.update_rule == "sgd":
        return torch.optim.SGD(params, lr=c["learning_rate"])
    if cfg.update_rule == "sgd_momentum":
        # classic: v = mu v - lr dw; w += v.  torch: b = mu b + dw; w -= lr b.  With v = -lr b (and b = dw
        # at the first step, where v = -lr dw) both give the same w at every step for a constant lr:
        # the same lr and momentum, dampening 0, no Nesterov.
        return torch.optim.SGD(params, lr=c["learning_rate"], momentum=c["momentum"])
    if cfg.update_rule == "adam":
        # both: bias-corrected m / (sqrt(v_hat) + eps) with t counted from 1; minifc's defaults are torch's.
        return torch.optim.Adam(params, lr=c["learning_rate"], betas=(0.9, 0.999), eps=1e-8)
    raise ValueError(f"no torch equivalent configured for {cfg.update_rule!r}")


def make_torch_side(cfg: Config, model, data: dict, device: torch.device, seed: int = 0, gather: str = "index"):
    """``nn.Sequential`` with the minifc model's initial weights; returns (net, optimizer, step).

    ``gather``: how the minibatch is taken from the data, ``"index"`` (``X[idx]``, what plain torch code
    writes) or ``"index_select"`` (what the minifc Trainer does: rows copied into one buffer kept from step
    to step)."""
    layers: list[nn.Module] = []
    num_layers = len(cfg.dims) - 1
    for i in range(num_layers):
        linear = nn.Linear(cfg.dims[i], cfg.dims[i + 1], device=device, dtype=model.dtype)
        with torch.no_grad():
            linear.weight.copy_(model.params[f"W{i + 1}"].t())  # torch keeps (out, in)
            linear.bias.copy_(model.params[f"b{i + 1}"])
        layers.append(linear)
        if i < num_layers - 1:
            layers.append(nn.ReLU())
            if cfg.dropout:
                layers.append(nn.Dropout(cfg.dropout))
    net = nn.Sequential(*layers).train()
    opt = torch_optimizer(cfg, net.parameters())
    X, y = data["X_train"], data["y_train"]
    batches = Batches(X.shape[0], cfg.batch_size, device, seed)
    buffer = X.new_empty((cfg.batch_size, *X.shape[1:]))

    def step() -> float:
        idx = batches.next()
        if gather == "index_select":
            X_batch, y_batch = torch.index_select(X, 0, idx, out=buffer), y.index_select(0, idx)
        else:
            X_batch, y_batch = X[idx], y[idx]
        opt.zero_grad(set_to_none=True)
        loss = TF.cross_entropy(net(X_batch), y_batch)
        loss.backward()
        opt.step()
        return loss.item()

    return net, opt, step


def layer_shapes(cfg: Config) -> list[tuple[int, int, int]]:
    return [(cfg.batch_size, cfg.dims[i], cfg.dims[i + 1]) for i in range(len(cfg.dims) - 1)]


def step_flops(cfg: Config) -> int:
    return sum((4 if i == 0 else 6) * n * d_in * d_out for i, (n, d_in, d_out) in enumerate(layer_shapes(cfg)))


def make_mm_step(cfg: Config, device: torch.device, dtype: torch.dtype) -> Callable[[], None]:
    """Only the matrix products of one training step, preallocated outputs, in the layouts both sides use:
    the weight stored (out, in) (minifc's column-major (in, out) weight is the same memory)."""
    work = []
    for i, (n, d_in, d_out) in enumerate(layer_shapes(cfg)):
        x = torch.randn(n, d_in, device=device, dtype=dtype)
        w = torch.randn(d_out, d_in, device=device, dtype=dtype).t()
        dout = torch.randn(n, d_out, device=device, dtype=dtype)
        work.append((x, w, torch.empty(n, d_out, device=device, dtype=dtype)))  # forward x @ w
        work.append((dout.t(), x, torch.empty(d_out, d_in, device=device, dtype=dtype)))  # dw^T = dout^T x
        if i > 0:
            work.append((dout, w.t(), torch.empty(n, d_in, device=device, dtype=dtype)))  # dx = dout w^T

    def step() -> None:
        for a, b, out in work:
            torch.mm(a, b, out=out)

    return step


# -- timing -----------------------------------------------------------------------------------------------
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter


def timed(step: Callable[[], object], steps: int, device: torch.device) -> float:
    """Seconds per step over ``steps`` consecutive steps."""
    sync(device)
    start = clock()
    for _ in range(steps):
        step()
    sync(device)
    return (clock() - start) / steps


def check_equivalence(cfg: Config, device: torch.device, steps: int = 3) -> str:
    """Fresh float64 copies of both sides: run ``steps`` steps on the same batches, compare losses and
    weights (float64, so that Adam's sign-of-tiny-gradient steps do not amplify float32 rounding)."""
    if cfg.dropout:
        return "n/a (dropout masks differ)"
    data = make_data(device, torch.float64, num_samples=4 * cfg.batch_size)
    trainer = make_trainer(cfg, data, device, torch.float64)
    net, _, torch_step = make_torch_side(cfg, trainer.model, data, device)
    losses = [(trainer._step(), torch_step()) for _ in range(steps)]
    linears = [m for m in net if isinstance(m, nn.Linear)]
    diff = 0.0
    for i, linear in enumerate(linears):
        diff = max(diff, (trainer.model.params[f"W{i + 1}"] - linear.weight.detach().t()).abs().max().item())
        diff = max(diff, (trainer.model.params[f"b{i + 1}"] - linear.bias.detach()).abs().max().item())
    loss_diff = max(abs(a - b) for a, b in losses)
    ok = diff < 1e-9 and loss_diff < 1e-9
    return f"{'ok' if ok else 'MISMATCH'} (max |dw| {diff:.1e}, max |dloss| {loss_diff:.1e} over {steps} steps)"


def run_config(name: str, args: argparse.Namespace, device: torch.device, dtype: torch.dtype) -> dict:
    cfg = CONFIGS[name]
    data = make_data(device, dtype)
    trainer = make_trainer(cfg, data, device, dtype)
    _, _, torch_step = make_torch_side(cfg, trainer.model, data, device, gather=args.torch_gather)
    equivalence = check_equivalence(cfg, device) if args.check else "not checked"
    sides = {"minifc": trainer._step, "torch": torch_step, "mm": make_mm_step(cfg, device, dtype)}
    for step in sides.values():  # warm-up
        timed(step, args.warmup, device)
    times: dict[str, list[float]] = {k: [] for k in sides}
    for _ in range(args.repeats):
        for side, step in sides.items():
            times[side].append(timed(step, args.steps, device))
    flops = step_flops(cfg)
    ratios = [t / m for m, t in zip(times["minifc"], times["torch"], strict=True)]
    result = {"config": name, "dims": cfg.dims, "batch_size": cfg.batch_size, "update_rule": cfg.update_rule,
              "dropout": cfg.dropout, "flops_per_step": flops, "equivalence": equivalence,
              "ratio_minifc_over_torch": statistics.median(ratios),
              "ratio_min": min(ratios), "ratio_max": max(ratios)}
    mm_gflops = flops / statistics.median(times["mm"]) / 1e9
    result["mm_gflops"] = mm_gflops
    for side in ("minifc", "torch"):
        sec = statistics.median(times[side])
        result[f"{side}_steps_per_s"] = 1.0 / sec
        result[f"{side}_gflops"] = flops / sec / 1e9
        result[f"{side}_mm_fraction"] = flops / sec / 1e9 / mm_gflops
    if args.memory:
        for side in ("minifc", "torch"):
            result[f"{side}_peak_bytes"] = measure_memory_subprocess(name, side, args)
    return result


# -- memory: one fresh process per side and config ---------------------------------------------------------
def _status_kib(field_name: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field_name} not in /proc/self/status")


def memory_child(name: str, side: str, args: argparse.Namespace, device: torch.device, dtype: torch.dtype) -> int:
    """Bytes that training adds at its peak on top of what set-up (data, model, optimizer) holds."""
    cfg = CONFIGS[name]
    data = make_data(device, dtype)
    trainer = make_trainer(cfg, data, device, dtype)
    if side == "minifc":
        step = trainer._step
    else:
        _, _, step = make_torch_side(cfg, trainer.model, data, device, gather=args.torch_gather)
        del trainer
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        for _ in range(args.steps):
            step()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current resident size
    base = _status_kib("VmRSS")
    for _ in range(args.steps):
        step()
    return (_status_kib("VmHWM") - base) * 1024


def measure_memory_subprocess(name: str, side: str, args: argparse.Namespace) -> int | None:
    cmd = [sys.executable, os.path.abspath(__file__), "--device", args.device, "--dtype", args.dtype,
           "--steps", str(args.memory_steps), "--torch-gather", args.torch_gather, "--memory-child", f"{name}:{side}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if proc.returncode != 0:
        print(f"memory measurement of {name}/{side} failed:\n{proc.stderr}", file=sys.stderr)
        return None
    return int(proc.stdout.strip().splitlines()[-1])


# -- the Trainer's own overhead ----------------------------------------------------------------------------
OVERHEAD_BLOCK = 10  # Trainer steps, then as many bare steps
def run_overhead(name: str, args: argparse.Namespace, device: torch.device, dtype: torch.dtype) -> dict:
    """A full ``Trainer.train()`` epoch (progress bar and epoch line on, written to a null stream)
    against the bare work of the same steps: ``model.loss`` on pre-sliced batches plus the update rule
    in the forms the Trainer uses (``foreach``; for sgd and momentum, inside Linear's dw product).

    The two are interleaved in blocks of ``OVERHEAD_BLOCK`` steps, so that a shared machine's noise
    hits both alike: after every 10th Trainer step a callback runs the next 10 bare steps (on their
    own pre-sliced batches), timed on their own and taken out of the epoch time. (Blocks, not single
    steps: the first Python code after a step runs with cold caches, and alternating single steps
    would charge that to the Trainer twice per step.) Per turn (one epoch):

        loop overhead = (epoch - bare steps - accuracy measurement - bare work) / (epoch - bare steps)

    where "epoch - bare steps" is what the epoch costs a user and the callback's dispatch counts as
    Trainer overhead. The end-of-epoch accuracy measurement (``num_train_samples`` = 1000 training
    samples plus the 1000 validation samples) is reported on its own: it is evaluation the user asked
    for, not per-step overhead.
    """
    cfg = CONFIGS[name]
    data = make_data(device, dtype, num_samples=args.overhead_samples)
    bare_time, measure_time = [0.0], [0.0]
    model_rule: list = []
    steps = max(data["X_train"].shape[0] // cfg.batch_size, 1)
    order = torch.randperm(data["X_train"].shape[0])
    batches = [
        (
            data["X_train"][order[i * cfg.batch_size : (i + 1) * cfg.batch_size]].clone(),
            data["y_train"][order[i * cfg.batch_size : (i + 1) * cfg.batch_size]].clone(),
        )
        for i in range(steps)
    ]
    configs: dict = {}

    def bare_step(i: int) -> None:
        trainer = model_rule[0]
        model, rule, params = trainer.model, trainer.update_rule, trainer.model.params
        X, y = batches[i % steps]
        sinks, finishers = {}, {}
        if trainer._fusable:  # the sgd / momentum update inside Linear's dw product (decided by now)
            for k, w in params.items():
                if w.dim() == 2:
                    *sinks[k], finishers[k] = rule.sink(w, configs[k])
        _, grads = model.loss(X, y, sinks=sinks) if sinks else model.loss(X, y)
        for k, finish in finishers.items():
            if k not in grads and finish is not None:
                finish()
        names = list(grads)
        foreach = getattr(rule, "foreach", None)
        ws, dws, cs = [params[k] for k in names], [grads[k] for k in names], [configs[k] for k in names]
        if foreach is None or not foreach(ws, dws, cs):
            for k in names:
                params[k], configs[k] = rule(params[k], grads[k], configs[k])

    class InterleavedBare:
        def on_step_end(self, trainer) -> None:
            if trainer.step_count % OVERHEAD_BLOCK:
                return
            sync(device)
            start = clock()
            for i in range(trainer.step_count - OVERHEAD_BLOCK, trainer.step_count):
                bare_step(i)
            sync(device)
            bare_time[0] += clock() - start

    shown = args.overhead_variant != "quiet"
    trainer = make_trainer(cfg, data, device, dtype, verbose=shown, progress=shown, callbacks=[InterleavedBare()])
    model_rule.append(trainer)
    if args.overhead_variant == "presliced":  # what the loop costs without copying the minibatch rows
        trainer._next_batch = lambda: batches[trainer.step_count % steps]
    configs.update({k: dict(cfg.optim_config) for k in trainer.model.params})
    measure = trainer._measure

    def timed_measure():
        sync(device)
        start = clock()
        out = measure()
        sync(device)
        measure_time[0] += clock() - start
        return out

    trainer._measure = timed_measure

    def epoch() -> tuple[float, float, float]:
        trainer.num_epochs += 1
        bare_before, measure_before = bare_time[0], measure_time[0]
        sync(device)
        start = clock()
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            trainer.train(return_best_params=False)
        sync(device)
        total = clock() - start
        bare = bare_time[0] - bare_before
        return total - bare, measure_time[0] - measure_before, bare

    trainer.num_epochs = 0
    epoch()  # warm-up (and the first, validated step)
    loop_fracs, eval_fracs, epochs, bares = [], [], [], []
    for _ in range(args.repeats):
        user_epoch, in_measure, work = epoch()
        loop_fracs.append((user_epoch - in_measure - work) / user_epoch)
        eval_fracs.append(in_measure / user_epoch)
        epochs.append(user_epoch)
        bares.append(work)
    return {
        "config": name,
        "batch_size": cfg.batch_size,
        "steps_per_epoch": steps,
        "epoch_s": statistics.median(epochs),
        "bare_s": statistics.median(bares),
        "loop_overhead_pct": 100 * statistics.median(loop_fracs),
        "loop_overhead_pct_min": 100 * min(loop_fracs),
        "loop_overhead_pct_max": 100 * max(loop_fracs),
        "accuracy_pct": 100 * statistics.median(eval_fracs),
    }


# -- command line ------------------------------------------------------------------------------------------
def _fmt_bytes(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 2**20:.1f} MiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS), metavar="NAME",
                        help=f"configs to run (default all: {', '.join(CONFIGS)})")
    parser.add_argument("--repeats", type=int, default=9, help="turns of minifc/torch/mm (default 9)")
    parser.add_argument("--steps", type=int, default=20, help="training steps per turn (default 20)")
    parser.add_argument("--warmup", type=int, default=10, help="warm-up steps per side (default 10)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--clock", choices=list(CLOCKS), default="wall",
                        help="wall (default) or cpu: process CPU time, robust on a busy shared machine; "
                        "only meaningful with --threads 1 on CPU")
    parser.add_argument("--torch-gather", choices=["index", "index_select"], default="index",
                        help="how the torch side takes its minibatch: X[idx] (default, plain torch code) or "
                        "X.index_select(0, idx) (as the minifc Trainer does)")
    parser.add_argument("--no-check", dest="check", action="store_false",
                        help="skip the float64 equivalence check of the two sides")
    parser.add_argument("--no-memory", dest="memory", action="store_false", help="skip the peak-memory subprocesses")
    parser.add_argument("--memory-steps", type=int, default=4, help="training steps of each memory subprocess")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--overhead", action="store_true",
                        help="measure the Trainer's per-epoch overhead instead (default config: twolayer)")
    parser.add_argument("--overhead-samples", type=int, default=10_000,
                        help="training samples for --overhead (default 10,000: 100 steps at batch 100)")
    parser.add_argument("--overhead-variant", choices=["full", "presliced", "quiet"], default="full",
                        help="for --overhead: the Trainer as users run it (full, default), or with its batches "
                        "sliced in advance (presliced: no row copy), or with the progress bar and epoch line "
                        "off (quiet); the differences show where the overhead goes")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    if args.clock == "cpu" and (device.type != "cpu" or torch.get_num_threads() != 1):
        parser.error("--clock cpu needs --device cpu and --threads 1 (CPU time sums over threads)")
    global clock
    clock = CLOCKS[args.clock]

    if args.memory_child:
        name, side = args.memory_child.split(":")
        print(memory_child(name, side, args, device, dtype))
        return 0

    print(f"torch {torch.__version__}, minifc {minifc.__version__}, device {device}, dtype {args.dtype}, "
          f"{torch.get_num_threads()} threads, {args.clock} clock; {args.repeats} turns x {args.steps} steps "
          f"after {args.warmup} warm-up")
    results = []
    if args.overhead:
        names = args.configs if args.configs != list(CONFIGS) else ["twolayer"]
        for name in names:
            r = run_overhead(name, args, device, dtype)
            results.append(r)
            print(f"{name} ({args.overhead_variant}): batch {r['batch_size']}, {r['steps_per_epoch']} steps/epoch, "
                  f"epoch {r['epoch_s']:.3f} s, "
                  f"bare loss+update {r['bare_s']:.3f} s -> Trainer loop overhead {r['loop_overhead_pct']:.1f}% "
                  f"({r['loop_overhead_pct_min']:.1f}-{r['loop_overhead_pct_max']:.1f}% over the turns) "
                  f"of the epoch (plus {r['accuracy_pct']:.1f}% measuring accuracy at the end of the epoch)")
    else:
        header = ("| config | minifc steps/s | torch steps/s | ratio minifc/torch (min-max) | minifc % of mm "
                  "| torch % of mm | mm GFLOP/s | peak mem minifc | peak mem torch | equivalence |")
        print(header)
        print("|" + "---|" * header.count(" | ") + "---|")
        for name in args.configs:
            r = run_config(name, args, device, dtype)
            results.append(r)
            print(f"| {name} | {r['minifc_steps_per_s']:.1f} | {r['torch_steps_per_s']:.1f} "
                  f"| {r['ratio_minifc_over_torch']:.2f} ({r['ratio_min']:.2f}-{r['ratio_max']:.2f}) "
                  f"| {100 * r['minifc_mm_fraction']:.0f}% | {100 * r['torch_mm_fraction']:.0f}% "
                  f"| {r['mm_gflops']:.1f} | {_fmt_bytes(r.get('minifc_peak_bytes'))} "
                  f"| {_fmt_bytes(r.get('torch_peak_bytes'))} | {r['equivalence']} |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"torch": torch.__version__, "device": str(device), "dtype": args.dtype,
                       "threads": torch.get_num_threads(), "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
