"""``dataclass``, as the standard library's, with the class built on first use.

``dataclasses.dataclass`` writes each class's ``__init__``, ``__repr__``,
``__eq__``, ``__hash__`` and frozen ``__setattr__`` as source text and compiles
it: about half a millisecond a class, 50 ms for the 90 classes an ``up`` with
nothing to do imports, most of which it never instantiates (a cached project
is unpickled, which calls no ``__init__``). This decorator records the
options and puts small placeholders where those methods and
``__dataclass_fields__`` go; the first time any of them is looked up (an
instance made, compared, printed or assigned to, ``fields()``,
``replace()``, ``is_dataclass()``), the standard decorator does its usual work
on the class, in place, and the placeholders are gone. So a class behaves as
a dataclass in every way, only later; a class nobody touches costs nothing.

Options that make the standard decorator return a new class (``slots=True``)
or add ordering methods (``order=True``) are handed to it at once.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast, dataclass_transform, overload

__all__ = ["dataclass"]

T = TypeVar("T", bound=type)

_LOCK = threading.RLock()
_PENDING = "__lazydc_options__"


def _fresh_lock() -> None:
    global _LOCK
    _LOCK = threading.RLock()  # a forked child never waits for a thread it does not have


os.register_at_fork(after_in_child=_fresh_lock)


def _build(cls: type) -> None:
    """Run the standard decorator on ``cls`` (once), after taking the placeholders away."""
    with _LOCK:
        options = cls.__dict__.get(_PENDING)
        if options is None:
            return
        for name, value in list(cls.__dict__.items()):
            if isinstance(value, _Placeholder):
                delattr(cls, name)
        delattr(cls, _PENDING)
        dataclasses.dataclass(cls, **options)


class _Placeholder:
    """Stands where the standard decorator will put ``name``; any lookup builds the class first."""

    __slots__ = ("cls", "name")

    def __init__(self, cls: type, name: str) -> None:
        self.cls = cls
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        cls = self.cls
        _build(cls)
        if self.name in cls.__dict__:
            value = cls.__dict__[self.name]
            get = getattr(value, "__get__", None)
            return value if get is None else get(instance, owner if owner is not None else type(instance))
        # the standard decorator left this name to the base classes (e.g. __hash__ = None)
        return getattr(super(cls, instance) if instance is not None else super(cls, owner), self.name)


def _names(options: dict[str, Any]) -> list[str]:
    """The attributes the standard decorator sets on a class with these options."""
    names = ["__dataclass_fields__", "__dataclass_params__"]
    if options.get("init", True):
        names.append("__init__")
    if options.get("repr", True):
        names.append("__repr__")
    eq = options.get("eq", True)
    frozen = options.get("frozen", False)
    if eq:
        names += ["__eq__", "__hash__"]  # __hash__ made or set to None
    elif options.get("unsafe_hash", False):
        names.append("__hash__")
    if frozen:
        names += ["__setattr__", "__delattr__"]
    if options.get("match_args", True):
        names.append("__match_args__")
    return names


def _lazy(cls: T, options: dict[str, Any]) -> T:
    if options.get("slots") or options.get("order") or options.get("weakref_slot"):
        return cast(T, dataclasses.dataclass(**options)(cls))
    if any(name in cls.__dict__ for name in _names(options)):  # hand-written methods: as the standard says
        return cast(T, dataclasses.dataclass(**options)(cls))
    type.__setattr__(cls, _PENDING, options)
    for name in _names(options):
        type.__setattr__(cls, name, _Placeholder(cls, name))
    return cls


@overload
def dataclass(cls: T, /) -> T: ...


@overload
def dataclass(
    *, init: bool = True, repr: bool = True, eq: bool = True, order: bool = False, unsafe_hash: bool = False,
    frozen: bool = False, match_args: bool = True, kw_only: bool = False, slots: bool = False,
) -> Callable[[T], T]: ...


@dataclass_transform(field_specifiers=(dataclasses.field, dataclasses.Field))
def dataclass(cls: Any = None, /, **options: Any) -> Any:
    """``dataclasses.dataclass``, built on first use (see the module's docstring)."""
    if cls is None:
        return lambda c: _lazy(c, options)
    return _lazy(cls, options)
