"""Private service processes Cordon can start for itself: the demo's embedded broker and database,
and the test suite's Mosquitto and PostgreSQL/TimescaleDB."""

from cordon.services.mosquitto import PrivateMosquitto
from cordon.services.ports import PortInUse, free_port, require_free
from cordon.services.postgres import PrivatePostgres

__all__ = ["PortInUse", "PrivateMosquitto", "PrivatePostgres", "free_port", "require_free"]
