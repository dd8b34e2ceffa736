"""Detectors that look for the syntax of an attack in one decoded field, not for words: text in
a search box is not injection unless it has the shape of one (`<script type="module">`,
`eval() vs ast.literal_eval()` and `window.alert() vs console.log()` are questions; `'
or 1=1--`, `<svg onload=...>` and `; wget http://...` are not).

Every pattern here is linear: bounded repetitions, no nested quantifiers (tests check it).
"""

import re
from collections.abc import Callable
from typing import NamedTuple

from .transforms import Field


class Hit(NamedTuple):
    family: str
    evidence: str


def _any(*patterns: str) -> re.Pattern:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.S)


SQLI = _any(
    # UNION SELECT and what a query selects: a number, NULL, a variable, a string, a list, a
    # call or FROM ("union select syntax" typed into a search box is a question).
    r"\bunion(?:\s*(?:all|distinct))?\s*\(?\s*select(?:\s*(?:\d|null\b|@@|\*|['\"`(])"
    r"|\s+(?:distinct\s+)?[\w.]{1,64}\s*(?:,|\(|\bfrom\b))",
    # A string or number broken out of, then a boolean operator and a comparison.
    r"(?:^|['\"`)\d])\s*(?:or|and|xor|\|\||&&)\s+\(?['\"`]?[\w.@]{0,40}['\"`]?\s*"
    r"(?:=|<>|!=|<=|>=|<|>|\blike\b|\bis\b|\bregexp\b)",
    r"(?:^|['\"`)])\s*(?:or|and)\s+(?:true|false|not)\b",
    r"['\"`)]\s*(?:--|#|;)[\s+-]{0,5}$",
    r"['\"`)\d]\s*;\s*(?:select|insert|update|delete|drop|exec|execute|declare|shutdown|create"
    r"|alter|truncate)\b",
    r"\b(?:sleep|pg_sleep|benchmark|dbms_pipe\.receive_message)\s*\(\s*['\"\d]",
    r"\bwaitfor\s+(?:delay|time)\s+['\"]",
    r"\b(?:extractvalue|updatexml|load_file|utl_inaddr\.get_host_address|xp_cmdshell)\s*\(",
    r"\binto\s+(?:out|dump)file\b",
    r"@@(?:version|datadir|hostname)\b",
    r"\b(?:concat|char|chr)\s*\(\s*(?:0x[0-9a-f]|\d{2,3}\s*,)",
    r"\border\s+by\s+\d{1,3}\s*(?:--|#|$)",
)
# A subquery on a catalog after a break-out, a bracket or AND/OR/UNION ("1 and 1 in (select
# name from information_schema.tables)"; "select * from dual" typed into a search box is a
# question). Run only where a catalog is named (CATALOG), the first FROM after the SELECT taken
# once (atomic): "select a from " repeated 8 KB long took 0.1 s a field without both.
CATALOG = re.compile(r"information_schema|pg_catalog|sysobjects|mysql\.user|sqlite_master|\bdual\b")
SQLI_CATALOG = re.compile(
    r"(?:['\"`)(]|\b(?:and|or|union(?:\s+all)?)\b)\s*\(?\s*select\b(?>.{1,200}?\bfrom\b)"
    r".{1,200}?\b(?:information_schema|pg_catalog|sysobjects|mysql\.user|sqlite_master|dual)\b",
    re.S,
)
XSS = _any(
    r"<script\b[^>]{0,200}>[^<]{0,200}?\S|<script\b[^>]{0,200}\bsrc\s*=",
    r"<[a-z][\w:-]{0,20}\b[^>]{0,200}?[\s/\"'](?:on[a-z]{3,20})\s*=",
    r"(?:^|[\s\"'`=(])(?:java|vb|live)script\s*:\s*[^\s]{0,100}?[(=`\[]",
    r"<(?:iframe|frame|object|embed|applet|base|meta|link|form|math|svg)\b[^>]{0,200}?"
    r"\b(?:src|data|href|action|content|xlink:href|formaction)\s*=",
    r"['\"`>]\s*[;,+)(|&-]{0,3}\s*(?:alert|prompt|confirm|eval|fetch)\s*[(`]",
    r"[(=+]\s*document\s*\.\s*(?:cookie|domain|write)\b",
    r"\bexpression\s*\(|-moz-binding\s*:|\bsrcdoc\s*=",
)
COMMAND = _any(
    r"(?:[;|`\n]|&&|\$\(|\|\|)\s*(?:/(?:usr/)?s?bin/)?(?:wget|curl|nc|ncat|netcat|bash|sh|zsh"
    r"|dash|ksh|chmod|chown|cat|id|whoami|uname|ls|ping|nslookup|dig|perl|python[23]?|php"
    r"|ruby|powershell|cmd|echo|rm|busybox|tftp|sleep|env|ifconfig|telnet|base64|sudo)\b",
    r"\$\{ifs\}|\$ifs\b",
    r"/(?:usr/)?bin/(?:ba|z|da|k)?sh\b|\bcmd(?:\.exe)?\s+/c\b|\bpowershell(?:\.exe)?\s+-",
)
PHP = _any(
    r"<\?(?:php|=)",
    r"\b(?:php|expect|phar|zip|glob|zlib|compress\.zlib|ssh2\.\w{1,10})://",
    r"\bdata:(?://)?[\w/+.-]{0,40};base64,|\bdata://",
    r"\b(?:system|exec|passthru|shell_exec|popen|proc_open|assert|eval|base64_decode"
    r"|file_get_contents|file_put_contents|fopen|include|require|phpinfo|call_user_func"
    r"(?:_array)?|create_function|preg_replace|str_rot13|gzinflate)\s*\(\s*(?:['\"$]|\)\s*;)",
    r"\$_(?:get|post|request|cookie|server|files|env)\s*\[",
    r"\b(?:allow_url_include|auto_prepend_file|auto_append_file|disable_functions)\b",
    r"\binvokefunction\b",
)
SSRF = _any(
    r"\b169\.254\.169\.254\b|\bmetadata\.google\.internal\b|\b100\.100\.100\.200\b",
    r"\bfd00:ec2::254\b|\b0xa9fea9fe\b|\b2852039166\b|::ffff:a9fe:a9fe",
    r"\b(?:gopher|dict|file|ldap|ldaps|tftp|netdoc|jar|sftp)://",
)
LOG4SHELL = re.compile(
    r"\$\{(?:jndi|ctx|env|sys|main|java|bundle|docker|k8s|spring|web|log4j|marker|map|sd"
    r"|script|dns|url|base64|upper|lower)\s*:"
)
JAVA = _any(
    r"%\{\s*[(#@]|%\{\s*\d+\s*\*",
    r"\$\{\s*(?:#|@|t\s*\(|\d+\s*\*\s*\d+)",
    r"#\{\s*\d+\s*\*\s*\d+|\{\{\s*\d+\s*\*\s*\d+\s*\}\}|\{\{.{0,40}?__class__",
    r"\bt\s*\(\s*java\.lang\.|@java\.lang\.|\bjava\.lang\.(?:runtime|processbuilder|system)\b",
    r"\bclass\.(?:module\.)?classloader\b|#_memberaccess|#context\[|\bognlcontext\b",
    r"\bnew\s+java\.(?:lang|io|util)\.",
)
TRAVERSAL = _any(
    # Two steps up, or one step up that the rest of the value follows as a path: "../ in
    # relative imports" is a question, "../settings.py" is not.
    r"(?:\.{2,8}[/\\]){2}|(?:^|[/\\=])\.{2,8}[/\\][^\s]{0,200}$|[/\\]\.{2,8}$",
    r"/etc/(?:passwd|shadow|hosts|group)\b|\bproc/self/(?:environ|cmdline|fd)\b",
    r"\bwin(?:dows)?[/\\]win\.ini\b|\bboot\.ini\b|\bwindows[/\\]system32\b",
)
SESSION_PARAMETERS = {
    "jsessionid", "phpsessid", "aspsessionid", "asp.net_sessionid", "cfid", "cftoken",
    "sessionid", "session_id", "sid",
}  # fmt: skip
FILE_PARAMETERS = re.compile(
    r"(?:^|_)(?:file|filename|page|include|inc|path|dir|template|tpl|doc|document|folder|root"
    r"|load|read|lang|module|mod|conf|config|show|view|cat|style|pg|content|layout|src)(?:$|_)"
)
REMOTE_URL = re.compile(r"^\s*(?:https?|ftps?|smb|\\\\)[:/\\]{1,3}[^/?#\s]{1,253}")
TRAILING_QUERY = re.compile(r"^\s*(?:https?|ftps?)://[^\s]{1,2000}?\?+$")
# Nested look-ups, innermost first: `${${lower:j}ndi:` and `${::-j}` become `j`.
LOOKUP_DEFAULT = re.compile(r"\$\{[^${}]{0,100}?:-([^${}]{0,100})\}")
LOOKUP_CASE = re.compile(r"\$\{(?:lower|upper|date)\s*:([^${}]{0,100})\}")


