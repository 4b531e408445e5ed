"""What one fix says about compliance with one rule."""

from enum import IntEnum


class Verdict(IntEnum):
    """``UNKNOWN`` comes from an uncertain fix: it changes nothing (see :mod:`alerts.episodes`)."""

    COMPLIANT = 0
    VIOLATING = 1
    UNKNOWN = 2
