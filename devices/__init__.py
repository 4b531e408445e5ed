"""Supervisees, devices and jurisdictions, and the wire formats devices speak.

Nothing here does I/O: the formats turn bytes on a topic into validated :class:`Fix` records or a
:class:`Rejection` that says why, so every other part can trust what it is handed.
"""

from devices.fixes import Fix, FixBatch
from devices.formats import Decoded, Rejection, decode_message
from devices.models import Device, Jurisdiction, Supervisee
from devices.topics import TopicKind, parse_topic

__all__ = [
    "Decoded",
    "Device",
    "Fix",
    "FixBatch",
    "Jurisdiction",
    "Rejection",
    "Supervisee",
    "TopicKind",
    "decode_message",
    "parse_topic",
]
