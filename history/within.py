"""Who was inside a drawn area: the people with a fix inside a (Multi)Polygon, each with their
first and last fix inside, how many, their visits (runs of fixes inside, broken by a gap longer
than ``visit_gap_s``) and the fixes themselves. Containment is planar in lon/lat, as everywhere
in Cordon (GEOS, the geofence kernel); a fix on the boundary is inside.

>>> from shapely.geometry import box
>>> from history.near import Candidates
>>> c = Candidates(np.array(["a", "a", "b"], dtype=object), np.array(["d1", "d1", "d2"],
...                dtype=object), np.array([10.0, 20.0, 30.0]), np.array([0.5, 2.0, 0.9]),
...                np.array([0.5, 0.5, 0.1]), np.full(3, 5.0))
>>> [(w.supervisee_id, w.fixes_inside, w.first, w.last) for w in inside(c, box(0, 0, 1, 1))]
[('a', 1, 10.0, 10.0), ('b', 1, 30.0, 30.0)]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely

from history.near import Candidates


@dataclass(slots=True)
class Within:
    supervisee_id: str
    first: float
    last: float
    fixes_inside: int
    visits: list[tuple[float, float, int]]  # (first, last fix inside, fixes)
    fixes: list[tuple[str, float, float, float, float]] = field(default_factory=list)
    # (device, ts, lon, lat, accuracy_m), at most max_fixes, earliest first


def inside(c: Candidates, polygon, visit_gap_s: float = 600.0, max_fixes: int = 100
           ) -> list[Within]:
    """The people with a fix of ``c`` inside ``polygon``, by their first fix inside."""
    if not len(c.ts):
        return []
    hit = shapely.contains_xy(polygon, c.lon, c.lat) | shapely.intersects_xy(
        polygon.boundary, c.lon, c.lat)
    rows = np.flatnonzero(hit)
    if not len(rows):
        return []
    who = c.supervisee_id[rows].astype(str)
    out = []
    for person in sorted(set(who.tolist())):
        mine = rows[who == person]
        mine = mine[np.argsort(c.ts[mine], kind="stable")]
        t = c.ts[mine]
        cuts = np.flatnonzero(np.diff(t) > visit_gap_s) + 1
        firsts = np.concatenate(([0], cuts))
        lasts = np.concatenate((cuts - 1, [len(t) - 1]))
        out.append(Within(
            person, float(t[0]), float(t[-1]), len(mine),
            [(float(t[a]), float(t[b]), int(b - a + 1))
             for a, b in zip(firsts.tolist(), lasts.tolist(), strict=True)],
            [(str(c.device_id[i]), float(c.ts[i]), float(c.lon[i]), float(c.lat[i]),
              float(c.accuracy_m[i])) for i in mine[:max_fixes].tolist()]))
    out.sort(key=lambda w: (w.first, w.supervisee_id))
    return out
