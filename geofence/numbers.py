"""Numbers shared by every numbering the engine holds.

The engine numbers its devices, supervisees, assignment subjects and zones, each in a dict
from id to number. Every int above 256 is an object of its own (32 bytes in Python's
allocator), so four such dicts over 100,000 people held 600,000 ints of their own, 128 bytes
a person. The numberings made here take their ints from one list kept for the process: each
number exists once, however many dicts hold it.

>>> d = numbering(["b", "a", "c"])
>>> d
{'b': 0, 'a': 1, 'c': 2}
>>> number(1_000) is number(1_000)
True
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from itertools import islice

_shared: list[int] = list(range(1_024))
_growing = threading.Lock()  # (numberings are made in worker threads too)


def _upto(n: int) -> list[int]:
    """The shared list, holding at least ``n`` numbers."""
    if len(_shared) < n:
        with _growing:
            if len(_shared) < n:
                _shared.extend(range(len(_shared), n + n // 64))
    return _shared


def number(i: int) -> int:
    """The shared int object for ``i`` (not negative)."""
    shared = _shared if i < len(_shared) else _upto(i + 1)
    return shared[i]


def numbering(keys: Sequence[str], start: int = 0) -> dict[str, int]:
    """Each of ``keys`` and its place, counted from ``start`` (a key given twice keeps its
    last place)."""
    return dict(zip(keys, islice(_upto(start + len(keys)), start, None), strict=False))
