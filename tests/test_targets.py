from datetime import timedelta

import pytest

from security.addresses import InvalidInput, parse_target
from security.targets import parse_duration, read_target_file


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("203.0.113.7", "203.0.113.7"),
        (" 203.0.113.7 ", "203.0.113.7"),
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("203.0.113.7/32", "203.0.113.7"),
        ("2001:DB8::1", "2001:db8::1"),
        ("2001:db8::/32", "2001:db8::/32"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
    ],
)
def test_targets_are_normalised(text, normal):
    assert parse_target(text) == normal


@pytest.mark.parametrize(
    "text",
    [
        "198.51.10",
        "10.0.0.0/33",
        "1.2.3.4; DROP TABLE security_blockedip",
        "",
        "example.org",
        "2001:db8::/129",
        "1.2.3.4/",
        "１.２.３.４",
        "x" * 5000,
    ],
)
def test_invalid_targets_are_refused_with_their_name(text):
    with pytest.raises(InvalidInput) as error:
        parse_target(text)
    assert "is not an IPv4/IPv6 address or CIDR network" in str(error.value)
    assert len(str(error.value)) < 120


def test_host_bits_are_refused_with_a_hint():
    with pytest.raises(
        InvalidInput, match=r"'10.0.0.1/8' has host bits set; did you mean 10.0.0.0/8\?"
    ):
        parse_target("10.0.0.1/8")


def test_target_file_skips_comments_and_names_the_bad_line(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("# office scanners\n203.0.113.7  # noisy\n\n10.0.0.0/8\n")
    assert read_target_file(str(good)) == ["203.0.113.7", "10.0.0.0/8"]
    bad = tmp_path / "bad.txt"
    bad.write_text("203.0.113.7\n198.51.10\n")
    with pytest.raises(InvalidInput, match=r"bad.txt:2: '198.51.10' is not"):
        read_target_file(str(bad))


def test_unreadable_target_file_is_a_clear_error(tmp_path):
    with pytest.raises(InvalidInput, match="cannot read"):
        read_target_file(str(tmp_path / "missing.txt"))
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InvalidInput, match="cannot read"):
        read_target_file(str(binary))


@pytest.mark.parametrize(
    ("text", "duration"),
    [
        ("30m", timedelta(minutes=30)),
        ("12h", timedelta(hours=12)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("45s", timedelta(seconds=45)),
    ],
)
def test_durations(text, duration):
    assert parse_duration(text) == duration


@pytest.mark.parametrize("text", ["", "0m", "12", "h", "-5m", "1y", "5 m", "99999999d", "3650d1s"])
def test_bad_durations_are_refused(text):
    with pytest.raises(InvalidInput):
        parse_duration(text)
