"""A search space over ``minifc train`` keys: ``KEY = "DIST(ARGS)"`` rules from a TOML ``[search]`` table or
``--search KEY=DIST(ARGS)`` options.

Distributions: ``loguniform(low, high)``, ``uniform(low, high)``, ``int(low, high[, step])``,
``logint(low, high)`` and ``categorical(a, b, ...)`` (any TOML-like values: numbers, strings, true/false,
lists such as ``[100, 100]``). Keys: any ``minifc train`` key (``lr``, ``weight_scale``, ``hidden``,
``dropout``, ``reg``, ``update_rule``, ``schedule``, ...), an option of the update rule
(``update_rule.beta1``) or of a regularizer (``regularizer.max_norm.max_norm``). A component option's
range may be left out (``uniform()``): the bounds the component declares are used; a range given must lie
within them.
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..config.train_config import KEYS, RUNTIME_KEYS
from ..errors import closest
from ..registry.core import default_registry
from ..validate import NON_NEGATIVE, Interval, check_bounds
from .errors import SweepError

__all__ = ["KINDS", "Dist", "Space", "parse_rule", "parse_space", "apply_params"]

KINDS = ("loguniform", "uniform", "int", "logint", "categorical")
RULE_PREFIX, REG_PREFIX = "update_rule.", "regularizer."


class Suggester(Protocol):
    """What :meth:`Dist.suggest` calls: an ``optuna.trial.Trial``."""

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float: ...

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int: ...

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


@dataclass(frozen=True)
class Dist:
    """One rule: ``key`` drawn from ``kind`` over ``[low, high]`` (with ``step`` for ints) or ``choices``."""

    key: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    step: int = 1
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Suggester) -> Any:
        """The trial's value for this key (a categorical list value comes back as the list)."""
        if self.kind == "categorical":
            coded = [_code(c) for c in self.choices]
            picked = trial.suggest_categorical(self.key, coded)
            return self.choices[coded.index(picked)]
        if self.kind in ("int", "logint"):
            return trial.suggest_int(self.key, int(self.low), int(self.high), step=self.step, log=self.kind == "logint")
        return trial.suggest_float(self.key, self.low, self.high, log=self.kind == "loguniform")

    def spec(self) -> str:
        """The rule as it is written: ``loguniform(0.0001, 0.1)``."""
        if self.kind == "categorical":
            return f"categorical({', '.join(json.dumps(c) for c in self.choices)})"
        if self.kind == "int" and self.step != 1:
            return f"int({int(self.low)}, {int(self.high)}, {self.step})"
        if self.kind in ("int", "logint"):
            return f"{self.kind}({int(self.low)}, {int(self.high)})"
        return f"{self.kind}({self.low!r}, {self.high!r})"


#: a search space: key -> rule, in the order given
Space = dict[str, Dist]


def _code(value: Any) -> Any:
    """A categorical choice as Optuna stores it (None, bool, int, float or str): lists and tables as JSON."""
    return value if value is None or isinstance(value, (bool, int, float, str)) else json.dumps(value)


def parse_rule(key: str, text: Any, where: str, base: Mapping[str, Any] | None = None, check_key: bool = True) -> Dist:
    """``key`` = ``text`` (``"loguniform(1e-4, 1e-1)"``) as a :class:`Dist`; ``base``: the configuration the
    space applies to (its update rule and regularizers give a component option's declared bounds).

    Raises:
        SweepError: naming ``where`` (``sweep.toml: [search] key 'lr'`` or ``--search lr=...``) and the problem.
    """
    if check_key:
        _check_key(key, where)
    if not isinstance(text, str) or "(" not in text or not text.strip().endswith(")"):
        raise SweepError(f"{where}: expected DIST(ARGS) with DIST one of {', '.join(KINDS)}, got {text!r}")
    name, _, rest = text.strip().partition("(")
    kind = {"log": "loguniform", "choice": "categorical", "float": "uniform"}.get(name.strip(), name.strip())
    if kind not in KINDS:
        guess = closest(kind, KINDS)
        hint = f" (did you mean {guess!r}?)" if guess else ""
        raise SweepError(f"{where}: unknown distribution {name.strip()!r}{hint}; known: {', '.join(KINDS)}")
    inner = rest.strip()[:-1]
    try:
        args = _literal(ast.parse(f"({inner},)", mode="eval").body) if inner.strip() else ()
    except (ValueError, SyntaxError):
        what = "numbers, strings, true/false, lists"
        raise SweepError(f"{where}: cannot read the arguments of {text!r} ({what})") from None
    assert isinstance(args, tuple)
    if kind == "categorical":
        if not args:
            raise SweepError(f"{where}: categorical() needs at least one choice")
        return Dist(key, kind, choices=args)
    declared = _declared_bounds(key, where, base or {}) if check_key else None
    if not args:
        if declared is None or not math.isfinite(declared.high) or not math.isfinite(declared.low):
            what = f"declares {declared}" if declared is not None else "declares no bounds"
            raise SweepError(f"{where}: give the range, {kind}(LOW, HIGH): the key {what}")
        low, high = declared.low, declared.high
        if declared.high_open or declared.low_open:  # an open end is never drawn
            span = (high - low) * 1e-6
            low, high = low + span * declared.low_open, high - span * declared.high_open
        if kind == "loguniform" and low <= 0:
            low = high * 1e-4
        args = (low, high)
    return _numeric(key, kind, args, where, declared)


