"""The rules this app ships, one class each (rule.py says what a rule is; the README's table
of rules is rendered from these, and a test keeps it so)."""

from dataclasses import dataclass

from django.db.models import Aggregate, Count, Q

from ..requestlog.records import StoredRow
from .rule import COUNTS, CountingRule, ScanTerms, SignatureRule

# Missing assets are a broken page, not a scan: a single-page or media app can ask for dozens.
STATIC_ASSET_SUFFIXES = (
    ".css", ".js", ".mjs", ".map", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".webp",
    ".avif", ".woff", ".woff2", ".ttf", ".eot", ".otf", ".mp4", ".webm", ".mp3", ".m4a", ".ogg",
    ".wav", ".json", ".txt", ".xml", ".webmanifest",
)  # fmt: skip
ASSET_REGEX = r"(" + "|".join(s.replace(".", r"\.") for s in STATIC_ASSET_SUFFIXES) + r")$"


def is_plain_visit(method: str, status: int) -> bool:
    """A GET or HEAD that was answered 2xx: a page seen, not an attempt at it."""
    return method in ("GET", "HEAD") and status < 300


def is_static_asset(path: str) -> bool:
    return path.casefold().endswith(STATIC_ASSET_SUFFIXES) or "/apple-touch-icon" in path


@dataclass(frozen=True)
class Exploit(SignatureRule):
    reason = "exploit"
    label = "Exploit or backdoor request"
    matches = (
        "web shells and backdoors; request lines of widely exploited CVEs (Ignition, PHPUnit, "
        "F5, Fortinet, Pulse, Citrix, Confluence, Telerik, VMware, Zimbra, Jira, AEM, ...)"
    )
    sources = "`backdoors.txt`, `cve_uris.txt`"


@dataclass(frozen=True)
class Probe(SignatureRule):
    reason = "probe"
    label = "Probe of a well-known attack path"
    matches = (
        "secrets, version control, backups and admin consoles of software you do not run "
        "(`.env`, `.git/config`, `wp-config.php.bak`, `/wp-admin/`, phpMyAdmin, ...), "
        "WordPress user enumeration; with no list: a method the site never serves (`TRACE`, "
        "`PROPFIND`, `DEBUG`, `CONNECT`...), a technology it does not run answered 404 "
        "(`.php`, `.cgi`, `.asp(x)`, `.jsp`, `.action`, `.do`...)"
    )
    sources = (
        "`sensitive_files.txt`, `admin_interfaces.txt`, `probe_queries.txt`, "
        "`SECURITY_DETECT_SERVED_METHODS`, `SECURITY_DETECT_UNSERVED_SUFFIXES`"
    )


@dataclass(frozen=True)
class Traversal(SignatureRule):
    reason = "traversal"
    label = "Path traversal"
    matches = (
        "two steps up (`../../`), one step up followed by a path, `/etc/passwd`, `win.ini`, "
        "`proc/self/environ`, NUL bytes (`report.php%00.jpg`), after decoding"
    )
    sources = "`detectors.py`, `traversal.txt`"


@dataclass(frozen=True)
class Injection(SignatureRule):
    reason = "injection"
    label = "SQL injection, XSS or code in the request"
    matches = (
        "the syntax of SQL injection, XSS, shell commands, PHP code and stream wrappers, remote "
        "file inclusion, SSRF, Log4Shell (obfuscated too), Java/Spring/OGNL/template "
        "expressions, session fixation, in the path, any query parameter's name or value, the "
        "user agent or the referer"
    )
    sources = "`detectors.py`, `injection.regex.txt`"


@dataclass(frozen=True)
class Scanner(SignatureRule):
    reason = "scanner"
    label = "Scanner user agent"
    matches = "user agents of Nikto, sqlmap, Nmap, nuclei, WPScan, masscan, zgrab, gobuster, ..."
    sources = "`scanner_user_agents.txt`"


@dataclass(frozen=True)
class NotFound(CountingRule):
    reason = "not_found"
    label = "Many distinct 404s (scanning)"
    matches = (
        "distinct paths answered 404, static assets (`.js`, `.css`, images, media, "
        "`favicon.ico`, `apple-touch-icon*`) left out"
    )
    describe = "distinct paths answered 404"
    count_name = "not_found_paths"
    distinct = True
    legacy_settings = {"SECURITY_DETECT_NOT_FOUND_THRESHOLD": "scan_threshold"}
    window: int = 60
    threshold: int = 15
    scan_threshold: int | None = 20

    def member(self, row: StoredRow, sensitive: bool) -> str | None:
        return row.path if row.status_code == 404 and not is_static_asset(row.path) else None

    def counts(self, terms: ScanTerms) -> dict[str, Aggregate]:
        missing_page = Q(status_code=404) & ~Q(path__iregex=ASSET_REGEX)
        return {self.count_name: Count("path", filter=missing_page, distinct=True)}


