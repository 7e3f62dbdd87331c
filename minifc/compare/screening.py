"""Before anything trains, every candidate is verified: its configuration must resolve as ``minifc train`` would
resolve it, and every component it uses must pass ``minifc check`` (:mod:`minifc.verify.checks`: gradients
against numeric ones, an update rule's descent on a convex objective). A candidate that fails is reported with its
first failing check and left out of the comparison."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..config.train_config import ConfigError, check_values, resolve
from ..errors import MinifcError
from ..registry.core import default_registry
from ..verify.checks import CHECKED_KINDS, CheckResult, check_component
from .candidates import Candidate, candidate_base

__all__ = ["Verdict", "screen"]


@dataclass
class Verdict:
    """Whether ``candidate`` may run; ``reason``: why not (one line); ``checks``: the check rows of its
    components (as dicts); ``unchecked``: its components of kinds ``minifc check`` does not verify."""

    candidate: Candidate
    ok: bool
    reason: str = ""
    checks: list[dict[str, Any]] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"candidate": self.candidate.label, "ok": self.ok, "reason": self.reason,
                "checks": self.checks, "unchecked": self.unchecked}


def screen(candidates: Sequence[Candidate], base: Mapping[str, Any], device: str = "cpu") -> list[Verdict]:
    """One verdict per candidate, in order (each component checked once)."""
    registry = default_registry()
    cache: dict[tuple[str, str], list[CheckResult]] = {}
    verdicts = []
    for cand in candidates:
        verdict = Verdict(cand, True)
        try:
            resolve(check_values(candidate_base(base, cand), f"candidate {cand.label!r}", file=True))
        except (ConfigError, MinifcError, ValueError, KeyError) as e:
            verdict.ok, verdict.reason = False, f"configuration refused: {e}"
        for kind, name in cand.components:
            if kind not in CHECKED_KINDS:
                verdict.unchecked.append(f"{kind} {name}")
                continue
            if (kind, name) not in cache:
                cache[(kind, name)] = check_component(registry.component(kind, name), device=device)
            rows = cache[(kind, name)]
            verdict.checks += [r.as_dict() for r in rows]
            failed = [r for r in rows if not r.passed]
            if failed and verdict.ok:
                first = failed[0]
                verdict.ok = False
                verdict.reason = (f"{kind.replace('_', ' ')} {name!r} [{first.provider}] fails `minifc check` "
                                  f"({len(failed)} of {len(rows)} checks): {first.check}: {first.detail or 'failed'}")
        verdicts.append(verdict)
    return verdicts
