"""Do the sides compute the same training? Float64 copies run a few steps on the same batches.

Float64, so that Adam's sign-of-tiny-gradient steps do not amplify float32 rounding. Each side is
compared with the ``torch`` reference: the largest difference of the per-step losses and of the
weights after the last step. The compiled step is not checked (it would compile again in float64).
"""

from __future__ import annotations

import torch
from common import Config, PermutationSampler, make_data
from sides import Side, Unavailable, build_side, make_trainer, minifc_weights

TOLERANCE = 1e-9
CHECKED = ("trainer", "classic", "torch-fused")


def float64_side(name: str, cfg: Config, data: dict, device: torch.device) -> Side:
    if name != "trainer":
        return build_side(name, cfg, data, device, torch.float64, gather="index")
    # the Trainer takes the benchmark's sampler (the public sampler protocol), so that every side sees
    # exactly the same batches whatever the Trainer's own sampling does
    trainer = make_trainer(cfg, data, device, torch.float64)
    trainer.sampler = PermutationSampler(data["X_train"], data["y_train"], cfg.batch_size, 0, "index_select")
    return Side(trainer.step, minifc_weights(trainer.model))


def check_equivalence(cfg: Config, device: torch.device, names: tuple[str, ...] = CHECKED, steps: int = 3
                      ) -> dict[str, str]:
    """``{side: verdict}`` for each side in ``names`` against ``torch``, e.g. ``"ok (max |dw| 5e-14, ...)"``."""
    if cfg.dropout:
        return {name: "n/a (dropout masks differ)" for name in names}
    data = make_data(device, torch.float64, num_samples=4 * cfg.batch_size, cfg=cfg)
    reference = float64_side("torch", cfg, data, device)
    ref_losses = [reference.step() for _ in range(steps)]
    ref_weights = reference.weights()
    verdicts = {}
    for name in names:
        try:
            side = float64_side(name, cfg, data, device)
            losses = [side.step() for _ in range(steps)]
        except (Unavailable, RuntimeError) as e:
            verdicts[name] = f"not checked ({str(e).splitlines()[0]})"
            continue
        dw = max((a - b).abs().max().item() for a, b in zip(side.weights(), ref_weights, strict=True))
        dloss = max(abs(a - b) for a, b in zip(losses, ref_losses, strict=True))
        ok = dw < TOLERANCE and dloss < TOLERANCE
        verdicts[name] = f"{'ok' if ok else 'MISMATCH'} (max |dw| {dw:.1e}, max |dloss| {dloss:.1e}, {steps} steps)"
    return verdicts