@dataclass(frozen=True)
class RateLimited(CountingRule):
    reason = "rate_limited"
    label = "Repeatedly rate-limited"
    matches = "answers 429"
    describe = "answers 429"
    count_name = "rate_limited"
    legacy_settings = {"SECURITY_DETECT_RATE_LIMITED_THRESHOLD": "threshold"}
    window: int = 600
    threshold: int = 5

    def member(self, row: StoredRow, sensitive: bool) -> str | None:
        return COUNTS if row.status_code == 429 else None

    def counts(self, terms: ScanTerms) -> dict[str, Aggregate]:
        return {self.count_name: Count("id", filter=Q(status_code=429))}


# The hourly scan also flags this many attempts at sensitive paths answered 4xx.
SENSITIVE_DENIED_THRESHOLD = 3


@dataclass(frozen=True)
class Sensitive(CountingRule):
    reason = "sensitive"
    label = "Sensitive paths"
    matches = (
        "attempts at `SECURITY_DETECT_SENSITIVE_PATHS` (`/admin`, `/login`): every request but "
        "a GET or HEAD answered 2xx (a monitor polling `/login/` once a minute is not an "
        f"attempt), or {SENSITIVE_DENIED_THRESHOLD} of them answered 4xx (hourly scan only)"
    )
    describe = "requests to sensitive paths"
    count_name = "sensitive"
    evidence_labels = {"sensitive_denied": "requests to sensitive paths answered 4xx"}
    strictly_above = True
    legacy_settings = {"SECURITY_DETECT_SENSITIVE_THRESHOLD": "threshold"}
    threshold: int = 20
    # Every request of every client would be a window per client per batch in the drain.
    streaming: bool = False

    # A page that answered a GET is not an attempt: an uptime monitor polls /login/.
    def member(self, row: StoredRow, sensitive: bool) -> str | None:
        if sensitive and not is_plain_visit(row.method, row.status_code):
            return COUNTS
        return None

    def counts(self, terms: ScanTerms) -> dict[str, Aggregate]:
        return {
            self.count_name: Count("id", filter=terms.sensitive & ~terms.plain_visit),
            "sensitive_denied": Count("id", filter=terms.sensitive & terms.client_error),
        }

    def having(self) -> Q:
        return super().having() | Q(sensitive_denied__gte=SENSITIVE_DENIED_THRESHOLD)

    def flagged(self, row: dict) -> bool:
        return super().flagged(row) or row["sensitive_denied"] >= SENSITIVE_DENIED_THRESHOLD


@dataclass(frozen=True)
class HighVolume(CountingRule):
    reason = "high_volume"
    label = "High request volume"
    matches = (
        "requests of an anonymous client (signed-in users are accountable and rate-limited; "
        "hourly scan only)"
    )
    describe = "anonymous requests"
    count_name = "anonymous"
    strictly_above = True
    legacy_settings = {"SECURITY_DETECT_VOLUME_THRESHOLD": "threshold"}
    threshold: int = 1000
    # Volume counts every request of every client: a window per client per batch would cost
    # the drain more than all other rules together, and an hour's volume is the scan's job.
    streaming: bool = False

    def member(self, row: StoredRow, sensitive: bool) -> str | None:
        return COUNTS if row.user_id is None else None

    def counts(self, terms: ScanTerms) -> dict[str, Aggregate]:
        return {self.count_name: Count("id", filter=terms.anonymous)}


@dataclass(frozen=True)
class CacheBusting(CountingRule):
    reason = "cache_busting"
    label = "One page with ever-new query strings"
    matches = "one path asked with ever-new query strings by an anonymous client"
    describe = "distinct query strings on one path"
    count_name = "queries"
    distinct = True
    per_path = True
    threshold: int = 50

    def member(self, row: StoredRow, sensitive: bool) -> str | None:
        return row.query if row.query and row.user_id is None else None

    def counts(self, terms: ScanTerms) -> dict[str, Aggregate]:
        return {
            self.count_name: Count("query", filter=~Q(query="") & terms.anonymous, distinct=True)
        }


@dataclass(frozen=True)
class UserAgentRotation(CountingRule):
    reason = "ua_rotation"
    label = "Rotating user agents"
    matches = "distinct user agents of one anonymous client on refused requests or sensitive paths"
    describe = "distinct user agents"
    count_name = "user_agents"
    distinct = True
    threshold: int = 6

    # On the ways in, or on refused requests: an office behind one NAT browsing ordinary pages
    # is many browsers, not one client in disguise.
    def member(self, row: StoredRow, sensitive: bool) -> str | None:
        if row.user_id is None and (row.status_code >= 400 or sensitive):
            return row.user_agent
        return None

    def counts(self, terms: ScanTerms) -> dict[str, Aggregate]:
        refused_or_sensitive = Q(status_code__gte=400) | terms.sensitive
        return {
            self.count_name: Count(
                "user_agent", filter=terms.anonymous & refused_or_sensitive, distinct=True
            )
        }
