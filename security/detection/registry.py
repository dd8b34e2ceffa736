"""Which rules run: the classes SECURITY_DETECT_RULE_CLASSES lists (security/rule_classes.py),
each configured by SECURITY_DETECT_RULES and the older threshold settings.

Adding a rule is one class (rule.py says what it carries) and its path in that setting.
"""

from dataclasses import fields, replace
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from .. import rule_classes as rule_listing

if TYPE_CHECKING:
    from .rule import CountingRule, Rule


def rule_classes() -> tuple[type["Rule"], ...]:
    return rule_listing.rule_classes()


@receiver(setting_changed)
def _forget_rules(*, setting: str, **kwargs: object) -> None:
    if setting.startswith("SECURITY_DETECT_"):
        _Configured.rules = None


def valid_override(name: str, value: object) -> bool:
    """Whether SECURITY_DETECT_RULES may set this field to this value (E023 names the others,
    which the rules ignore: a typo must not fail every batch of the drain, or a request)."""
    if name in ("streaming", "enabled"):
        return isinstance(value, bool)
    if name == "scan_threshold" and value is None:
        return True
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def configured(cls: type["Rule"]) -> "Rule":
    """The rule with its settings applied: SECURITY_DETECT_RULES over the older settings."""
    rule = cls()
    known = {field.name for field in fields(rule)}
    for setting, field in cls.legacy_settings.items():
        try:
            value = int(getattr(settings, setting, None))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue  # unset, or no number
        if valid_override(field, value):
            legacy: dict[str, Any] = {field: value}
            rule = replace(rule, **legacy)
    overrides = getattr(settings, "SECURITY_DETECT_RULES", {})
    values = overrides.get(cls.reason, {}) if isinstance(overrides, dict) else {}
    if not isinstance(values, dict):
        return rule
    chosen = {n: v for n, v in values.items() if n in known and valid_override(n, v)}
    return replace(rule, **chosen)


class _Configured:
    rules: dict[str, "Rule"] | None = None


def all_rules() -> dict[str, "Rule"]:
    """Every listed rule, by reason, switched on or not (built again after a setting of
    detection changes)."""
    if _Configured.rules is None:
        _Configured.rules = {cls.reason: configured(cls) for cls in rule_classes()}
    return _Configured.rules


def enabled() -> dict[str, "Rule"]:
    return {reason: rule for reason, rule in all_rules().items() if rule.enabled}


def counting(rules: dict[str, "Rule"]) -> dict[str, "CountingRule"]:
    from .rule import CountingRule

    return {reason: rule for reason, rule in rules.items() if isinstance(rule, CountingRule)}


reason_choices = rule_listing.reason_choices
