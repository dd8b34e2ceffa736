"""What a user agent says about its client: browser, operating system, device, and whether it
is a bot. ua-parser (with its built-in rules, and its Rust resolver when installed) names
browsers, systems and devices; crawler-user-agents' patterns name the bots ua-parser misses
(curl, python-requests, monitors). Parsing costs 60-200 µs, so each distinct agent is parsed
once per process, and the cache is bounded: a client rotating agents costs parsing time, never
memory."""

import re
from functools import lru_cache
from typing import NamedTuple

import crawleruseragents
import ua_parser

CACHED_AGENTS = 20_000
NAME_LIMIT = 60
NO_AGENT = "(no user agent)"
MOBILE_SYSTEMS = frozenset(
    {"iOS", "Android", "Windows Phone", "BlackBerry OS", "Symbian OS", "KaiOS", "Firefox OS"}
)
DESKTOP_SYSTEMS = frozenset(
    {"Windows", "Mac OS X", "Linux", "Ubuntu", "Fedora", "Debian", "Chrome OS", "FreeBSD",
     "OpenBSD", "NetBSD", "Solaris", "Mint", "Arch Linux", "openSUSE", "Red Hat", "CentOS"}
)  # fmt: skip
FIRST_PRODUCT = re.compile(r"[A-Za-z][\w.\-]*")


class Agent(NamedTuple):
    browser: str
    os: str
    device: str  # Desktop, Mobile, Tablet, Bot or Other
    bot: str  # the bot's name; "" for a person's browser


def _bot_name(user_agent: str, family: str) -> str:
    if family and family != "Other":
        return family[:NAME_LIMIT]
    # Not a browser ua-parser knows: the first product token ("Go-http-client", "zgrab").
    found = FIRST_PRODUCT.search(user_agent)
    return found.group(0)[:NAME_LIMIT] if found else "Other"


def _device(user_agent: str, os_family: str, device_family: str) -> str:
    if device_family == "iPad" or "Tablet" in user_agent or "Kindle" in device_family:
        return "Tablet"
    if os_family == "Android" and "Mobile" not in user_agent:
        return "Tablet"  # Android phones say "Mobile"; tablets do not
    # "Mobi" anywhere is the convention browsers follow for phones (MDN, "Browser detection").
    if os_family in MOBILE_SYSTEMS or "Mobi" in user_agent:
        return "Mobile"
    if os_family in DESKTOP_SYSTEMS:
        return "Desktop"
    return "Other"


@lru_cache(maxsize=CACHED_AGENTS)
def classify(user_agent: str) -> Agent:
    if not user_agent.strip() or user_agent.strip() == "-":
        return Agent("Other", "Other", "Bot", NO_AGENT)
    parsed = ua_parser.parse(user_agent)
    browser = parsed.user_agent.family if parsed.user_agent else "Other"
    os_family = parsed.os.family if parsed.os else "Other"
    device_family = parsed.device.family if parsed.device else ""
    if device_family == "Spider" or crawleruseragents.is_crawler(user_agent):
        return Agent(browser, os_family, "Bot", _bot_name(user_agent, browser))
    return Agent(browser, os_family, _device(user_agent, os_family, device_family), "")
