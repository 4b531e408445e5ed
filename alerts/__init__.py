"""Rules → verdicts → violation episodes → alerts, and the live bus that carries them out."""

from alerts.bus import LiveBus
from alerts.episodes import AlertChange, EpisodeKey, EpisodeTracker
from alerts.rules import ZONE_RULES
from alerts.verdict import Verdict

__all__ = ["ZONE_RULES", "AlertChange", "EpisodeKey", "EpisodeTracker", "LiveBus", "Verdict"]
