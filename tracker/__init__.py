"""Multi-object tracking for driving footage."""

from .config import Config, ConfigError, TrackerConfig, load_config
from .structures import Detections, Track, Tracks, TrackState
from .tracks import Tracker

__all__ = [
    "Config",
    "ConfigError",
    "Detections",
    "Track",
    "TrackState",
    "Tracker",
    "TrackerConfig",
    "Tracks",
    "load_config",
]
__version__ = "0.1.0"
