"""The classic course flow on minifc's public API: data, gradient checks, overfitting a small set,
a TwoLayerNet trained with the Solver, and update rules compared.

    python examples/classic_course.py --data ../shared/data/cifar10     # CIFAR-10, a few minutes
    python examples/classic_course.py --quick                            # seconds (synthetic data)

Without ``--data`` (or ``$MINIFC_DATA``) the script trains on synthetic Gaussian clusters shaped like
CIFAR-10. ``--quick`` (or ``MINIFC_EXAMPLES_QUICK=1``) uses a few hundred images and one or two
epochs per step. Exits 1 if a gradient check fails.
"""

from __future__ import annotations

import sys
import time

import example_data  # examples/example_data.py: --data, --quick, --device and the data
import torch

from minifc import FullyConnectedNet, Solver, TwoLayerNet, optim
from minifc.functional import Linear, softmax_loss
from minifc.gradcheck import check_layer, check_loss, check_model


def gradient_checks() -> bool:
    """Analytic gradients against centred differences, in float64 (the course's first exercises)."""
    print("\n== gradient checks (float64; relative errors should be below 1e-6)")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # thousands of tiny forward passes: threads only add overhead
    try:
        errors = _gradient_errors()
    finally:
        torch.set_num_threads(threads)
    for name, err in errors.items():
        print(f"  {name:28s} {err:.2e}")
    ok = max(errors.values()) < 1e-6
    print("  all pass" if ok else "  FAILED")
    return ok


def _gradient_errors() -> dict[str, float]:
    gen = torch.Generator().manual_seed(0)
    f64 = torch.float64
    x, w, b = (torch.randn(s, dtype=f64, generator=gen) for s in ((4, 2, 3), (6, 5), (5,)))
    errors = {"Linear " + k: v for k, v in check_layer(Linear.forward, Linear.backward, x, w, b).items()}
    scores, y = torch.randn(8, 5, dtype=f64, generator=gen), torch.randint(0, 5, (8,), generator=gen)
    errors["softmax_loss dscores"] = check_loss(softmax_loss, scores, y)
    X, y = torch.randn(3, 15, dtype=f64, generator=gen), torch.tensor([0, 3, 1])
    two = TwoLayerNet(input_dim=15, hidden_dim=10, num_classes=4, weight_scale=1e-1, reg=0.1, dtype=f64)
    errors |= {f"TwoLayerNet {k}": v for k, v in check_model(two, X, y).items()}
    deep = FullyConnectedNet([20, 30], input_dim=15, num_classes=4, reg=0.05, weight_scale=5e-2, dtype=f64)
    errors |= {f"FullyConnectedNet {k}": v for k, v in check_model(deep, X, y).items()}
    return errors


def overfit(data: dict[str, torch.Tensor], device: str, quick: bool) -> float:
    """A three-layer net should reach 100% training accuracy on 50 images."""
    print("\n== overfitting 50 training images with a three-layer net")
    small = {"X_train": data["X_train"][:50], "y_train": data["y_train"][:50]}
    small |= {"X_val": data["X_val"], "y_val": data["y_val"]}
    torch.manual_seed(0)
    model = FullyConnectedNet([100, 100], weight_scale=1e-1)
    solver = Solver(
        model, small, update_rule=optim.sgd, optim_config={"learning_rate": 1e-1}, num_epochs=10 if quick else 20,
        batch_size=25, print_every=1000, print_acc_every=5, device=device,
    )
    solver.train()
    print(f"  final training accuracy: {solver.train_acc_history[-1]:.2f}")
    return solver.train_acc_history[-1]


def two_layer(data: dict[str, torch.Tensor], device: str, quick: bool) -> float:
    """TwoLayerNet + Solver, sgd with learning-rate decay: the course's first full training run."""
    print("\n== TwoLayerNet (hidden 200) trained with the Solver")
    torch.manual_seed(0)
    model = TwoLayerNet(hidden_dim=200, weight_scale=1e-2)
    solver = Solver(
        model, data, update_rule="sgd", optim_config={"learning_rate": 0.1}, lr_decay=0.9,
        num_epochs=2 if quick else 10, batch_size=100, print_every=100, device=device,
    )
    solver.train()
    test_acc = solver.check_accuracy(data["X_test"], data["y_test"])
    print(f"  best validation accuracy {solver.best_val_acc:.3f}, test accuracy {test_acc:.3f}")
    return solver.best_val_acc


def update_rules(data: dict[str, torch.Tensor], device: str, quick: bool) -> dict[str, float]:
    """The same six-layer net trained with each built-in update rule (by name or by function)."""
    print("\n== update rules on a six-layer net [100] * 5")
    n = 500 if quick else 4000
    subset = {"X_train": data["X_train"][:n], "y_train": data["y_train"][:n]}
    subset |= {"X_val": data["X_val"], "y_val": data["y_val"]}
    final = {}
    for rule, lr in (("sgd", 5e-2), ("sgd_momentum", 5e-2), ("rmsprop", 1e-4), ("adam", 1e-3)):
        torch.manual_seed(0)
        model = FullyConnectedNet([100] * 5, weight_scale=5e-2)
        solver = Solver(
            model, subset, update_rule=rule, optim_config={"learning_rate": lr}, num_epochs=1 if quick else 5,
            batch_size=100, verbose=False, device=device,
        )
        solver.train()
        final[rule] = solver.loss_history[-1]
        print(f"  {rule:13s} lr {lr:.0e}: final loss {final[rule]:.3f}, val acc {solver.val_acc_history[-1]:.3f}")
    return final


def main(argv: list[str] | None = None) -> int:
    parser = example_data.parser(__doc__.split("\n\n")[0])
    args = parser.parse_args(argv)
    start = time.time()
    data = example_data.load(args.data, args.quick)
    if not gradient_checks():
        return 1
    overfit(data, args.device, args.quick)
    two_layer(data, args.device, args.quick)
    update_rules(data, args.device, args.quick)
    print(f"\ndone in {time.time() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
