"""The Trainer's own overhead: a full training epoch against the bare work of the same steps.

    python benchmarks/overhead.py                          # twolayer, the Trainer as users run it
    python benchmarks/overhead.py --variant presliced      # batches sliced in advance (no row copy)
    python benchmarks/throughput.py --overhead ...         # the same, through the throughput script

A full ``Trainer.train()`` epoch (progress bar and epoch line on, written to a null stream) is timed
against the **bare work** of its steps, built from public pieces: ``model.forward_loss`` on batches
sliced in advance, the loss read as a float, ``model.backward`` and the Trainer's own update strategy
(``trainer.updater``: the rule's foreach form, and for sgd / momentum the update formed inside each
Linear's weight-gradient product, armed and disarmed around the backward pass as the step does).

The two are interleaved in blocks of ``BLOCK`` steps, so that a shared machine's noise hits both
alike: after every 10th Trainer step a callback runs the next 10 bare steps (on their own batches),
timed on their own and taken out of the epoch time. (Blocks, not single steps: the first Python code
after a step runs with cold caches, and alternating single steps would charge that to the Trainer
twice per step.) Per turn (one epoch):

    loop overhead = (epoch - bare steps - accuracy measurement - bare work) / (epoch - bare steps)

where "epoch - bare steps" is what the epoch costs a user. The end-of-epoch accuracy measurement
(``trainer.evaluate()``: 1000 training plus 1000 validation samples) is reported on its own: it is
evaluation the user asked for, not per-step overhead.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys

import common
import torch
from common import CONFIGS, add_machine_args, apply_machine_args, describe_machine, make_data, sync
from sides import make_trainer

BLOCK = 10  # Trainer steps, then as many bare steps
VARIANTS = ("full", "presliced", "quiet")


class PreslicedSampler:
    """The sampler protocol over batches sliced in advance: ``next_batch`` copies nothing."""

    def __init__(self, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        self.batches = batches
        self.iterations_per_epoch = len(batches)

    def next_batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.batches[step % len(self.batches)]

    def reset(self) -> None:
        """Nothing is drawn ahead."""


def bare_step(model, updater, configs: dict[str, dict], X: torch.Tensor, y: torch.Tensor) -> float:
    """The work of one training step and nothing else: forward + loss, backward, update."""
    loss, dscores = model.forward_loss(X, y)
    value = float(loss)
    in_product = hasattr(updater, "arm")  # the update formed inside the weight-gradient product
    if in_product:
        updater.arm(configs)
    grads = model.backward(dscores)
    if in_product:
        updater.disarm(grads)
    updater.update(model.params, grads, configs, False)
    return value


def run_overhead(name: str, samples: int, repeats: int, variant: str, device: torch.device, dtype: torch.dtype
                 ) -> dict:
    """Median over ``repeats`` epochs (after one warm-up epoch) of the loop overhead, in percent."""
    cfg = CONFIGS[name]
    data = make_data(device, dtype, num_samples=samples, cfg=cfg)
    n = data["X_train"].shape[0]
    steps = max(n // cfg.batch_size, 1)
    order = torch.randperm(n).to(device)
    batches = [(data["X_train"][idx].clone(), data["y_train"][idx].clone())
               for idx in order[: steps * cfg.batch_size].split(cfg.batch_size)]
    bare_time, eval_time = [0.0], [0.0]
    configs = {}

    class InterleavedBare:
        def on_step_end(self, trainer) -> None:
            if trainer.step_count % BLOCK:
                return
            sync(device)
            start = common.clock()
            for i in range(trainer.step_count - BLOCK, trainer.step_count):
                bare_step(trainer.model, trainer.updater, configs, *batches[i % steps])
            sync(device)
            bare_time[0] += common.clock() - start

    shown = variant != "quiet"
    trainer = make_trainer(cfg, data, device, dtype, verbose=shown, progress=shown, callbacks=[InterleavedBare()])
    if variant == "presliced":  # what the loop costs without copying the minibatch rows
        trainer.sampler = PreslicedSampler(batches)
    configs.update({k: dict(cfg.optim_config) for k in trainer.model.params})
    evaluate = trainer.evaluate

    def timed_evaluate() -> tuple[float, float]:
        sync(device)
        start = common.clock()
        out = evaluate()
        sync(device)
        eval_time[0] += common.clock() - start
        return out

    trainer.evaluate = timed_evaluate  # the Trainer calls it at the end of every epoch

    def epoch() -> tuple[float, float, float]:
        trainer.num_epochs += 1
        bare_before, eval_before = bare_time[0], eval_time[0]
        sync(device)
        start = common.clock()
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            trainer.train(return_best_params=False)
        sync(device)
        total = common.clock() - start
        bare = bare_time[0] - bare_before
        return total - bare, eval_time[0] - eval_before, bare

    trainer.num_epochs = 0
    epoch()  # warm-up (and the first, validated step)
    loop_fracs, eval_fracs, epochs, bares = [], [], [], []
    for _ in range(repeats):
        user_epoch, in_eval, work = epoch()
        loop_fracs.append((user_epoch - in_eval - work) / user_epoch)
        eval_fracs.append(in_eval / user_epoch)
        epochs.append(user_epoch)
        bares.append(work)
    return {
        "config": name,
        "variant": variant,
        "batch_size": cfg.batch_size,
        "steps_per_epoch": steps,
        "epoch_s": statistics.median(epochs),
        "bare_s": statistics.median(bares),
        "loop_overhead_pct": 100 * statistics.median(loop_fracs),
        "loop_overhead_pct_min": 100 * min(loop_fracs),
        "loop_overhead_pct_max": 100 * max(loop_fracs),
        "accuracy_pct": 100 * statistics.median(eval_fracs),
    }


def report(r: dict) -> str:
    return (f"{r['config']} ({r['variant']}): batch {r['batch_size']}, {r['steps_per_epoch']} steps/epoch, "
            f"epoch {r['epoch_s']:.3f} s, bare loss+update {r['bare_s']:.3f} s -> Trainer loop overhead "
            f"{r['loop_overhead_pct']:.1f}% ({r['loop_overhead_pct_min']:.1f}-{r['loop_overhead_pct_max']:.1f}% "
            f"over the turns) of the epoch (plus {r['accuracy_pct']:.1f}% measuring accuracy at the end of the epoch)")


def add_overhead_args(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    parser.add_argument(f"--{prefix}samples", type=int, default=10_000,
                        help="training samples (default 10,000: 100 steps at batch 100)")
    parser.add_argument(f"--{prefix}variant", choices=VARIANTS, default="full",
                        help="the Trainer as users run it (full, default), or with its batches sliced in advance "
                        "(presliced: no row copy), or with the progress bar and epoch line off (quiet)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_machine_args(parser)
    parser.add_argument("--configs", nargs="+", default=["twolayer"], choices=list(CONFIGS), metavar="NAME",
                        help="default: twolayer")
    parser.add_argument("--repeats", type=int, default=9, help="timed epochs (default 9)")
    add_overhead_args(parser)
    args = parser.parse_args(argv)
    device, dtype = apply_machine_args(parser, args)
    print(f"{describe_machine(args)}; {args.repeats} epochs after 1 warm-up epoch")
    for name in args.configs:
        print(report(run_overhead(name, args.samples, args.repeats, args.variant, device, dtype)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
