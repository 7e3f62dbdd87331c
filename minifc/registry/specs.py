"""Component specs: ``"name"``, ``"name:k=v,k2=v2"`` or ``{"name": ..., **config}``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["parse_value", "split_spec", "parse_spec"]


def parse_value(text: str) -> Any:
    """'3' -> 3, '0.5' / '1e-3' -> float, 'true' / 'false' -> bool, anything else -> the string."""
    text = text.strip()
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def split_spec(spec: Any) -> tuple[str, list[Any], dict[str, Any]]:
    """``"linear:512,weight_scale=0.01"`` -> ``("linear", [512], {"weight_scale": 0.01})``.

    Accepts a string ``name[:item,item...]`` where an item is ``key=value`` or a bare value
    (positional), a dict ``{"name": ..., **config}`` or a pair ``(name, config)``. Values in strings
    are parsed by :func:`parse_value`.
    """
    if isinstance(spec, str):
        name, sep, rest = spec.partition(":")
        name = name.strip()
        args: list[Any] = []
        config: dict[str, Any] = {}
        if sep and not rest.strip():
            raise ValueError(f"spec {spec!r}: nothing after ':' (expected name:key=value,...)")
        for item in (part.strip() for part in rest.split(",")) if sep else ():
            key, eq, value = item.partition("=")
            if not item:
                raise ValueError(f"spec {spec!r}: empty item (stray ',')")
            if not eq:
                if config:
                    raise ValueError(f"spec {spec!r}: positional value {item!r} after key=value items")
                args.append(parse_value(item))
            elif not key.strip().isidentifier():
                raise ValueError(f"spec {spec!r}: {key.strip()!r} is not a valid key (expected key=value)")
            elif key.strip() in config:
                raise ValueError(f"spec {spec!r}: {key.strip()} is given twice")
            else:
                config[key.strip()] = parse_value(value)
    elif isinstance(spec, Mapping):
        if "name" not in spec:
            raise ValueError(f"spec {dict(spec)!r} has no 'name' key")
        name, args, config = spec["name"], [], {k: v for k, v in spec.items() if k != "name"}
    elif isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], Mapping):
        name, args, config = spec[0], [], dict(spec[1])
    else:
        raise TypeError(f"a component spec is a str, a dict with 'name' or (name, config), got {spec!r}")
    if not isinstance(name, str) or not name:
        raise ValueError(f"spec {spec!r}: the name must be a non-empty string")
    return name, args, config


def parse_spec(spec: Any, positional: Iterable[str] = ()) -> tuple[str, dict[str, Any]]:
    """``"l1:reg=1e-4"`` -> ``("l1", {"reg": 0.0001})``; ``{"name": "max_norm", "max_norm": 3.0}`` ->
    ``("max_norm", {"max_norm": 3.0})``; ``"adam"`` -> ``("adam", {})``.

    Bare values (``"dropout:0.5"``) are given the keys in ``positional``, in order; without enough
    keys they are an error. The config is a new dict.
    """
    name, args, config = split_spec(spec)
    keys = list(positional)
    if len(args) > len(keys):
        raise ValueError(f"spec {spec!r}: expected key=value items, got the bare value(s) {args[len(keys) :]}")
    for key, value in zip(keys, args, strict=False):
        if key in config:
            raise ValueError(f"spec {spec!r}: {key} is given twice")
        config[key] = value
    return name, config
