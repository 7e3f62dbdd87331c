"""A candidate of a comparison: what it changes on the base configuration.

A candidate is written as one or more parts joined by ``+``; a part is

- a component spec ``NAME[:KEY=VALUE,...]`` looked up in the registry: an update rule (``adam``,
  ``sgd_momentum:momentum=0.95``) sets ``update_rule`` and its options; a regularizer (``l1:reg=1e-4``) is added
  to the base's ``regularizers``; a schedule (``warmup_cosine:warmup_fraction=0.1``) sets ``schedule``; a
  component of another registered kind (a gradient transform, ...) sets or extends the ``train`` key named
  after its kind (``gradient_transform`` -> ``gradient_transforms``) when the configuration has one;
- or a ``train`` setting ``KEY=VALUE`` (``dropout=0.5``, ``hidden=[100,100]``).

``adam+dropout=0.25`` is adam with dropout 0.25.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..config.config_checks import SCHEDULES
from ..config.train_config import KEYS, RUNTIME_KEYS
from ..errors import closest
from ..registry.components import KINDS
from ..registry.core import default_registry
from ..registry.specs import parse_spec, parse_value
from ..sweeps.errors import SweepError
from ..sweeps.space import parse_rule
from .errors import CompareError

__all__ = ["Candidate", "parse_candidate", "parse_candidates", "option_rules", "candidate_base"]

#: kinds that are not candidates (building blocks of the net, or commands)
_NOT_CANDIDATES = ("layer", "loss", "example", "sweep_preset", "compare_preset")


@dataclass(frozen=True)
class Candidate:
    """``label``: the candidate as given; ``slug``: its folder name; ``values``: the ``train`` keys it sets on the
    base; ``components``: the registered ``(kind, name)`` it uses (verified before it trains); ``given``: the
    options its spec fixes (not tuned by ``--tune-options``)."""

    label: str
    slug: str
    values: dict[str, Any]
    components: tuple[tuple[str, str], ...] = ()
    given: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _kind_of(name: str) -> tuple[str, bool] | None:
    """The kind of the component ``name`` and whether the registry holds it (a built-in schedule may not)."""
    registry = default_registry()
    order = ["update_rule", "regularizer", *[k for k in KINDS if k not in ("update_rule", "regularizer")]]
    for kind in order:
        if kind in _NOT_CANDIDATES:
            continue
        if name in registry.names(kind):
            return kind, True
    return ("schedule", False) if name in SCHEDULES else None


def _kind_key(kind: str) -> str | None:
    """The train key a component of ``kind`` goes in: the kind's name or its plural, when it is a key."""
    for key in (f"{kind}s", kind):
        if key in KEYS:
            return key
    return None


def _setting(part: str, where: str) -> tuple[str, Any] | None:
    """``KEY=VALUE`` with KEY a train key, else None."""
    key, eq, text = part.partition("=")
    if not eq or ":" in key or key.strip() not in KEYS:
        return None
    key = key.strip()
    if key in RUNTIME_KEYS or key in ("data", "out", "seed", "lr"):
        raise CompareError(f"{where}: {key!r} is the same for every candidate (set it on the base configuration)")
    try:
        value = json.loads(text)
    except ValueError:
        value = parse_value(text)
    return key, value


def parse_candidate(spec: str, base: Mapping[str, Any], slug: str | None = None) -> Candidate:
    """The candidate ``spec`` on the configuration ``base``.

    Raises:
        CompareError: an empty part, an unknown component (with the closest known name), a bad spec.
    """
    where = f"candidate {spec!r}"
    values: dict[str, Any] = {}
    components: list[tuple[str, str]] = []
    given: dict[str, tuple[str, ...]] = {}
    for part in (p.strip() for p in spec.split("+")):
        if not part:
            raise CompareError(f"{where}: an empty part (stray '+')")
        setting = _setting(part, where)
        if setting is not None:
            values[setting[0]] = setting[1]
            continue
        try:
            name, config = parse_spec(part)
        except (ValueError, TypeError) as e:
            raise CompareError(f"{where}: {e}") from None
        found = _kind_of(name)
        if found is None:
            known = [n for k in ("update_rule", "regularizer") for n in default_registry().names(k)] + list(SCHEDULES)
            guess = closest(name, known)
            hint = f"; did you mean {guess!r}?" if guess else ""
            raise CompareError(f"{where}: no update rule, regularizer, schedule or train key named {name!r}{hint} "
                               f"Known: {', '.join(sorted(set(known)))}; a train setting is KEY=VALUE")
        kind, registered = found
        given[f"{kind}:{name}"] = tuple(config)
        if registered:
            components.append((kind, name))
        _apply(values, base, kind, name, config, where)
    return Candidate(spec, slug or slugify(spec), values, tuple(components), given)


