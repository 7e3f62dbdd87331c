"""The example ``leaky-relu`` (``minifc example leaky-relu``): ReLU against leaky_relu, trained with adamax."""

from __future__ import annotations

import time
from typing import Any

import torch

from minifc import Classifier, Trainer
from minifc.builder import build_net
from minifc.experiments.example_options import ExampleOptions
from minifc.io.plots import have_matplotlib, plot_histories


def leaky_relu_example(data: dict[str, torch.Tensor], options: ExampleOptions) -> dict[str, Any]:
    """Two nets [linear 256, activation] x 2 on the first 5,000 training images (``--num-train``), 5
    epochs (``--epochs``), adamax lr 2e-3, batch 100: relu against leaky_relu (slope 0.1).

    ``data`` is the dict of :func:`minifc.data.load_cifar10`; returns the example summary (one row per
    net, the plot's path).
    """
    epochs, num_train = options.pick(5, 5000)
    small = {k: data[k] for k in ("X_train", "y_train", "X_val", "y_val")}
    if num_train is not None:
        small["X_train"], small["y_train"] = data["X_train"][:num_train], data["y_train"][:num_train]
    rows, runs = [], {}
    for activation in ("relu", "leaky_relu:negative_slope=0.1"):
        if options.seed is not None:
            torch.manual_seed(options.seed)
        layers = ["linear:256", activation, "linear:256", activation]
        net = build_net(layers, small["X_train"].shape[1], int(data["y_train"].max()) + 1)
        trainer = Trainer(
            Classifier(net, "softmax"),
            small,
            update_rule="adamax",
            optim_config={"learning_rate": 2e-3},
            batch_size=100,
            num_epochs=epochs,
            device=options.device,
            seed=options.seed,
            verbose=options.verbose,
            progress=False,
        )
        start = time.time()
        trainer.train()
        name = activation.split(":")[0]
        rows.append(
            {
                "name": name,
                "final_train_acc": trainer.train_acc_history[-1],
                "final_val_acc": trainer.val_acc_history[-1],
                "best_val_acc": trainer.best_val_acc,
                "seconds": round(time.time() - start, 1),
            }
        )
        runs[name] = {k: getattr(trainer, k) for k in ("loss_history", "train_acc_history", "val_acc_history")}
    plots = []
    if have_matplotlib():
        # the Trainer measures after each epoch: its accuracy histories start at epoch 1
        path = plot_histories(runs, options.out / "leaky_relu.png", title="relu vs leaky_relu, adamax", first_epoch=1)
        plots.append(str(path))
    return {"rows": rows, "plots": plots}
