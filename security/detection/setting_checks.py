"""System checks on detection's own settings (detection/config.py) and the feed download
deadline: a mistake is named at start with its fix, instead of failing every drain's detection
or exempting nobody. Ids continue security/setting_checks.py's."""

import re
from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

from ..addresses import InvalidInput, parse_target
from ..blocking.config import blocking_conf

PREFIX = "ip_tracking"
LISTS = ("EXEMPT", "EXEMPT_USER_AGENTS", "SERVED_METHODS", "UNSERVED_SUFFIXES")


def _error(message: str, hint: str, number: int) -> checks.Error:
    return checks.Error(message, hint=hint, id=f"{PREFIX}.E{number:03d}")


def _strings(name: str) -> list[str] | None:
    """The setting's strings, or None when it is not a list of strings (a bare string would be
    read letter by letter)."""
    value = getattr(settings, f"SECURITY_DETECT_{name}", ())
    if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
        return None
    return list(value) if all(isinstance(item, str) for item in value) else None


@checks.register()
def check_detection_lists(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    for name in LISTS:
        if _strings(name) is None:
            errors.append(
                _error(
                    f"SECURITY_DETECT_{name} is not a list of strings: detection would fail on "
                    "every batch of stored requests.",
                    f"A list, e.g. SECURITY_DETECT_{name} = [...] (a bare string is read letter "
                    "by letter).",
                    17,
                )
            )
    for text in _strings("EXEMPT") or []:
        try:
            parse_target(text, allow_huge=True)
        except InvalidInput as error:
            errors.append(
                _error(
                    f"SECURITY_DETECT_EXEMPT: {error}; detection would fail on every batch.",
                    "Addresses or CIDR networks, e.g. ['192.0.2.10', '198.51.100.0/24'].",
                    18,
                )
            )
    for pattern in _strings("EXEMPT_USER_AGENTS") or []:
        try:
            re.compile(pattern)
        except re.error as error:
            errors.append(
                _error(
                    f"SECURITY_DETECT_EXEMPT_USER_AGENTS: {pattern!r} is not a regular "
                    f"expression ({error}); detection would fail on every batch.",
                    "Python regular expressions, searched case-insensitively, e.g. "
                    "[r'^UptimeRobot/'].",
                    19,
                )
            )
    return errors


@checks.register()
def check_detection_numbers(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    prefix = getattr(settings, "SECURITY_DETECT_IPV6_PREFIX", 64)
    if isinstance(prefix, bool) or not isinstance(prefix, int) or not 32 <= prefix <= 128:
        errors.append(
            _error(
                f"SECURITY_DETECT_IPV6_PREFIX is {prefix!r}: IPv6 clients are counted per "
                "prefix of this length, from 32 to 128.",
                "Remove it for the default (64, one customer's network), or give 48 to 128.",
                21,
            )
        )
    try:
        deadline = blocking_conf.FEED_DOWNLOAD_DEADLINE
    except (TypeError, ValueError):
        deadline = 0.0
    if not deadline > 0:
        errors.append(
            _error(
                "SECURITY_FEED_DOWNLOAD_DEADLINE must be a number of seconds above 0: every "
                "feed download would fail.",
                "Remove it for the default (30 s), or give the seconds one download may take.",
                13,
            )
        )
    return errors


@checks.register()
def check_detection_rules(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """SECURITY_DETECT_RULE_CLASSES must name rules; SECURITY_DETECT_RULES may only tune them."""
    from dataclasses import fields

    from ..rule_classes import DEFAULT_RULE_CLASSES
    from .rule import Rule

    classes = []
    seen: set[str] = set()
    for path in getattr(settings, "SECURITY_DETECT_RULE_CLASSES", DEFAULT_RULE_CLASSES):
        try:
            cls = import_string(path)
        except ImportError as error:
            problem = f"cannot be imported ({error})"
        else:
            reason = getattr(cls, "reason", "")
            if not (isinstance(cls, type) and issubclass(cls, Rule)):
                problem = "is not a subclass of security.detection.rule.Rule"
            elif not isinstance(reason, str) or not 0 < len(reason) <= 16 or reason in seen:
                problem = f"has reason {reason!r}: a name of 1 to 16 characters, used once"
            else:
                seen.add(reason)
                classes.append(cls)
                continue
        return [
            _error(
                f"SECURITY_DETECT_RULE_CLASSES: {path!r} {problem}: detection would fail on "
                "every batch.",
                "Dotted paths of Rule subclasses; remove the setting for the built-in rules.",
                22,
            )
        ]
    errors: list[checks.CheckMessage] = []
    overrides = getattr(settings, "SECURITY_DETECT_RULES", {})
    if not isinstance(overrides, dict):
        overrides = {repr(overrides): None}
    by_reason = {cls.reason: cls for cls in classes}
    for reason, values in overrides.items():
        cls = by_reason.get(reason)
        known = {field.name: field for field in fields(cls)} if cls else {}
        bad = (
            f"names no rule ({reason!r}; the rules: {', '.join(by_reason)})"
            if cls is None
            else _bad_override(values, known)
        )
        if bad:
            errors.append(
                _error(
                    f"SECURITY_DETECT_RULES: {bad}; the rule would not run as configured.",
                    'A dict of rule name to fields, e.g. {"not_found": {"threshold": 30}}.',
                    23,
                )
            )
    return errors


def _bad_override(values: object, known: dict) -> str:
    from .registry import valid_override

    if not isinstance(values, dict):
        return f"{values!r} is not a dict of fields"
    for name, value in values.items():
        if name in ("reason", "label") or name not in known:
            fields = ", ".join(field for field in known if field not in ("reason", "label"))
            return f"{name!r} is not a field of a rule ({fields})"
        if not valid_override(name, value):
            boolean = name in ("streaming", "enabled")
            wanted = "True or False" if boolean else "a whole number above 0"
            return f"{name} is {value!r}: {wanted}"
    return ""


@checks.register()
def check_detection_inline(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    value = getattr(settings, "SECURITY_DETECT_INLINE", False)
    if value is True or value is False or value == "observe":
        return []
    return [
        _error(
            f"SECURITY_DETECT_INLINE is {value!r}: inline detection stays off.",
            "False (off), 'observe' (log what would be refused) or True (answer 403).",
            24,
        )
    ]
