"""Mappings and lists changed by the piece: a few changes layered over a large base that is
shared, never copied.

The engine's registry and roster hold dicts and lists of millions of entries (devices by id,
device numbers, pairings by supervisee). A registry change replaces a few of them, and each
new version must leave the old one intact (batches go on being decided with it while the new
one is built). Copying a dict of two million devices for that touched every key and value —
in a heap of gigabytes, several hundred milliseconds — while holding the interpreter, so the
event loop stood still. A :class:`Layered` mapping or :class:`LayeredList` keeps the changes
in a small dict over the shared base; when the changes grow past a sixteenth of the base they
are folded into a new base (a copy once in many changes).

>>> base = {"a": 1, "b": 2}
>>> m = Layered(base).changed({"c": 3, "b": 20}, removed=["a"])
>>> dict(m), len(m), "a" in m, m.get("a"), base
({'b': 20, 'c': 3}, 2, False, None, {'a': 1, 'b': 2})
>>> ids = LayeredList(["x", "y"]).changed({0: ""}, ["z"])
>>> list(ids), ids[2], len(ids)
(['', 'y', 'z'], 'z', 3)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar, overload

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")

class _Marker:
    """A marker held in the changes (one object, kept by copies and pickles)."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name

    def __reduce__(self) -> str:
        return self.name

    def __copy__(self) -> _Marker:
        return self

    def __deepcopy__(self, memo: dict) -> _Marker:
        return self


_GONE: Any = _Marker("_GONE")  # a key removed
_MISSING: Any = _Marker("_MISSING")
FOLD_AT = 16  # the changes are folded into a new base past 1/FOLD_AT of it


class Layered(Mapping[K, V], Generic[K, V]):
    """A read-only mapping: ``base`` with the changes ``top`` (a value, or removed). Its
    iteration order is the base's, then the keys added (as a dict copy changed in place)."""

    __slots__ = ("_base", "_top", "_len")

    def __init__(self, base: Mapping[K, V], top: dict[K, Any] | None = None,
                 length: int | None = None):
        self._base = base
        self._top: dict[K, Any] = top or {}
        self._len = len(base) if length is None else length

    def __getitem__(self, key: K) -> V:
        v = self._top.get(key, _MISSING)
        if v is _MISSING:
            return self._base[key]
        if v is _GONE:
            raise KeyError(key)
        return v

    def get(self, key: K, default: Any = None) -> Any:
        v = self._top.get(key, _MISSING)
        if v is _MISSING:
            return self._base.get(key, default)
        return default if v is _GONE else v

    def __contains__(self, key: object) -> bool:
        v = self._top.get(key, _MISSING)  # type: ignore[call-overload]
        return key in self._base if v is _MISSING else v is not _GONE

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[K]:
        top = self._top
        if not top:
            yield from self._base
            return
        for k in self._base:
            if top.get(k, _MISSING) is not _GONE:
                yield k
        for k, v in top.items():
            if v is not _GONE and k not in self._base:
                yield k

    def __repr__(self) -> str:
        return f"Layered({dict(self)!r})"

    def layers(self) -> tuple[Mapping[K, V], dict[K, V | None]]:
        """The base, and the changes over it (None: a key removed) — to read a base with a
        form of its own by its columns."""
        return self._base, {k: None if v is _GONE else v for k, v in self._top.items()}

    def changed(self, updates: Mapping[K, V] | Iterable[tuple[K, V]] = (),
                removed: Iterable[K] = ()) -> Layered[K, V]:
        """A new mapping: this one with ``removed`` taken out, then ``updates`` set (this one
        unchanged)."""
        base, top, length = self._base, dict(self._top), self._len

        def present(k: K) -> bool:
            v = top.get(k, _MISSING)
            return k in base if v is _MISSING else v is not _GONE

        for k in removed:
            if present(k):
                length -= 1
                if k in base:
                    top[k] = _GONE
                else:
                    del top[k]
        for k, v in (updates.items() if isinstance(updates, Mapping) else updates):
            if not present(k):
                length += 1
            top[k] = v
        if len(top) * FOLD_AT > max(len(self._base), 1024):
            fold = getattr(self._base, "fold", None)
            if fold is not None:  # a base with a form of its own (devices.tables.DeviceTable)
                return Layered(fold({k: None if v is _GONE else v for k, v in top.items()}))
            return Layered(dict(Layered(self._base, top, length).items()))
        return Layered(self._base, top, length)


def layered(m: Mapping[K, V]) -> Layered[K, V]:
    """``m`` as a :class:`Layered` (itself when it is one), to change by the piece."""
    return m if isinstance(m, Layered) else Layered(m)


class LayeredList(Sequence[T], Generic[T]):
    """A read-only list: ``base`` with some places set anew (``top``) and items appended."""

    __slots__ = ("_base", "_top", "_extra")

    def __init__(self, base: Sequence[T], top: dict[int, T] | None = None,
                 extra: list[T] | None = None):
        self._base = base
        self._top: dict[int, T] = top or {}
        self._extra: list[T] = extra or []

    def __len__(self) -> int:
        return len(self._base) + len(self._extra)

    @overload
    def __getitem__(self, i: int) -> T: ...

    @overload
    def __getitem__(self, i: slice) -> list[T]: ...

    def __getitem__(self, i: int | slice) -> T | list[T]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        n = len(self._base)
        if i < 0:
            i += len(self)
        if i >= n:
            return self._extra[i - n]
        v = self._top.get(i, _MISSING)
        return self._base[i] if v is _MISSING else v

    def __iter__(self) -> Iterator[T]:
        if self._top:
            top = self._top
            for i, v in enumerate(self._base):
                yield top.get(i, v)
        else:
            yield from self._base
        yield from self._extra

    def __repr__(self) -> str:
        return f"LayeredList({list(self)!r})"

    def changed(self, sets: Mapping[int, T], appended: Iterable[T] = ()) -> LayeredList[T]:
        """A new list: this one with the places ``sets`` set (any of them past its end must
        follow on, as an append would) and ``appended`` added (this one unchanged)."""
        n = len(self._base)
        top, extra = dict(self._top), list(self._extra)
        for i, v in sorted(sets.items()):
            if i < n:
                top[i] = v
            elif i - n < len(extra):
                extra[i - n] = v
            else:
                extra.append(v)
        extra += appended
        if (len(top) + len(extra)) * FOLD_AT > max(n, 1024):
            return LayeredList(list(LayeredList(self._base, top, extra)))
        return LayeredList(self._base, top, extra)


def layered_list(s: Sequence[T]) -> LayeredList[T]:
    return s if isinstance(s, LayeredList) else LayeredList(s)
