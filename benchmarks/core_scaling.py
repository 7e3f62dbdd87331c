"""How far this machine's two cores scale one sweep trial's kind of work: a fixed number of training steps of a
course net (a FullyConnectedNet on CIFAR-shaped batches of 100, float32), timed in one process with one thread, in
one process with two threads, and in two one-thread processes started together.

    python benchmarks/core_scaling.py                      # the two-layer net [200]: timings and ratios below
    python benchmarks/core_scaling.py --hidden 100 100 100 100 --steps 3000

``thread speed-up`` = t(1 thread) / t(2 threads): what a second thread gives one trial;
``process throughput`` = 2 t(1 thread) / t(two processes at once): what a second process gives the machine (2.0 on
two cores that share nothing). Their quotient bounds what ``minifc sweep --workers 2 --threads 1`` can gain
over ``--workers 1 --threads 2`` on the training part of its trials.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

STEPS = 1500
HIDDEN = [200]


def train_steps(steps: int, hidden: list[int]) -> float:
    """Seconds for ``steps`` loss-and-update steps (plain SGD) of a FullyConnectedNet with ``hidden`` layers on one
    random batch of 100 CIFAR-shaped images, after one untimed step."""
    import minifc

    torch.manual_seed(0)
    model = minifc.FullyConnectedNet(hidden, weight_scale=1e-2)
    x, y = torch.randn(100, 3072), torch.randint(10, (100,))
    model.loss(x, y)  # first call: allocations, kernels chosen
    started = time.perf_counter()
    for _ in range(steps):
        _, grads = model.loss(x, y)
        for name, grad in grads.items():
            model.params[name].add_(grad, alpha=-1e-3)
    return time.perf_counter() - started


def _child(threads: int, steps: int, hidden: list[int], start_at: float) -> subprocess.Popen[str]:
    here = str(Path(__file__).parent)
    code = (f"import sys, time, torch; sys.path.insert(0, {here!r}); torch.set_num_threads({threads}); "
            f"from core_scaling import train_steps; time.sleep(max(0.0, {start_at} - time.time())); "
            f"print(train_steps({steps}, {hidden!r}))")
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def _seconds(children: list[subprocess.Popen[str]]) -> list[float]:
    out = []
    for child in children:
        stdout, _ = child.communicate()
        if child.returncode != 0:
            raise SystemExit(f"core_scaling: a timing process exited with {child.returncode}")
        out.append(float(stdout.strip().splitlines()[-1]))
    return out


@dataclass(frozen=True)
class Scaling:
    """The three timings (seconds) of :func:`probe` and the ratios described in the module's docstring."""

    steps: int
    hidden: list[int]
    one_thread: float
    two_threads: float
    two_processes: float

    @property
    def thread_speedup(self) -> float:
        return self.one_thread / self.two_threads

    @property
    def process_throughput(self) -> float:
        return 2 * self.one_thread / self.two_processes

    @property
    def sweep_ceiling(self) -> float:
        return self.process_throughput / self.thread_speedup

    def describe(self) -> str:
        return (f"core scaling ({self.steps} steps of hidden {self.hidden}): 1 thread {self.one_thread:.2f} s, "
                f"2 threads {self.two_threads:.2f} s (speed-up {self.thread_speedup:.2f}), two 1-thread processes "
                f"at once {self.two_processes:.2f} s (throughput {self.process_throughput:.2f}x); 2x1 over 1x2 can "
                f"reach at most {self.sweep_ceiling:.2f}x on training")


def probe(steps: int = STEPS, hidden: list[int] | None = None) -> Scaling:
    """Time ``steps`` steps in one 1-thread process, one 2-thread process, then two 1-thread processes that start
    their steps at the same instant (each process timed after its imports)."""
    hidden = list(hidden or HIDDEN)
    one = _seconds([_child(1, steps, hidden, 0.0)])[0]
    two_threads = _seconds([_child(2, steps, hidden, 0.0)])[0]
    start_at = time.time() + 8.0  # both children imported by then
    both = _seconds([_child(1, steps, hidden, start_at), _child(1, steps, hidden, start_at)])
    return Scaling(steps, hidden, one, two_threads, max(both))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--hidden", type=int, nargs="+", default=HIDDEN, help="hidden layer widths (default: 200)")
    args = parser.parse_args(argv)
    print(probe(args.steps, args.hidden).describe())


if __name__ == "__main__":
    main()
