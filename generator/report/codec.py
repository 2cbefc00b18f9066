"""Parsed JSON -> report dataclasses, checked and built in one walk.

`decode(tp, value)` builds a value of type `tp` (a dataclass, list[...], dict[str, ...], X | None, str, int,
float, bool, a StrEnum, object, or Annotated[T, Check(...)]) from what orjson parsed, and raises
:class:`Invalid` at the first value it cannot read as that type, with the key path where it is
(e.g. ``images[3].image``); `evalsite.report.load` turns that into the InputError naming the file.

The rules (report.json as the report builders write it): numbers and strings may be null (undefined numbers
are written as null); objects and lists may be null only where the model says `| None`; an int field takes
any number; keys the model does not know are ignored; a StrEnum field takes one of its values.

Report files can be tens of MB: a decoder is made once per type (`decoder`), and a list of plain numbers or
strings is checked in one pass without a call per item. Key paths are only put together on error.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Callable
from typing import Any

from evalsite.core.errors import EvalsiteError

__all__ = ["Check", "Invalid", "decode", "decoder", "json_kind"]

Decoder = Callable[[Any], Any]


class Invalid(EvalsiteError, ValueError):
    """A value that is not of its type: `problem` and `path`, the keys from the top ("images", 3, "image").

    The loader turns it into an InputError naming the file and the key path."""

    def __init__(self, problem: str, *path: str | int):
        super().__init__(problem)
        self.problem = problem
        self.path = list(path)

    def within(self, key: str | int) -> Invalid:
        """The same error, one level further out (under `key`)."""
        self.path.insert(0, key)
        return self

    @property
    def key(self) -> str:
        """The key path as the messages write it: dataset.labels, images[3].image, metrics.coco.AP."""
        return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" if i else k for i, k in enumerate(self.path))


@dataclasses.dataclass(frozen=True)
class Check:
    """Annotated[T, Check(function)]: after a value is read as T, `function(value)` checks more (it raises
    Invalid, with the path below the value)."""

    function: Callable[[Any], None]


def json_kind(value: object) -> str:
    """What a parsed JSON value is, as a message says it: null, a boolean, a number, a string, a list, an object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _expected(expected: str, value: object) -> Invalid:
    return Invalid(f"expected {expected}, found {json_kind(value)}")


def decode(tp: object, value: object) -> Any:
    """`value` (parsed JSON) read as a `tp`; Invalid when it cannot be."""
    return decoder(tp)(value)


# The JSON types each plain type accepts (a bool is not a number), and how a message names it.
_LEAVES: dict[object, tuple[type, ...]] = {str: (str,), bool: (bool,), int: (int, float), float: (int, float)}
_NAMES = {str: "a string", bool: "a boolean", int: "a number", float: "a number"}


def _leaf_types(tp: object) -> tuple[type, ...] | None:
    """The exact JSON types a str/bool/number type (or one of them | None) accepts; None for other types."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = options[0] if len(options) == 1 else None
    return _LEAVES.get(tp)


@functools.cache
def decoder(tp: object) -> Decoder:
    """The function that reads parsed JSON as a `tp` (made once per type)."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        inner, *extras = typing.get_args(tp)
        return _annotated(decoder(inner), [e.function for e in extras if isinstance(e, Check)])
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(options) != 1:
            return _as_is  # several types: taken as they are
        return _optional(decoder(options[0]))
    if tp is object or tp is Any:
        return _as_is
    if dataclasses.is_dataclass(tp):
        return _dataclass(tp)  # type: ignore[arg-type]
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum(tp)
    if origin is list:
        (item,) = typing.get_args(tp)
        return _list(item)
    if origin is dict:
        _, item = typing.get_args(tp)
        return _dict(item)
    if tp in _LEAVES:
        return _leaf(_LEAVES[tp], _NAMES[tp])  # type: ignore[index]
    raise TypeError(f"cannot read {tp!r} from JSON")


def _as_is(value: Any) -> Any:
    return value


def _optional(inner: Decoder) -> Decoder:
    def read(value: Any) -> Any:
        return None if value is None else inner(value)
    return read


def _annotated(inner: Decoder, checks: list[Callable[[Any], None]]) -> Decoder:
    def read(value: Any) -> Any:
        value = inner(value)
        if value is not None:
            for check in checks:
                check(value)
        return value
    return read


def _leaf(accepted: tuple[type, ...], name: str) -> Decoder:
    def read(value: Any) -> Any:
        if value is None or type(value) in accepted:
            return value
        if isinstance(value, accepted) and not isinstance(value, bool):  # a str or number subclass
            return value
        raise _expected(name, value)
    return read


def _enum(cls: type[enum.Enum]) -> Decoder:
    members = {m.value: m for m in cls}
    values = ", ".join(str(m.value) for m in cls)

    def read(value: Any) -> Any:
        if value is None:  # a string may be null, as elsewhere
            return None
        if not isinstance(value, str):
            raise _expected("a string", value)
        member = members.get(value)
        if member is None:
            raise Invalid(f"unknown value {value!r} (expected one of: {values})")
        return member
    return read


def _list(item: object) -> Decoder:
    read_item = decoder(item)
    leaf = _leaf_types(item)
    enum_members = {m.value: m for m in item} if isinstance(item, type) and issubclass(item, enum.Enum) else None

    def read(value: Any) -> Any:
        if not isinstance(value, list):
            raise _expected("a list", value)
        if leaf is not None and all(v is None or type(v) in leaf for v in value):
            return list(value)  # the common case of long lists of numbers or strings, without a call per item
        if enum_members is not None:
            try:
                return [enum_members[v] for v in value]
            except (KeyError, TypeError):
                pass  # found below, with its index
        out = []
        for i, v in enumerate(value):
            try:
                out.append(read_item(v))
            except Invalid as error:
                raise error.within(i) from None
        return out
    return read


def _dict(item: object) -> Decoder:
    read_item = decoder(item)
    leaf = _leaf_types(item)

    def read(value: Any) -> Any:
        if not isinstance(value, dict):
            raise _expected("an object", value)
        if leaf is not None and all(v is None or type(v) in leaf for v in value.values()):
            return dict(value)
        out = {}
        for k, v in value.items():
            try:
                out[k] = read_item(v)
            except Invalid as error:
                raise error.within(k) from None
        return out
    return read


def _dataclass(cls: type) -> Decoder:
    hints = typing.get_type_hints(cls, include_extras=True)  # slow: once per class
    fields = [(f.name, f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
               decoder(hints[f.name])) for f in dataclasses.fields(cls)]

    def read(value: Any) -> Any:
        if not isinstance(value, dict):
            raise _expected("an object", value)
        given = {}
        for name, required, read_field in fields:
            if name not in value:
                if required:
                    raise Invalid("missing", name)
                continue
            try:
                given[name] = read_field(value[name])
            except Invalid as error:
                raise error.within(name) from None
        return cls(**given)
    return read
