"""System checks on the values of the app's own settings, each read through conf: a mistake is
named at start (`manage.py check`, runserver, migrate), with the fix, instead of surfacing as a
TypeError in a worker, every feed failing, or a limit that silently never applies. Ids follow
checks.py's (`ip_tracking.*`)."""

import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.apps import AppConfig
from django.core import checks
from django_ratelimit.core import rate_re

from .addresses import InvalidInput
from .blocking.export import FORMATS as EXPORT_FORMATS
from .blocking.export import export_problem
from .blocking.feed_config import FIELD_HELP, read_feeds
from .conf import conf
from .targets import parse_duration

PREFIX = "ip_tracking"
# conf names (each the setting SECURITY_<name>) whose value must be a number above zero, or at
# least zero (0 s of claim time or linger: at once).
POSITIVE = (
    "LOG_FLUSH_INTERVAL", "LOG_FLUSH_SIZE", "LOG_BUFFER_LIMIT", "DRAIN_TRANSACTION_TIMEOUT",
    "DRAIN_LOCK_TIMEOUT", "LOG_RETENTION_DAYS", "ROLLUP_RETENTION_DAYS",
    "BLOCKLIST_CHECK_INTERVAL", "BLOCKLIST_DB_RELOAD_INTERVAL", "ALERT_WEBHOOK_PER_MINUTE",
    "ALERT_WEBHOOK_TIMEOUT", "GEO_API_TIMEOUT", "GEO_API_DEADLINE", "GEO_CACHE_SECONDS",
    "GEO_UNKNOWN_CACHE_SECONDS", "GEO_BREAKER_FAILURES", "GEO_BREAKER_SECONDS",
)  # fmt: skip
NOT_NEGATIVE = ("LOG_CLAIM_IDLE_SECONDS", "LOG_DRAIN_LINGER", "ANONYMIZE_AFTER_DAYS")
RATES = ("RATE_ANONYMOUS", "RATE_AUTHENTICATED", "RATE_ACCOUNT_FAILURES")
COUNTRY_CODE = re.compile(r"[A-Z]{2}")


@checks.register()
def check_feeds(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    _, problems = read_feeds(conf.FEEDS)
    return [
        checks.Error(
            f"SECURITY_FEEDS: {problem}. This feed is not refreshed (the others are).",
            hint=f"Each feed takes {FIELD_HELP}.",
            id=f"{PREFIX}.E009",
        )
        for problem in problems.values()
    ]


@checks.register()
def check_export(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    options = conf.EXPORT
    if not options:
        return []
    problem = export_problem(options)
    if problem:
        return [
            checks.Error(
                f"SECURITY_EXPORT {problem}: the edge export would fail after every change.",
                hint="SECURITY_EXPORT = {'format': one of "
                f"{', '.join(EXPORT_FORMATS)}, 'path': the file to write, "
                "'command': a list to run after writing it (optional)}.",
                id=f"{PREFIX}.E010",
            )
        ]
    missing = []
    directory = Path(options["path"]).parent
    if not directory.is_dir():
        missing.append(f"the directory {directory} does not exist")
    command = options.get("command")
    if command and shutil.which(command[0]) is None:
        missing.append(f"{command[0]!r} is not a program on this machine's PATH")
    if not missing:
        return []
    return [
        checks.Warning(
            f"SECURITY_EXPORT: {'; '.join(missing)}: the export fails here after every change.",
            hint="Right if this machine is not the one that exports; otherwise create the "
            "directory, or name the command by its full path.",
            id=f"{PREFIX}.W006",
        )
    ]


@checks.register()
def check_countries(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    for name in ("BLOCK_COUNTRIES", "ALLOW_COUNTRIES"):
        bad = sorted(code for code in getattr(conf, name) if not COUNTRY_CODE.fullmatch(code))
        if bad:
            errors.append(
                checks.Error(
                    f"SECURITY_{name} holds {', '.join(map(repr, bad))}: not two-letter ISO "
                    "country codes, so no client is ever matched by them.",
                    hint=f"A list of codes, e.g. SECURITY_{name} = ['SE', 'NO'] (a bare "
                    "string is read letter by letter).",
                    id=f"{PREFIX}.E011",
                )
            )
    return errors


@checks.register()
def check_asns(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[checks.CheckMessage]:
    try:
        numbers = conf.BLOCK_ASNS
    except (TypeError, ValueError) as error:
        problem = str(error)
    else:
        bad = sorted(number for number in numbers if not 0 < number < 2**32)
        if not bad:
            return []
        problem = f"{', '.join(map(str, bad))} out of range"
    return [
        checks.Error(
            f"SECURITY_BLOCK_ASNS: {problem}; every request would fail its network rule.",
            hint="A list of autonomous system numbers, e.g. [64496, 64511] (no 'AS' prefix).",
            id=f"{PREFIX}.E012",
        )
    ]


@checks.register()
def check_numbers(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    for name in POSITIVE + NOT_NEGATIVE:
        positive = name in POSITIVE
        try:
            value = getattr(conf, name)
        except (TypeError, ValueError):
            shown = "not a number"
        else:
            if value is None or (value > 0 if positive else value >= 0):
                continue
            shown = repr(value)
        wanted = "above 0" if positive else "0 or more"
        errors.append(
            checks.Error(
                f"SECURITY_{name} is {shown}: it must be a number {wanted}.",
                hint=f"Remove SECURITY_{name} for its default, or give a number {wanted}.",
                id=f"{PREFIX}.E013",
            )
        )
    return errors


@checks.register()
def check_durations(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    steps = conf.AUTO_BLOCK_ESCALATION
    problems = []
    for step in steps:
        try:
            parse_duration(step)
        except InvalidInput as error:
            problems.append(f"{step!r}: {error}")
    if steps and not problems:
        return []
    return [
        checks.Error(
            "SECURITY_AUTO_BLOCK_ESCALATION (or SECURITY_AUTO_BLOCK_DURATION): "
            + ("; ".join(problems) or "no step")
            + ". An automatic block would fail instead of blocking.",
            hint="Durations like '30m', '12h', '7d', e.g. ['1h', '4h', '24h', '7d'].",
            id=f"{PREFIX}.E014",
        )
    ]


@checks.register()
def check_masked_path_patterns(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    for pattern in conf.LOG_MASKED_PATH_PATTERNS:
        try:
            re.compile(pattern)
        except (re.error, TypeError) as error:
            errors.append(
                checks.Error(
                    f"SECURITY_LOG_MASKED_PATH_PATTERNS: {pattern!r} is not a regular "
                    f"expression ({error}): every request's record would fail to build.",
                    hint="Give Python regular expressions (re syntax), one string each.",
                    id=f"{PREFIX}.E015",
                )
            )
    return errors


@checks.register()
def check_rates(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    for name in RATES:
        rate = getattr(conf, name)
        match = rate_re.fullmatch(rate) if isinstance(rate, str) else None
        if match is None or int(match.group(1)) == 0:
            errors.append(
                checks.Error(
                    f"SECURITY_{name} is {rate!r}, not a rate: every limited request would "
                    "fail (or nothing would be let through at 0).",
                    hint="requests/period, with a period of s, m, h or d, optionally with a "
                    "multiple: '5/m', '100/h', '10/5m'.",
                    id=f"{PREFIX}.E016",
                )
            )
    return errors
