"""Detection's own settings, each with its default, read at use time (built like conf.py)."""

from functools import lru_cache

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

# What a Django site does not run: a request for one of these answered 404 is a probe.
DEFAULT_UNSERVED_SUFFIXES = (
    ".php", ".php3", ".php5", ".phtml", ".cgi", ".pl", ".asp", ".aspx", ".ashx", ".asmx",
    ".jsp", ".jspx", ".action", ".do", ".cfm", ".nsf", ".esp",
)  # fmt: skip
DEFAULT_SERVED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


@lru_cache(maxsize=4)
def _upper(methods: tuple[str, ...]) -> frozenset[str]:
    return frozenset(method.upper() for method in methods)


class DetectionSettings:
    @property
    def UNSERVED_SUFFIXES(self) -> tuple[str, ...]:
        suffixes = getattr(settings, "SECURITY_DETECT_UNSERVED_SUFFIXES", DEFAULT_UNSERVED_SUFFIXES)
        return tuple(suffix.casefold() for suffix in suffixes)

    @property
    def SERVED_METHODS(self) -> frozenset[str]:
        methods = getattr(settings, "SECURITY_DETECT_SERVED_METHODS", DEFAULT_SERVED_METHODS)
        return _upper(tuple(methods))

    @property
    def EXEMPT(self) -> tuple[str, ...]:
        # Addresses and networks never flagged (an uptime monitor, a partner's crawler).
        return tuple(getattr(settings, "SECURITY_DETECT_EXEMPT", ()))

    @property
    def EXEMPT_USER_AGENTS(self) -> tuple[str, ...]:
        # Regular expressions (searched, case-insensitive) of user agents never flagged.
        return tuple(getattr(settings, "SECURITY_DETECT_EXEMPT_USER_AGENTS", ()))

    @property
    def IPV6_PREFIX(self) -> int:
        # Counting windows of IPv6 clients are kept per prefix of this length.
        return int(getattr(settings, "SECURITY_DETECT_IPV6_PREFIX", 64))


detect_conf = DetectionSettings()


class _Served:
    methods: frozenset[str] | None = None
    unserved: tuple[str, ...] | None = None


def served_methods() -> frozenset[str]:
    """SERVED_METHODS read once, and again after the setting changes: every request asks."""
    if _Served.methods is None:
        _Served.methods = detect_conf.SERVED_METHODS
    return _Served.methods


def unserved_suffixes() -> tuple[str, ...]:
    """UNSERVED_SUFFIXES, read as served_methods() is: every 404 asks."""
    if _Served.unserved is None:
        _Served.unserved = detect_conf.UNSERVED_SUFFIXES
    return _Served.unserved


@receiver(setting_changed)
def _forget_served(*, setting: str, **kwargs: object) -> None:
    if setting == "SECURITY_DETECT_SERVED_METHODS":
        _Served.methods = None
    if setting == "SECURITY_DETECT_UNSERVED_SUFFIXES":
        _Served.unserved = None
