"""Trajectory history: pure computation on fixes already stored — the spatial cell of a fix,
the cells covering a search disk, stops and trips. No I/O (``store`` reads, this computes)."""