_WORDS = {"true": True, "false": False, "True": True, "False": False, "none": None, "None": None}


def _literal(node: ast.AST) -> Any:
    """A literal written in a rule: numbers, strings, true/false (either spelling), lists, negative numbers."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool)):
        return node.value
    if isinstance(node, ast.Name) and node.id in _WORDS:
        return _WORDS[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = _literal(node.operand)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return -value
    if isinstance(node, ast.List):
        return [_literal(e) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_literal(e) for e in node.elts)
    raise ValueError("not a literal")


def _numeric(key: str, kind: str, args: tuple[Any, ...], where: str, declared: Interval | None) -> Dist:
    wanted = 3 if kind == "int" else 2
    if len(args) not in (2, wanted) or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
        shape = "int(LOW, HIGH[, STEP])" if kind == "int" else f"{kind}(LOW, HIGH)"
        raise SweepError(f"{where}: expected {shape} with numbers, got {kind}{args!r}")
    low, high = float(args[0]), float(args[1])
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise SweepError(f"{where}: the range must be finite with LOW < HIGH, got {low:g}, {high:g}")
    if kind in ("int", "logint") and not all(float(a).is_integer() for a in args):
        raise SweepError(f"{where}: {kind}() takes integers, got {args!r}")
    if kind in ("loguniform", "logint") and low <= 0:
        raise SweepError(f"{where}: a log distribution needs LOW > 0, got {low:g}")
    step = int(args[2]) if len(args) == 3 else 1
    if step < 1:
        raise SweepError(f"{where}: the step must be a positive integer, got {args[2]!r}")
    if declared is not None and (low not in declared or high not in declared):
        raise SweepError(
            f"{where}: the range [{low:g}, {high:g}] leaves the bounds the component declares ({declared})"
        )
    return Dist(key, kind, low, high, step)


def _check_key(key: str, where: str) -> None:
    if key.startswith(RULE_PREFIX) and key != RULE_PREFIX.rstrip("."):
        return
    if key.startswith(REG_PREFIX) and len(key.split(".")) == 3 and all(key.split(".")):
        return
    if key in KEYS and key not in RUNTIME_KEYS:
        return
    known = [*KEYS, "update_rule.OPTION", "regularizer.NAME.OPTION"]
    guess = closest(key, list(KEYS))
    hint = f"; did you mean {guess!r}?" if guess else ""
    raise SweepError(f"{where}: cannot search {key!r}{hint} Searchable: {', '.join(known)}")


def _declared_bounds(key: str, where: str, base: Mapping[str, Any]) -> Interval | None:
    """The range a component declares for an option key (NON_NEGATIVE for an undeclared number); None for a
    plain train key or a component that declares nothing."""
    registry = default_registry()
    try:
        if key.startswith(RULE_PREFIX):
            rule_name, option = str(base.get("update_rule") or KEYS["update_rule"].default), key[len(RULE_PREFIX):]
            rule = registry.get("update_rule", rule_name.split(":")[0])
            defaults, bounds = getattr(rule, "defaults", None), getattr(rule, "bounds", None)
            who = f"update rule {rule_name!r}"
        elif key.startswith(REG_PREFIX):
            _, reg_name, option = key.split(".")
            component = registry.component("regularizer", reg_name)
            defaults, bounds = component.metadata.get("defaults"), component.metadata.get("bounds")
            who = f"regularizer {reg_name!r}"
        else:
            return None
    except KeyError as e:
        raise SweepError(f"{where}: {e}") from None
    if defaults is not None and option not in defaults:
        known = sorted(set(defaults) - {"learning_rate"})
        raise SweepError(f"{where}: {who} has no option {option!r}; it takes {', '.join(known) or 'none'}")
    if defaults is None and not bounds:
        return None
    return check_bounds(bounds, who).get(option, NON_NEGATIVE)


def parse_space(rules: Mapping[str, Any], source: str, base: Mapping[str, Any] | None = None,
                table: bool = True, check_keys: bool = True) -> Space:
    """Rules ``{key: "DIST(ARGS)"}`` (a TOML ``[search]`` table from ``source``, or ``--search`` options with
    ``table=False``) as a :class:`Space`; ``check_keys=False``: the keys are an example's ``--set`` keys, not
    train keys (no declared bounds)."""
    space: Space = {}
    for key, text in rules.items():
        where = f"{source}: [search] key {key!r}" if table else f"--search {key}={text}"
        space[key] = parse_rule(key, text, where, base if check_keys else None, check_key=check_keys)
    return space


def apply_params(values: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` (a train configuration, unresolved) with the trial's ``params`` set: a plain key replaces its
    value, ``update_rule.X`` sets an option of the update rule, ``regularizer.N.X`` an option of regularizer N
    (added when the configuration has none named N)."""
    out = json.loads(json.dumps(dict(values)))
    for key, value in params.items():
        if key.startswith(RULE_PREFIX):
            out.setdefault("update_rule_options", {})[key[len(RULE_PREFIX):]] = value
        elif key.startswith(REG_PREFIX):
            _, name, option = key.split(".")
            regs = out.setdefault("regularizers", [])
            entry = next((r for r in regs if r.get("name") == name), None)
            if entry is None:
                entry = {"name": name}
                regs.append(entry)
            entry[option] = value
        else:
            out[key] = value
    return out