def unwrap_lookups(text: str) -> str:
    for _round in range(10):
        before = text
        text = LOOKUP_CASE.sub(r"\1", LOOKUP_DEFAULT.sub(r"\1", text))
        if text == before:
            break
    return text


def _search(family: str, pattern: re.Pattern, *texts: str) -> Hit | None:
    for text in texts:
        found = pattern.search(text)
        if found:
            return Hit(family, found.group(0).strip()[:120])
    return None


def log4shell(field: Field) -> Hit | None:
    if "${" not in field.text:
        return None
    return _search("log4shell", LOG4SHELL, unwrap_lookups(field.joined.replace(" ", "")))


SYNTAX: list[tuple[str, re.Pattern]] = [
    ("sqli", SQLI), ("xss", XSS), ("command", COMMAND), ("php", PHP), ("ssrf", SSRF),
    ("java", JAVA), ("traversal", TRAVERSAL),
]  # fmt: skip
# What each family's patterns cannot match without (substring tests cost a fraction of a
# search): most values (ids, page numbers, words) skip every pattern.
TRIGGERS: dict[str, tuple[str, ...]] = {
    "sqli": ("'", '"', "`", "(", ")", ";", "@", "|", "&", "--", "union", "or ", "and ",
             "waitfor", "into", "select", "order"),
    "xss": ("<", ">", "'", '"', "`", ":", "(", "document", "binding", "srcdoc"),
    "command": (";", "|", "`", "\n", "&", "$", "/bin/", "cmd", "powershell"),
    "php": ("<?", "://", "data:", "(", "$_", "allow_url", "auto_", "disable_functions",
            "invokefunction"),
    "ssrf": ("169.254", "metadata", "100.100.100.200", "fd00:ec2", "a9fe", "2852039166", "://"),
    "java": ("%{", "${", "#{", "{{", "java.", "classloader", "#_memberaccess", "#context",
             "ognl"),
    "traversal": ("..", "etc/", "proc/self", "win.ini", "boot.ini", "system32"),
}  # fmt: skip
# Compiled: a search skips ahead on the set of first characters, in C.
GATES = {
    family: re.compile("|".join(re.escape(t) for t in triggers))
    for family, triggers in TRIGGERS.items()
}
ANY_GATE = re.compile("|".join(re.escape(t) for t in {t for ts in TRIGGERS.values() for t in ts}))


