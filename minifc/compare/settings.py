"""What a comparison is: the settings written once to ``COMPARE/compare.json`` when it starts and read again by
``--resume``."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..io.safe_files import check_regular
from ..sweeps.settings import PRUNERS
from .errors import CompareError

__all__ = ["SETTINGS", "DEFAULT_LR_RANGE", "CompareSettings", "read_settings", "write_settings"]

SETTINGS = "compare.json"
DEFAULT_LR_RANGE = (1e-5, 1.0)


@dataclass
class CompareSettings:
    """One comparison.

    - ``candidates``: the candidate specs, the first one the baseline (:mod:`minifc.compare.candidates`);
    - ``base``: the ``train`` configuration they share (unresolved keys); its ``seed`` is the tuning runs' seed;
    - ``trials``: tuning trials per candidate (a sweep over ``lr`` in ``lr_range``, log-uniform, and with
      ``tune_options`` the options the candidate's components declare), all with the same TPE seed ``seed`` and
      pruner ``pruner``;
    - ``seeds``: how many fresh seeds re-run each candidate's best setting;
    - ``target``: the validation accuracy of "time to target" (None: from the baseline's curve);
    - ``max_retry``: retries of a trial whose worker died; ``preset``: the preset it came from.
    """

    candidates: list[str]
    base: dict[str, Any]
    trials: int = 8
    seeds: int = 5
    seed: int = 0
    lr_range: tuple[float, float] = DEFAULT_LR_RANGE
    tune_options: bool = False
    pruner: str = "none"
    target: float | None = None
    max_retry: int = 2
    preset: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        """Refuse settings that cannot run, naming the option."""
        if not self.candidates:
            raise CompareError("nothing to compare: give CANDIDATE... (e.g. sgd adam) or --preset NAME")
        if self.trials < 1:
            raise CompareError(f"--trials must be at least 1, got {self.trials}")
        if self.seeds < 2:
            raise CompareError(f"--seeds must be at least 2 (a spread over seeds needs two), got {self.seeds}")
        low, high = (float(v) for v in self.lr_range)
        if not (math.isfinite(low) and math.isfinite(high) and 0 < low < high):
            raise CompareError(f"--lr-range {low:g},{high:g}: expected 0 < LOW < HIGH")
        if self.pruner not in PRUNERS:
            raise CompareError(f"--pruner {self.pruner!r}: expected one of {', '.join(PRUNERS)}")
        if self.target is not None and not 0 < self.target <= 1:
            raise CompareError(f"--target {self.target:g}: expected a validation accuracy in (0, 1]")

    def fresh_seeds(self) -> list[int]:
        """The seeds the best settings are re-run on: never the tuning runs' seed."""
        start = int(self.base.get("seed", 0)) + 1
        return list(range(start, start + self.seeds))


def write_settings(folder: Path, settings: CompareSettings) -> None:
    path = folder / SETTINGS
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(asdict(settings), indent=2) + "\n")
    tmp.replace(path)


def read_settings(folder: Path) -> CompareSettings:
    """The settings of the comparison in ``folder``; CompareError when it holds none or they cannot be read."""
    path = folder / SETTINGS
    if not path.is_file():
        raise CompareError(f"{folder} holds no comparison ({SETTINGS} is missing): start one without --resume")
    try:
        check_regular(path)
        raw = json.loads(path.read_text())
        raw["lr_range"] = tuple(raw.get("lr_range", DEFAULT_LR_RANGE))
        settings = CompareSettings(**raw)
    except (OSError, ValueError, TypeError) as e:
        raise CompareError(f"{path} cannot be read as a comparison's settings: {e}") from None
    settings.check()
    return settings
