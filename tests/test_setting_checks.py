"""One test per check on the app's own settings: each mistake is named, with its fix."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from security.setting_checks import (
    check_asns,
    check_countries,
    check_durations,
    check_export,
    check_feeds,
    check_masked_path_patterns,
    check_numbers,
    check_rates,
)

ALL = (
    check_asns,
    check_countries,
    check_durations,
    check_export,
    check_feeds,
    check_masked_path_patterns,
    check_numbers,
    check_rates,
)


def ids(messages) -> list[str]:
    return [message.id for message in messages]


def test_the_defaults_and_the_projects_settings_pass_every_check():
    assert [message for check in ALL for message in check(None)] == []


# manage.py check runs the model checks too, and since Django 6.1 those ask the database (SQLite:
# whether it supports JSONField).
@pytest.mark.django_db
def test_e009_a_typo_in_one_feed_is_named_with_the_option_it_misspells():
    feeds = {
        "good": {"url": "https://example.org/list.txt", "refresh": "6h"},
        "typo": {"url": "https://example.org/other.txt", "refrsh": "6h"},
        "cloud": {"url": "https://example.org/ip-ranges.json", "format": "aws", "services": "EC2"},
        "both": {"url": "https://example.org/x", "file": "/etc/x"},
    }
    with override_settings(SECURITY_FEEDS=feeds):
        messages = check_feeds(None)
        assert ids(messages) == ["ip_tracking.E009"] * 3
        typo, cloud, both = (message.msg for message in messages)
        assert "typo" in typo and "'refrsh' (did you mean 'refresh'?)" in typo
        assert "services must be a list" in cloud
        assert "exactly one of url and file" in both
        assert "refresh" in messages[0].hint
        with pytest.raises(SystemCheckError, match="did you mean 'refresh'"):
            call_command("check")  # manage.py check fails, naming it
    with override_settings(SECURITY_FEEDS={"negative": {"file": "/x", "max_entries": -1}}):
        assert "max_entries must be a positive" in check_feeds(None)[0].msg


def test_e010_export_format_path_and_command():
    for options, why in (
        ({"format": "apache", "path": "/tmp/x"}, "format must be one of"),
        ({"format": "nginx"}, "path must name"),
        ({"path": "/tmp/x", "command": "nginx -s reload"}, "command must be a list"),
        ({"path": "/tmp/x", "formt": "ipset"}, "'formt' (did you mean 'format'?)"),
        (["nginx", "/tmp/x"], "must be a dict"),
    ):
        with override_settings(SECURITY_EXPORT=options):
            messages = check_export(None)
            assert ids(messages) == ["ip_tracking.E010"], options
            assert why in messages[0].msg


def test_w006_export_directory_or_command_missing_on_this_machine(tmp_path):
    options = {"path": str(tmp_path / "absent" / "block.conf"), "command": ["no-such-reload"]}
    with override_settings(SECURITY_EXPORT=options):
        messages = check_export(None)
    assert ids(messages) == ["ip_tracking.W006"]
    assert "absent" in messages[0].msg and "no-such-reload" in messages[0].msg
    options = {"path": str(tmp_path / "block.conf"), "command": ["true"]}
    with override_settings(SECURITY_EXPORT=options):
        assert check_export(None) == []


def test_e011_country_codes_and_a_bare_string():
    with override_settings(
        SECURITY_BLOCK_COUNTRIES=["XX", "Sweden"], SECURITY_ALLOW_COUNTRIES="SE"
    ):
        messages = check_countries(None)
    assert ids(messages) == ["ip_tracking.E011", "ip_tracking.E011"]
    assert "'SWEDEN'" in messages[0].msg
    assert "'E', 'S'" in messages[1].msg and "bare string" in messages[1].hint


def test_e012_asns_must_be_numbers():
    for value in (["AS64496"], [0], 64496):
        with override_settings(SECURITY_BLOCK_ASNS=value):
            assert ids(check_asns(None)) == ["ip_tracking.E012"], value
    with override_settings(SECURITY_BLOCK_ASNS=[64496, "64511"]):
        assert check_asns(None) == []


def test_e013_numbers_that_must_be_positive():
    with override_settings(
        SECURITY_LOG_FLUSH_INTERVAL=0,
        SECURITY_GEO_API_DEADLINE="soon",
        SECURITY_LOG_CLAIM_IDLE_SECONDS=-1,
        SECURITY_LOG_DRAIN_LINGER=0,
    ):
        messages = check_numbers(None)
    assert ids(messages) == ["ip_tracking.E013"] * 3
    text = " ".join(message.msg for message in messages)
    assert "SECURITY_LOG_FLUSH_INTERVAL is 0.0: it must be a number above 0" in text
    assert "SECURITY_GEO_API_DEADLINE is not a number" in text
    assert "SECURITY_LOG_CLAIM_IDLE_SECONDS is -1.0: it must be a number 0 or more" in text


def test_e014_escalation_durations_must_parse():
    with override_settings(SECURITY_AUTO_BLOCK_ESCALATION=["1h", "1 day"]):
        messages = check_durations(None)
    assert ids(messages) == ["ip_tracking.E014"]
    assert "'1 day'" in messages[0].msg
    with override_settings(SECURITY_AUTO_BLOCK_ESCALATION=None, SECURITY_AUTO_BLOCK_DURATION="2x"):
        assert ids(check_durations(None)) == ["ip_tracking.E014"]
    with override_settings(SECURITY_AUTO_BLOCK_ESCALATION=[]):
        assert "no step" in check_durations(None)[0].msg


def test_e015_masked_path_patterns_must_compile():
    with override_settings(SECURITY_LOG_MASKED_PATH_PATTERNS=[r"/reset/\w+", r"(?<=/)[a-z"]):
        messages = check_masked_path_patterns(None)
    assert ids(messages) == ["ip_tracking.E015"]
    assert "'(?<=/)[a-z'" in messages[0].msg


def test_e016_rate_strings():
    with override_settings(
        SECURITY_RATE_ANONYMOUS="5 per minute",
        SECURITY_RATE_AUTHENTICATED="0/m",
        SECURITY_RATE_ACCOUNT_FAILURES="10 in 15m",
    ):
        messages = check_rates(None)
    assert ids(messages) == ["ip_tracking.E016"] * 3
    assert "SECURITY_RATE_ANONYMOUS is '5 per minute'" in messages[0].msg
    with override_settings(SECURITY_RATE_ANONYMOUS="10/5m", SECURITY_RATE_AUTHENTICATED="100/h"):
        assert check_rates(None) == []


def test_e017_to_e019_detection_lists_exemptions_and_patterns():
    from security.detection.setting_checks import check_detection_lists

    assert check_detection_lists(None) == []
    with override_settings(SECURITY_DETECT_SERVED_METHODS="GET"):
        assert ids(check_detection_lists(None)) == ["ip_tracking.E017"]
    with override_settings(SECURITY_DETECT_EXEMPT=["192.0.2.10", "monitor.example"]):
        messages = check_detection_lists(None)
    assert ids(messages) == ["ip_tracking.E018"]
    assert "monitor.example" in messages[0].msg
    with override_settings(SECURITY_DETECT_EXEMPT_USER_AGENTS=["^UptimeRobot/", "(unclosed"]):
        messages = check_detection_lists(None)
    assert ids(messages) == ["ip_tracking.E019"]
    assert "(unclosed" in messages[0].msg


def test_e021_ipv6_prefix_and_e013_feed_download_deadline():
    from security.detection.setting_checks import check_detection_numbers

    assert check_detection_numbers(None) == []
    for prefix in (0, 16, 129, "64", True):
        with override_settings(SECURITY_DETECT_IPV6_PREFIX=prefix):
            assert ids(check_detection_numbers(None)) == ["ip_tracking.E021"], prefix
    for deadline in (0, -5, "soon"):
        with override_settings(SECURITY_FEED_DOWNLOAD_DEADLINE=deadline):
            assert ids(check_detection_numbers(None)) == ["ip_tracking.E013"], deadline


@pytest.mark.django_db
def test_manage_py_check_names_a_bad_exemption():
    with (
        override_settings(SECURITY_DETECT_EXEMPT=["not-an-address"]),
        pytest.raises(SystemCheckError, match="E018"),
    ):
        call_command("check")


def test_e022_rule_classes_and_e023_rule_settings():
    from security.detection.setting_checks import check_detection_rules
    from security.rule_classes import DEFAULT_RULE_CLASSES

    assert check_detection_rules(None) == []
    for classes in (
        [*DEFAULT_RULE_CLASSES, "tests.custom_rules.NoSuchRule"],
        [*DEFAULT_RULE_CLASSES, "security.models.BlockedIP"],
        [*DEFAULT_RULE_CLASSES, DEFAULT_RULE_CLASSES[0]],
    ):
        with override_settings(SECURITY_DETECT_RULE_CLASSES=classes):
            messages = check_detection_rules(None)
        assert ids(messages) == ["ip_tracking.E022"], classes
        assert repr(classes[-1]) in messages[0].msg
    with override_settings(
        SECURITY_DETECT_RULE_CLASSES=[*DEFAULT_RULE_CLASSES, "tests.custom_rules.WrongMethod"],
        SECURITY_DETECT_RULES={"wrong_method": {"threshold": 10}, "not_found": {"enabled": False}},
    ):
        assert check_detection_rules(None) == []
    for rules in (
        {"not_fuond": {"threshold": 30}},
        {"not_found": {"treshold": 30}},
        {"not_found": {"threshold": "30"}},
        {"not_found": {"window": 0}},
        {"scanner": {"enabled": "no"}},
        {"probe": {"reason": "other"}},
        {"probe": False},
    ):
        with override_settings(SECURITY_DETECT_RULES=rules):
            assert ids(check_detection_rules(None)) == ["ip_tracking.E023"], rules


def test_e024_inline_detection():
    from security.detection.setting_checks import check_detection_inline

    for value in (False, True, "observe"):
        with override_settings(SECURITY_DETECT_INLINE=value):
            assert check_detection_inline(None) == [], value
    for value in ("on", 1, "refuse", None):
        with override_settings(SECURITY_DETECT_INLINE=value):
            assert ids(check_detection_inline(None)) == ["ip_tracking.E024"], value
