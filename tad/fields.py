"""The machinery of the frozen config dataclasses, apart from what any one of them means.

Validation helpers that turn a bad value into one sentence, the round trip through a
JSON-ready dict, and :func:`apply_overrides`, the one way text such as
``trust.lambda_cons=0.5`` (``python -m tad run --set ...``, the ablation variants, the
selection candidates) changes a config. ``tad.config`` re-exports what users need.
"""

from __future__ import annotations

import types
from collections.abc import Iterable
from dataclasses import fields, is_dataclass, replace
from typing import Literal, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")

TRUE, FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def one_of(value: str, literal: object, what: str) -> None:
    options = get_args(literal)
    require(value in options, f"{what} must be one of {', '.join(options)}; got {value!r}.")


def positive(obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        require(value > 0, f"{type(obj).__name__}.{name} must be positive; got {value}.")


def fraction(obj: object, *names: str, closed: bool = True) -> None:
    for name in names:
        value = getattr(obj, name)
        ok = 0.0 <= value <= 1.0 if closed else 0.0 <= value < 1.0
        bounds = "[0, 1]" if closed else "[0, 1)"
        require(ok, f"{type(obj).__name__}.{name} must lie in {bounds}; got {value}.")


def to_dict(config: object) -> dict:
    """A JSON-ready nested dict of a (nested) config dataclass."""
    out = {}
    for f in fields(config):  # type: ignore[arg-type]
        value = getattr(config, f.name)
        out[f.name] = to_dict(value) if hasattr(value, "__dataclass_fields__") else value
        if isinstance(value, tuple):
            out[f.name] = list(value)
    return out


def from_dict(cls: type, values: dict) -> object:
    """Inverse of :func:`to_dict`; unknown keys are an error, missing keys take defaults."""
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    require(not unknown, f"unknown {cls.__name__} field(s): {', '.join(unknown)}.")
    kwargs = {}
    for name, value in values.items():
        default = getattr(cls(), name) if name in known else None
        if hasattr(default, "__dataclass_fields__"):
            kwargs[name] = from_dict(type(default), value)
        elif isinstance(value, list):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


def split_override(text: str) -> tuple[str, str]:
    """``"trust.tau=0.5"`` -> ``("trust.tau", "0.5")``; anything without a key and a value is an error."""
    key, sep, value = text.partition("=")
    key, value = key.strip(), value.strip()
    require(
        bool(sep and key and value),
        f"an override is key=value, such as trust.lambda_cons=0.5; got {text!r}.",
    )
    return key, value


def override_keys(overrides: Iterable[str]) -> set[str]:
    """The keys that ``overrides`` set, such as ``{"trust.tau", "ipc"}``."""
    return {split_override(text)[0] for text in overrides}


def _describe(obj: object) -> str:
    """What can be set on ``obj``: its plain keys, and its sections (nested configs) if it has any."""
    names = [f.name for f in fields(obj)]  # type: ignore[arg-type]
    sections = [n for n in names if is_dataclass(getattr(obj, n))]
    keys = ", ".join(n for n in names if n not in sections)
    if not sections:
        return f"{type(obj).__name__}'s keys are {keys}"
    return f"the sections are {', '.join(sections)} (as section.key) and the other keys {keys}"


def parse_value(text: str, hint: object, key: str) -> object:
    """``text`` as a value of type ``hint`` (bool, int, float, str, a Literal, an optional, a tuple)."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        if type(None) in args and text.lower() in ("none", "null"):
            return None
        (inner,) = [a for a in args if a is not type(None)]  # every optional field here has one type
        return parse_value(text, inner, key)
    if origin is Literal:
        require(text in args, f"{key} must be one of {', '.join(map(str, args))}; got {text!r}.")
        return text
    if origin is tuple:
        return tuple(parse_value(part.strip(), args[0], key) for part in text.split(",") if part.strip())
    if hint is bool:
        require(text.lower() in TRUE + FALSE, f"{key} takes true or false; got {text!r}.")
        return text.lower() in TRUE
    try:
        return {int: int, float: float, str: str}[hint](text)  # type: ignore[index]
    except ValueError:
        kind = "a whole number" if hint is int else "a number"
        raise ValueError(f"{key} takes {kind}; got {text!r}.") from None
    except KeyError:
        raise ValueError(f"{key} cannot be set from text.") from None


def _changes(config: object, overrides: Iterable[str]) -> dict:
    """The overrides as a nested dict of parsed values, section by section; every key checked."""
    changes: dict = {}
    for text in overrides:
        key, value = split_override(text)
        obj, target, parts = config, changes, key.split(".")
        for depth, part in enumerate(parts):
            hints = get_type_hints(type(obj))
            where = ".".join(parts[:depth]) or "the configuration"
            require(part in hints, f"unknown key {key!r}: in {where}, {_describe(obj)}.")
            obj = getattr(obj, part)
            last = depth == len(parts) - 1
            if is_dataclass(obj):
                require(
                    not last, f"{key} is a section, not a key: {_describe(obj)}; set one as {key}.key=value."
                )
                target = target.setdefault(part, {})
            else:
                require(
                    last, f"{'.'.join(parts[: depth + 1])} is a value, not a section; drop what follows it."
                )
                target[part] = parse_value(value, hints[part], key)
    return changes


def _merge(obj: T, changes: dict) -> T:
    values = {k: _merge(getattr(obj, k), v) if isinstance(v, dict) else v for k, v in changes.items()}
    return replace(obj, **values) if values else obj  # type: ignore[type-var]


def apply_overrides(config: T, overrides: Iterable[str]) -> T:
    """``config`` with each ``"section.key=value"`` (or ``"key=value"``) of ``overrides`` applied.

    Values are parsed to the field's type (``true``/``false``, numbers, ``none`` for an optional
    field, comma-separated tuples); the changes to one section are applied together, so that
    related keys (``trust.tau_min`` and ``trust.tau_max``) may move together, and the dataclasses'
    own validation then checks the result. A later override of the same key wins. An unknown key,
    a section set as a value or a value of the wrong type is a :class:`ValueError` with one sentence.
    """
    return _merge(config, _changes(config, overrides))


__all__ = [
    "apply_overrides",
    "fraction",
    "from_dict",
    "one_of",
    "override_keys",
    "parse_value",
    "positive",
    "require",
    "split_override",
    "to_dict",
]
