"""Clients detection never flags (SECURITY_DETECT_EXEMPT addresses and networks,
SECURITY_DETECT_EXEMPT_USER_AGENTS patterns): an uptime monitor, a partner's crawler."""

import re
from functools import lru_cache

from ..matcher import NetworkSet
from .config import detect_conf


class Exemptions:
    def __init__(self, networks: tuple[str, ...], agents: tuple[str, ...]) -> None:
        self.networks = NetworkSet(networks)
        self.agents = re.compile("|".join(f"(?:{p})" for p in agents), re.I) if agents else None

    def covers(self, ip: str | None, user_agent: str) -> bool:
        if ip is not None and len(self.networks) and ip in self.networks:
            return True
        return self.agents is not None and self.agents.search(user_agent or "") is not None


@lru_cache(maxsize=4)
def _compiled(networks: tuple[str, ...], agents: tuple[str, ...]) -> Exemptions:
    return Exemptions(networks, agents)


def current() -> Exemptions:
    return _compiled(detect_conf.EXEMPT, detect_conf.EXEMPT_USER_AGENTS)
