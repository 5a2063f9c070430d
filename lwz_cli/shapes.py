"""Checking a record read from JSON against its dataclass's annotations.

A journal file whose checksum holds can still carry a string where a number belongs
(a hand edit that recomputed the sha256, a tool of one's own): its reader checks the
shapes once, so that everything after it (`lwz runs`, resume) can trust the declared
types instead of failing later with an internal error.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from functools import cache
from typing import Any, TypeVar, Union

Record = TypeVar("Record")


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def checked(record: Record) -> Record:
    """`record` (a dataclass instance) itself; TypeError naming the first field whose
    value is not of its declared type (nested records are checked too)."""
    kind: Any = type(record)
    hints = _hints(kind)
    for field in dataclasses.fields(record):  # type: ignore[arg-type]
        value = getattr(record, field.name)
        if not _fits(value, hints[field.name]):
            shown = repr(value)
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            raise TypeError(f"{field.name} is {shown}, not {_name(hints[field.name])}")
    return record


def _fits(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (Union, types.UnionType):
        return any(_fits(value, arm) for arm in typing.get_args(hint))
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_fits(v, item) for v in value)
    if origin is dict:
        key, item = typing.get_args(hint)
        return isinstance(value, dict) and all(
            _fits(k, key) and _fits(v, item) for k, v in value.items()
        )
    if hint is float:  # JSON writes 0.0 as 0 when a tool rewrites it; never NaN or Infinity
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return isinstance(value, int) or math.isfinite(value)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return isinstance(value, hint) and checked(value) is value
    return isinstance(value, hint)


def _name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
