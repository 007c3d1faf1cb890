"""Typed run configurations: frozen, nested dataclasses, built once at the run boundary.

Every method declares one frozen dataclass (fields may be other frozen dataclasses, e.g. the
coarse model's ``model`` / ``train`` / ``augment`` parts) and one instance of it per preset.
This module turns such a dataclass into JSON and back, and applies ``--set key=value``
overrides, using the field annotations as the only source of types. Three rules:

* a key is a dotted path through the nesting (``train.epochs``, ``coarse.model.growth_rate``);
  a nested part can also be given whole as a JSON object, which updates only the keys it
  names (``--set 'coarse={"train": {"epochs": 2}}'``);
* an unknown key at any depth is refused, and the error lists the valid keys at that depth;
* the instance is built once, after every override is applied, so the dataclasses'
  ``__post_init__`` checks see the final values (changing ``block_layers`` and
  ``decoder_channels`` together is not refused half-way);
* nonsense is refused at this boundary (issue 23): a float must be finite, an int must fit
  in 32 bits (no field counts beyond that), a JSON value may nest at most
  :data:`MAX_JSON_DEPTH` levels, and every message is one line with the user's text cut
  to :data:`SHOWN_CHARS` characters. Each dataclass checks its own fields' ranges and
  choices in ``__post_init__``, with :func:`check_ranges` and :func:`check_choice`.

Nothing here knows about methods; the run harness calls :func:`apply_overrides` and
:func:`to_dict` / :func:`from_dict`, methods receive the typed instance.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

#: Deepest JSON a ``--set`` value or a config.json may hold (configs nest 3 levels).
MAX_JSON_DEPTH = 32
#: Largest magnitude of an int setting (no count, size or budget comes near it).
MAX_INT = 2**31 - 1
#: Characters of a key or value quoted back in an error message.
SHOWN_CHARS = 60


class ConfigError(ValueError):
    """A configuration that cannot be built; the message is one line naming key and fix."""


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """``value`` for an error message: its ``repr`` (JSON form), one line, cut to ``limit``.

    Never fails: a value too deep to print is named as such.

    Examples
    --------
    >>> shown("x" * 100, limit=8)
    "'xxxxxx…"
    """
    try:
        text = repr(_plain(value))
    except RecursionError:
        return "(a value nested too deeply to show)"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:max(limit - 1, 0)] + "…"


def _cut(text: str, limit: int = SHOWN_CHARS) -> str:
    """User text (a key, a ``--set`` value) as given, cut to ``limit`` characters."""
    text = " ".join(text.split()) if "\n" in text or "\r" in text else text
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _depth(value: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """Nesting depth of lists and dicts in ``value``, counted up to ``limit + 1``."""
    depth, level = 0, [value]
    while level and depth <= limit:
        nested = [v for item in level if isinstance(item, list | tuple | dict)
                  for v in (item.values() if isinstance(item, dict) else item)]
        if not any(isinstance(item, list | tuple | dict) for item in level):
            break
        depth, level = depth + 1, nested
    return depth


def check_ranges(owner: str, checks: Sequence[tuple[str, Any, float, float]]) -> None:
    """Refuse a setting outside its closed range; one line naming the first that is.

    Parameters
    ----------
    owner
        Prefix of the key in the message (``"train."``, ``"nnU-Net config "``).
    checks
        ``(name, value, low, high)``: ``value`` is a number, a sequence of numbers (each is
        checked) or None (not checked: "unset" is each field's own business).

    Raises
    ------
    ValueError
        ``<owner><name>=<value>: expected a value in [low, high]``; :func:`from_dict` turns
        it into a ConfigError.
    """
    for name, value, low, high in checks:
        values = value if isinstance(value, list | tuple) else (value,)
        for item in values:
            if item is not None and not low <= item <= high:
                raise ValueError(f"{owner}{name}={shown(value)}: expected "
                                 f"{'values' if values is value else 'a value'} in "
                                 f"[{low:g}, {high:g}]")


def check_choice(owner: str, name: str, value: str, choices: Sequence[str]) -> None:
    """Refuse a string setting that is not one of ``choices`` (one line, value cut)."""
    if value not in choices:
        raise ValueError(f"{owner}{name}={shown(value)}: expected one of "
                         f"{', '.join(choices)}")


# ----------------------------------------------------------------------------- JSON form
def to_dict(config: Any) -> dict[str, Any]:
    """Plain JSON form of a (nested) config dataclass: tuples as lists, nesting as dicts."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"expected a config dataclass instance, got {type(config).__name__}")
    return {f.name: _plain(getattr(config, f.name)) for f in dataclasses.fields(config)}


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def valid_keys(cls: type, prefix: str = "") -> list[str]:
    """Every dotted leaf key of ``cls`` (nested dataclasses expanded), in field order."""
    out: list[str] = []
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if _is_config_class(tp):
            out.extend(valid_keys(tp, f"{prefix}{f.name}."))
        else:
            out.append(prefix + f.name)
    return out


def from_dict(cls: type[T], data: Mapping[str, Any], *, where: str = "config") -> T:
    """Build ``cls`` from its JSON form, strictly.

    Every field must be given (a ``config.json`` is a complete record, so a key missing
    there is a damaged or foreign file, not a default), no unknown key is allowed, and
    values are converted to the annotated types (lists to tuples, ints to floats).

    Raises
    ------
    ConfigError
        One line naming the key (``where`` + dotted path) and what was expected.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping of {cls.__name__} settings, got "
                          f"{type(data).__name__}")
    hints = _hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(str(k) for k in set(data) - set(names))
    if unknown:
        listed = ", ".join(_cut(k) for k in unknown[:5]) + (", …" if len(unknown) > 5 else "")
        raise ConfigError(f"{where}: unknown key(s) {listed}; valid keys: "
                          f"{', '.join(names)}")
    missing = [n for n in names if n not in data]
    if missing:
        raise ConfigError(f"{where}: missing key(s) {', '.join(missing)}; the record is "
                          "incomplete (written by another ichbench version?)")
    values = {n: coerce(data[n], hints[n], f"{where}.{n}") for n in names}
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:
        raise ConfigError(str(exc)) from None


def _is_config_class(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _union_args(tp: Any) -> tuple[Any, ...] | None:
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        return typing.get_args(tp)
    return None


def _type_name(tp: Any) -> str:
    if isinstance(tp, type) and typing.get_origin(tp) is None:
        return tp.__name__
    return str(tp).replace("typing.", "")


def coerce(value: Any, tp: Any, where: str) -> Any:
    """``value`` (JSON or already typed) converted to the annotated type ``tp``.

    Raises
    ------
    ConfigError
        If the value does not fit the type.
    """
    if _is_config_class(tp):
        if isinstance(value, tp):
            return value
        return from_dict(tp, value, where=where)
    arms = _union_args(tp)
    if arms is not None:
        if value is None and type(None) in arms:
            return None
        for arm in arms:
            if arm is type(None):
                continue
            try:
                return coerce(value, arm, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}={shown(value)}: expected {_type_name(tp)}")
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            if abs(value) > MAX_INT:
                raise ConfigError(f"{where}={shown(value)}: expected an int of at most "
                                  f"{MAX_INT:,} in magnitude")
            return value
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:  # an int beyond float range
                number = math.inf
            if not math.isfinite(number):
                raise ConfigError(f"{where}={shown(value)}: expected a finite number")
            return number
    elif tp is str:
        if isinstance(value, str):
            return value
    elif typing.get_origin(tp) is tuple:
        args = typing.get_args(tp)
        if isinstance(value, list | tuple):
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
            if len(value) != len(args):
                raise ConfigError(f"{where}={shown(value)}: expected {len(args)} values "
                                  f"({_type_name(tp)})")
            return tuple(coerce(v, a, f"{where}[{i}]")
                         for i, (v, a) in enumerate(zip(value, args, strict=True)))
    else:  # pragma: no cover - a config field of a type this module does not handle
        raise TypeError(f"{where}: unsupported config field type {tp!r}")
    raise ConfigError(f"{where}={shown(value)}: expected {_type_name(tp)}")


# ----------------------------------------------------------------------------- --set
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def parse_text(text: str, tp: Any, key: str) -> Any:
    """Read one ``--set`` value written on a command line as the annotated type ``tp``.

    Booleans take true/false/yes/no/on/off/1/0; tuples take a JSON list (``[0, 80]``) or
    comma-separated values (``8,64,64``; one value is a one-element tuple where the tuple
    is variable-length); ``null``/``none`` gives None where allowed; a nested config takes
    a JSON object.
    """
    where = f"--set {_cut(key)}={_cut(text)}"
    stripped = text.strip()
    arms = _union_args(tp)
    if arms is not None:
        if stripped.lower() in ("null", "none") and type(None) in arms:
            return None
        for arm in arms:
            if arm is type(None):
                continue
            try:
                return parse_text(text, arm, key)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: cannot read as {_type_name(tp)}")
    try:
        if _is_config_class(tp):
            raw = _json_value(stripped)
            if not isinstance(raw, dict):
                raise ValueError("expected a JSON object like {\"epochs\": 2}")
            return raw
        if tp is bool:
            if stripped.lower() in _TRUE:
                return True
            if stripped.lower() in _FALSE:
                return False
            raise ValueError("expected true or false")
        if tp is int:
            return int(stripped)
        if tp is float:
            return float(stripped)
        if tp is str:
            return text
        if typing.get_origin(tp) is tuple:
            if stripped.startswith("["):
                return coerce(_json_value(stripped), tp, where)
            args = typing.get_args(tp)
            items = [t.strip() for t in stripped.split(",") if t.strip()]
            kinds = ([args[0]] * len(items) if len(args) == 2 and args[1] is Ellipsis
                     else list(args))
            if len(kinds) != len(items):
                raise ValueError(f"expected {len(kinds)} comma-separated values")
            return tuple(parse_text(item, kind, key) for item, kind in
                         zip(items, kinds, strict=True))
    except ConfigError as exc:
        raise ConfigError(f"{where}: cannot read as {_type_name(tp)} ({exc})") from None
    except (ValueError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read as {_type_name(tp)} "
                          f"({_cut(str(exc), 120)})") from None
    raise TypeError(f"{key}: unsupported config field type {tp!r}")  # pragma: no cover


def _json_value(text: str) -> Any:
    """A ``--set`` value's JSON, nested at most :data:`MAX_JSON_DEPTH` levels.

    Raises
    ------
    ValueError
        Malformed or too deeply nested JSON (Python's parser would recurse out of stack).
    """
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def _tree(config: Any) -> dict[str, Any]:
    """Field name → value, nested configs as such dicts (values keep their Python types)."""
    return {f.name: (_tree(v) if dataclasses.is_dataclass(v := getattr(config, f.name))
                     else v) for f in dataclasses.fields(config)}


def _merge(tree: dict[str, Any], update: Mapping[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(tree.get(key), dict):
            _merge(tree[key], value)
        else:
            tree[key] = value


def _suggest(cls: type, key: str) -> str:
    """`` (did you mean train.epochs?)`` for a key whose last part is close to a real one."""
    keys = valid_keys(cls)
    leaves = {k.rsplit(".", 1)[-1] for k in keys}
    close = difflib.get_close_matches(key.rsplit(".", 1)[-1], sorted(leaves), n=3, cutoff=0.8)
    hits = [k for k in keys if k.rsplit(".", 1)[-1] in close and k != key]
    return f" (did you mean {' or '.join(hits)}?)" if hits else ""


def apply_overrides(config: T, overrides: Sequence[str], *, what: str = "this method") -> T:
    """``config`` with ``key=value`` overrides applied, typed by the field annotations.

    Parameters
    ----------
    config
        A (nested) config dataclass instance, e.g. a method's preset.
    overrides
        ``"key=value"`` items; keys are dotted paths (see the module docstring).
    what
        Names the config in error messages (``"coarse"``).

    Raises
    ------
    ConfigError
        One line: a malformed item, an unknown key (with the valid keys listed), a value
        of the wrong type, or a combination the config's own checks refuse.
    """
    cls = type(config)
    tree = _tree(config)
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {shown(item)}: expected key=value, e.g. --set "
                              "train.epochs=10")
        node, node_cls, path = tree, cls, key.split(".")
        for depth, part in enumerate(path):
            hints = _hints(node_cls)
            if part not in hints:
                here = ".".join(path[:depth])
                known = valid_keys(node_cls, f"{here}." if here else "")
                raise ConfigError(f"--set {_cut(key)}: not a setting of {what}"
                                  f"{_suggest(cls, key[:200])}; valid keys"
                                  f"{' under ' + here if here else ''}: {', '.join(known)}")
            tp = hints[part]
            if depth == len(path) - 1:
                value = parse_text(text, tp, key)
                if _is_config_class(tp):
                    _merge(node[part], value)
                else:
                    node[part] = value
            elif _is_config_class(tp):
                node, node_cls = node[part], tp
            else:
                raise ConfigError(f"--set {_cut(key)}: {_cut('.'.join(path[:depth + 1]))} is "
                                  "a single value, not a group of settings")
    try:
        return from_dict(cls, tree, where="config")
    except ConfigError as exc:
        raise ConfigError(f"{what}: {exc}") from None


def config_hash(record: Mapping[str, Any]) -> str:
    """First 16 hex digits of the SHA-256 of ``record`` as canonical JSON."""
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
