"""The transformations applied before matching, learnt from the way a WAF decodes (the Core
Rule Set's urlDecodeUni, htmlEntityDecode, jsDecode, cssDecode, removeNulls,
replaceComments, compressWhitespace, lowercase, normalizePath), written as plain functions.

Each field is decoded apart: the path (path parameters `;...` stripped), each query parameter
name and value, the user agent and the referer (its path and parameters too). What comes out
is what a server, a template or a shell behind the site would see, so that `%2527`, `%u003c`,
`%c0%af`, `&#x3c;`, `\\x3c`, `UN/**/ION`, full-width letters and upper case all say the same.
"""

import html
import re
import unicodedata
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import unquote_to_bytes, urlsplit

# Detection reads at most this much of any one field (storage cuts earlier).
FIELD_LIMIT = 8192
DECODE_ROUNDS = 3

PERCENT_U = re.compile(r"%u([0-9a-fA-F]{4})")
# Overlong UTF-8 (`%c0%af` is `/` to a lenient decoder): two- and three-byte forms of ASCII.
OVERLONG_2 = re.compile(rb"[\xc0\xc1][\x80-\xbf]")
OVERLONG_3 = re.compile(rb"\xe0[\x80-\x9f][\x80-\xbf]")
JS_ESCAPE = re.compile(r"\\(?:x([0-9a-fA-F]{2})|u\{([0-9a-fA-F]{1,6})\}|u([0-9a-fA-F]{4}))")
CSS_ESCAPE = re.compile(r"\\([0-9a-fA-F]{1,6})\s?")
COMMENT = re.compile(r"/\*.*?(?:\*/|$)|<!--.*?(?:-->|$)", re.S)
WHITESPACE = re.compile(r"\s+")
PATH_PARAMETER = re.compile(r";[^/]*")


def _overlong_2(found: re.Match) -> bytes:
    first, second = found.group(0)
    return bytes([((first & 0x1F) << 6) | (second & 0x3F)])


def _overlong_3(found: re.Match) -> bytes:
    _first, second, third = found.group(0)
    return bytes([((second & 0x3F) << 6) | (third & 0x3F)])


def _one_space(found: re.Match) -> str:
    # A line break stays one: to a shell it ends a command.
    return "\n" if "\n" in found.group(0) else " "


def _code_point(value: str) -> str:
    number = int(value, 16)
    return chr(number) if number < 0x110000 and not 0xD800 <= number < 0xE000 else "\ufffd"


def percent_decode(text: str, plus: bool = False) -> str:
    """`%XX`, `%uXXXX` and overlong UTF-8, repeated while it changes (double encoding)."""
    for _round in range(DECODE_ROUNDS):
        if "%" not in text and not (plus and "+" in text):
            return text
        before = text
        if plus:
            text = text.replace("+", " ")
            plus = False
        text = PERCENT_U.sub(lambda m: _code_point(m.group(1)), text)
        raw = unquote_to_bytes(text)
        if b"\xc0" in raw or b"\xc1" in raw or b"\xe0" in raw:
            raw = OVERLONG_3.sub(_overlong_3, OVERLONG_2.sub(_overlong_2, raw))
        text = raw.decode("utf-8", "replace")
        if text == before:
            return text
    return text


def escape_decode(text: str) -> str:
    """HTML entities, JavaScript `\\xHH`/`\\uHHHH` and CSS `\\HH` escapes."""
    if "&" in text:
        text = html.unescape(text)
    if "\\" in text:
        text = JS_ESCAPE.sub(lambda m: _code_point(next(g for g in m.groups() if g)), text)
        text = CSS_ESCAPE.sub(lambda m: _code_point(m.group(1)), text)
    return text


class Field(NamedTuple):
    """One field as matching sees it: `text` decoded, comments replaced by a space, whitespace
    compressed, NFKC-normalised and case-folded; `joined` the same with comments removed
    (`UN/**/ION`); `nul` whether it held a NUL byte."""

    text: str
    joined: str
    nul: bool


@lru_cache(maxsize=65536)
def normalise(value: str, plus: bool = False) -> Field:
    text = escape_decode(percent_decode(value[:FIELD_LIMIT], plus))
    text = unicodedata.normalize("NFKC", text).casefold()
    nul = "\x00" in text
    if nul:
        text = text.replace("\x00", "")
    joined = text
    if "/*" in text or "<!--" in text:
        joined = COMMENT.sub("", text)
        text = COMMENT.sub(" ", text)
    if not text.isprintable() or "  " in text:
        text = WHITESPACE.sub(_one_space, text)
        joined = WHITESPACE.sub(_one_space, joined)
    return Field(text, joined, nul)


def strip_path_parameters(path: str) -> str:
    """`/manager/html;jsessionid=X` names `/manager/html`, `/actuator;/env` `/actuator/env`."""
    return PATH_PARAMETER.sub("", path) if ";" in path else path


def query_fields(query: str) -> list[tuple[Field, Field]]:
    """Each parameter's name and value, decoded apart (`+` is a space here)."""
    pairs = []
    for part in query[:FIELD_LIMIT].split("&"):
        if not part:
            continue
        name, _sep, value = part.partition("=")
        pairs.append((normalise(name, True), normalise(value, True)))
    return pairs


def referer_parts(referer: str) -> tuple[str, str]:
    """A referer's path and query string ("" for what does not parse)."""
    try:
        parts = urlsplit(referer[:FIELD_LIMIT])
    except ValueError:
        return "", ""
    return parts.path, parts.query
