"""The app's models, one module per family; every name stays importable as security.models.*."""

from .blocking import (
    AllowedIP,
    BlockedIP,
    BlockedIPQuerySet,
    BlockSource,
    FeedState,
    NetworkQuerySet,
)
from .detection import SuspicionStatus, SuspiciousIP
from .requestlog import RequestLog
from .rollups import (
    ADDRESS_KINDS,
    Audience,
    RequestRollup,
    RollupCompaction,
    RollupKind,
    SketchSpan,
    VisitorSketch,
)
from .scheduling import ScheduledRun

__all__ = [
    "ADDRESS_KINDS",
    "AllowedIP",
    "Audience",
    "BlockSource",
    "BlockedIP",
    "BlockedIPQuerySet",
    "FeedState",
    "NetworkQuerySet",
    "RequestLog",
    "RequestRollup",
    "RollupCompaction",
    "RollupKind",
    "ScheduledRun",
    "SketchSpan",
    "SuspicionStatus",
    "SuspiciousIP",
    "VisitorSketch",
]
