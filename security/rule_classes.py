"""Which detection rules a site runs: the classes SECURITY_DETECT_RULE_CLASSES names (dotted
paths), the built-in ones by default. Kept below the models, which take their reasons as the
choices of SuspiciousIP.reason; the rules themselves live in security/detection/ and are only
imported by path, at use."""

from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

DEFAULT_RULE_CLASSES = tuple(
    f"security.detection.builtin_rules.{name}"
    for name in (
        "Exploit",
        "Probe",
        "Traversal",
        "Injection",
        "Scanner",
        "NotFound",
        "RateLimited",
        "Sensitive",
        "HighVolume",
        "CacheBusting",
        "UserAgentRotation",
    )
)


@lru_cache(maxsize=1)
def rule_classes() -> tuple[Any, ...]:
    """The listed classes (security.detection.rule.Rule subclasses), imported once."""
    paths = getattr(settings, "SECURITY_DETECT_RULE_CLASSES", DEFAULT_RULE_CLASSES)
    return tuple(import_string(path) for path in paths)


@receiver(setting_changed)
def _forget_classes(*, setting: str, **kwargs: object) -> None:
    if setting == "SECURITY_DETECT_RULE_CLASSES":
        rule_classes.cache_clear()


def reason_choices() -> list[tuple[str, str]]:
    """SuspiciousIP.reason's choices: every listed rule's reason and label."""
    return [(cls.reason, cls.label) for cls in rule_classes()]
