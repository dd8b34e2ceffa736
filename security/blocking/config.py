"""The blocking family's own settings, each with its default, read at use time (as conf.py)."""

from django.conf import settings


class BlockingSettings:
    @property
    def FEED_DOWNLOAD_DEADLINE(self) -> float:
        # The most one feed download may take in all: per-read timeouts never catch a server
        # that trickles a byte every half second.
        return float(getattr(settings, "SECURITY_FEED_DOWNLOAD_DEADLINE", 30.0))


blocking_conf = BlockingSettings()