def _apply(values: dict[str, Any], base: Mapping[str, Any], kind: str, name: str, config: dict[str, Any],
           where: str) -> None:
    if kind == "update_rule":
        values["update_rule"] = name
        values["update_rule_options"] = dict(config)
        return
    if kind == "regularizer":
        regs = list(values.get("regularizers", base.get("regularizers") or []))
        values["regularizers"] = [*regs, {"name": name, **config}]
        return
    key = _kind_key(kind)
    if key is None:
        raise CompareError(f"{where}: {name!r} is a {kind.replace('_', ' ')}, which no train key takes")
    spec = {"name": name, **config}
    if isinstance(KEYS[key].default, list):
        values[key] = [*list(values.get(key, base.get(key) or [])), spec]
    else:
        values[key] = spec


def slugify(label: str) -> str:
    """A folder name for ``label``: letters, digits and ``._=-`` kept, the rest ``_``."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", label).strip("._")[:60] or "candidate"


def parse_candidates(specs: Sequence[str], base: Mapping[str, Any]) -> list[Candidate]:
    """The candidates ``specs`` with distinct folder names (``adam``, ``adam-2``, ...)."""
    out: list[Candidate] = []
    seen: set[str] = set()
    for spec in specs:
        slug = slugify(spec)
        n = 2
        while slug in seen:
            slug = f"{slugify(spec)}-{n}"
            n += 1
        seen.add(slug)
        out.append(parse_candidate(spec, base, slug))
    return out


def candidate_base(base: Mapping[str, Any], candidate: Candidate) -> dict[str, Any]:
    """The train configuration of ``candidate``: ``base`` with its values set (a new update rule drops the base's
    update-rule options)."""
    out = json.loads(json.dumps(dict(base)))
    if "update_rule" in candidate.values:
        out.pop("update_rule_options", None)
    out.update(json.loads(json.dumps(candidate.values)))
    return out


def option_rules(candidate: Candidate, base: Mapping[str, Any]) -> dict[str, str]:
    """``--tune-options``: search rules for the numeric options the candidate's update rule and regularizers declare
    (and its spec does not fix), within their declared bounds: ``loguniform()`` for an option whose default lies
    in (0, 0.01), else ``uniform()``. An option whose declared bounds are not finite is not searched."""
    registry = default_registry()
    rules: dict[str, str] = {}
    for kind, name in candidate.components:
        component = registry.component(kind, name)
        if kind == "update_rule":
            defaults = getattr(component.obj, "defaults", None) or {}
            prefix = "update_rule."
        elif kind == "regularizer":
            defaults = component.metadata.get("defaults") or {}
            prefix = f"regularizer.{name}."
        else:
            continue
        fixed = set(candidate.given.get(f"{kind}:{name}", ()))
        for option, default in defaults.items():
            if option in ("learning_rate", *fixed) or isinstance(default, bool):
                continue
            if not isinstance(default, (int, float)) or not math.isfinite(default):
                continue
            rule = "loguniform()" if 0 < default < 1e-2 else "uniform()"
            try:  # an option without finite declared bounds (epsilon >= 0) has no range to search: left as is
                parse_rule(prefix + option, rule, f"candidate {candidate.label!r}", candidate_base(base, candidate))
            except SweepError:
                continue
            rules[prefix + option] = rule
    return rules
