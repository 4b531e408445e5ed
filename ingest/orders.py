"""The legal basis at the intake: a bracelet's positions are kept only under a positioning order.

With ``positioning_orders = "required"`` every bracelet of a supervisee is *gated*: a fix of it
whose time lies outside every order of its wearer in force (see :mod:`api.routes.orders`) is
neither stored nor evaluated. It is counted (``fixes_without_order``), and the device is
remembered as still sending (when it was last heard); nothing else of it is kept. Phones and
victims' phones are not gated: the law speaks of the electronic positioning device worn.

The gate runs where a batch has been decoded and validated, before the evaluator decides it,
on the batch's arrays: each gated device's order windows, merged, are numbered on one integer
axis (device number × 2⁴² + milliseconds), so one ``searchsorted`` answers every fix of the
batch at once.

>>> gate = OrderGate.build({"br-1": [(100.0, 200.0)], "br-2": []})
>>> gate.covered(np.array(["br-1", "br-1", "br-2", "ph-1"], dtype=object),
...              np.array([150.0, 250.0, 150.0, 150.0])).tolist()
[True, False, False, True]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from devices.models import Device, PositioningOrder
from devices.tables import owners

_SHIFT = 42  # milliseconds since 1970 fit in 42 bits until 2109
_SPAN = (1 << _SHIFT) - 1


@dataclass(slots=True)
class OrderGate:
    """Which devices are gated (device id → number) and their merged windows, as keys."""

    number: dict[str, int] = field(default_factory=dict)
    starts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    ends: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @classmethod
    def build(cls, windows: Mapping[str, Sequence[tuple[float, float]]]) -> OrderGate:
        """``windows``: per gated device, its (start, end) epoch seconds (any order, may
        overlap); a device with none is gated with nothing in force."""
        number = {d: i for i, d in enumerate(windows)}
        starts: list[int] = []
        ends: list[int] = []
        for d, spans in windows.items():
            base = number[d] << _SHIFT
            merged: list[list[int]] = []
            for start, end in sorted(spans):
                s, e = _ms(start), _ms(end)
                if e <= s:
                    continue
                if merged and s <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], e)
                else:
                    merged.append([s, e])
            for s, e in merged:
                starts.append(base + s)
                ends.append(base + e)
        return cls(number, np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64))

    @classmethod
    def from_registry(cls, devices: Mapping[str, Device],
                      orders: Iterable[PositioningOrder]) -> OrderGate:
        """Every bracelet of a supervisee is gated, by the orders of its wearer."""
        of_person: dict[str, list[tuple[float, float]]] = {}
        for o in orders:
            of_person.setdefault(o.supervisee_id, []).append((o.starts_at, o.ends_at))
        return cls.build({d: of_person.get(sid, []) for d, sid, kind in owners(devices)
                          if kind == "bracelet" and sid is not None})

    @property
    def active(self) -> bool:
        return bool(self.number)

    def covered(self, device_id: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Per fix: True unless its device is gated and no order covers its time."""
        no = np.fromiter((self.number.get(d, -1) for d in device_id.tolist()),
                         dtype=np.int64, count=len(device_id))
        gated = no >= 0
        ok = ~gated
        if gated.any() and len(self.starts):
            ms = np.clip(np.round(ts[gated] * 1000.0), 0, _SPAN).astype(np.int64)
            key = (no[gated] << _SHIFT) + ms
            j = np.searchsorted(self.starts, key, side="right") - 1
            inside = (j >= 0) & (key < self.ends[np.maximum(j, 0)])
            ok[gated] = inside
        return ok


def _ms(t: float) -> int:
    return int(min(max(round(t * 1000.0), 0), _SPAN))
