"""A Trainer whose components come from plugins, by name: batchnorm1d layers (minifc-norm), the AdamW
update rule (minifc-optim-extra) and, when minifc-regularizers is installed, a max-norm constraint.

    pip install ./plugins/minifc-norm ./plugins/minifc-optim-extra ./plugins/minifc-regularizers
    python examples/trainer_with_plugins.py --data ../shared/data/cifar10
    python examples/trainer_with_plugins.py --quick              # seconds (synthetic data)

Prints which plugin provides each component, trains, and reports the accuracies. Without the
plugins it says what to install and exits 0 (nothing to run).
"""

from __future__ import annotations

import sys
import time

import example_data  # examples/example_data.py: --data, --quick, --device and the data
import torch

from minifc import Classifier, Trainer
from minifc.builder import build_net
from minifc.registry.core import default_registry

#: (kind, name) -> the plugin package that provides it
NEEDED = {("layer", "batchnorm1d"): "minifc-norm", ("update_rule", "adamw"): "minifc-optim-extra"}
OPTIONAL = {("regularizer", "max_norm"): "minifc-regularizers"}


def missing(wanted: dict[tuple[str, str], str]) -> dict[tuple[str, str], str]:
    """The components of ``wanted`` that no installed plugin registers."""
    registry = default_registry()
    return {key: package for key, package in wanted.items() if key[1] not in registry.names(key[0])}


def main(argv: list[str] | None = None) -> int:
    args = example_data.parser(__doc__.split("\n\n")[0]).parse_args(argv)
    absent = missing(NEEDED)
    if absent:
        names = ", ".join(f"{kind.replace('_', ' ')} {name!r}" for kind, name in absent)
        packages = " ".join(f"./plugins/{p}" for p in sorted(set(absent.values())))
        print(f"skipping: this example needs the {names}, which no loaded plugin provides; "
              f"install with: pip install {packages}")
        return 0
    regularizers = [] if missing(OPTIONAL) else ["max_norm:max_norm=3"]

    registry = default_registry()
    used = [*NEEDED, *(OPTIONAL if regularizers else {})]
    print("components from plugins:")
    for kind, name in used:
        print(f"  {kind.replace('_', ' '):12s} {name:12s} from {registry.component(kind, name).provider}")

    data = example_data.load(args.data, args.quick)
    torch.manual_seed(0)
    net = build_net(["linear:256", "batchnorm1d", "relu", "linear:128", "batchnorm1d", "relu"], 3072, 10)
    print(f"net: {net}")
    trainer = Trainer(
        Classifier(net, "softmax"),
        data,
        update_rule="adamw",
        optim_config={"learning_rate": 1e-3, "weight_decay": 1e-2},
        regularizers=regularizers,
        batch_size=100,
        num_epochs=2 if args.quick else 10,
        device=args.device,
        seed=0,
        progress=False,
    )
    start = time.time()
    trainer.train()
    test_acc = trainer.check_accuracy(data["X_test"], data["y_test"])
    print(f"best validation accuracy {trainer.best_val_acc:.3f}, test accuracy {test_acc:.3f} "
          f"in {time.time() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