def inspect(field: Field) -> Hit | None:
    """The first family whose syntax the field has."""
    if field.nul:
        return Hit("nul", "NUL byte")
    if len(field.text) < 3:
        return None
    if hit := log4shell(field):
        return hit
    texts: tuple[str, ...] = (
        (field.text,) if field.joined == field.text else (field.text, field.joined)
    )
    texts = tuple(text for text in texts if ANY_GATE.search(text))
    if not texts:
        return None
    for family, pattern in SYNTAX:
        gate = GATES[family]
        for text in texts:
            if gate.search(text) and (found := pattern.search(text)):
                return Hit(family, found.group(0).strip()[:120])
    for text in texts:
        if CATALOG.search(text) and (found := SQLI_CATALOG.search(text)):
            return Hit("sqli", found.group(0).strip()[:120])
    return None


def inspect_parameter(name: Field, value: Field) -> Hit | None:
    """A query parameter: its name and value, and what the name says the value is for."""
    if name.text in SESSION_PARAMETERS and value.text:
        return Hit("session_fixation", f"{name.text}=")
    remote = REMOTE_URL.search(value.text) or TRAILING_QUERY.search(value.text)
    if remote and FILE_PARAMETERS.search(name.text):
        return Hit("rfi", f"{name.text}={value.text[:100]}")
    return inspect(value) or inspect(name)


Detector = Callable[[Field], Hit | None]
PATTERNS = [pattern for _family, pattern in SYNTAX] + [
    SQLI_CATALOG,
    LOG4SHELL,
    LOOKUP_DEFAULT,
    LOOKUP_CASE,
]
