"""The machinery of typed, frozen config: the error that names a dotted key, the checks of a
value (``key``: the dotted key to name), building a dataclass from a mapping (wrong types and
unknown keys fail), ``a.b=v`` overrides, and plain dicts and diffs of configs."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

import yaml


class ConfigError(ValueError):
    """A configuration value or key is invalid; the message names the dotted key."""


def one_of(value: str, choices: tuple[str, ...], key: str) -> None:
    if value not in choices:
        raise ConfigError(f"{key}: expected one of {', '.join(choices)}, got {value!r}")


def positive(value: float, key: str) -> None:
    if not value > 0:
        raise ConfigError(f"{key}: expected a positive number, got {value!r}")


def in_range(value: float, low: float, high: float, key: str) -> None:
    if not low <= value <= high:
        raise ConfigError(f"{key}: expected a value in [{low}, {high}], got {value!r}")


def config_to_dict(config: Any) -> Any:
    """A plain dict (YAML-ready) of a config dataclass."""
    if dataclasses.is_dataclass(config):
        return {f.name: config_to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, dict):
        return {k: config_to_dict(v) for k, v in config.items()}
    if isinstance(config, tuple):
        return [config_to_dict(v) for v in config]
    return config


def diff(value: Any, default: Any) -> Any:
    if isinstance(value, dict) and isinstance(default, dict):
        out = {}
        for k, v in value.items():
            d = diff(v, default.get(k))
            if d is not SAME:
                out[k] = d
        return out if out else SAME
    return SAME if value == default else value


SAME = object()


def apply_override(raw: dict[str, Any], item: str) -> None:
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r}: expected KEY=VALUE, e.g. tracker.lifecycle.min_hits=3")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = text
    node = raw
    parts = key.strip().split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{key}: {part} is not a section")
        node = child
    node[parts[-1]] = value
    if len(parts) > 1 and parts[0] == "tracker" and parts[1] != "per_class":
        _unset_per_class(raw, parts[1:])


def _unset_per_class(raw: dict[str, Any], parts: list[str]) -> None:
    """What the user typed last wins: a ``--set tracker.X=...`` overrides the same key of
    every ``tracker.per_class`` section read before it (which then inherit it)."""
    per_class = raw.get("tracker", {}).get("per_class")
    for section in per_class.values() if isinstance(per_class, dict) else ():
        node = section
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(parts[-1], None)


def build(cls: type, raw: Any, key: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{key or 'config'}: expected a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        dotted = _join(key, str(unknown[0]))
        raise ConfigError(f"unknown config key {dotted!r} (valid: {', '.join(sorted(names))})")
    kwargs = {}
    # per_class last: an error in a key it inherits names the key where the user gave it
    for name, value in sorted(raw.items(), key=lambda item: item[0] == "per_class"):
        kwargs[name] = _convert(hints[name], value, _join(key, name), cls, raw)
    return cls(**kwargs)


def _convert(hint: Any, value: Any, key: str, owner: type, raw: dict) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, key)
    if origin is dict:
        return _convert_per_class(value, key, owner, raw)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        inner = typing.get_args(hint)[0]
        return tuple(_convert(inner, v, f"{key}[{i}]", owner, raw) for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        raise ConfigError(f"{key}: unsupported type")
    return _scalar(hint, value, key)


def _convert_per_class(value: Any, key: str, owner: type, raw: dict) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: expected a mapping of class name to settings")
    base = {k: v for k, v in raw.items() if k != "per_class"}
    out = {}
    for name, sub in value.items():
        if not isinstance(sub, dict):
            raise ConfigError(f"{key}.{name}: expected a mapping")
        if "per_class" in sub:
            raise ConfigError(f"{key}.{name}.per_class: per_class cannot be nested")
        merged = _merge(base, sub)
        out[str(name)] = build(owner, merged, f"{key}.{name}")
    return out


def _merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _scalar(hint: Any, value: Any, key: str) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is str and isinstance(value, str):
        return value
    expected = getattr(hint, "__name__", str(hint))
    raise ConfigError(f"{key}: expected {expected}, got {value!r}")


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
