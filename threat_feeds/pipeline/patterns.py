"""STIX pattern checking and indicator extraction.

Most feed patterns are a few `[type:path = 'value']` comparisons joined by AND/OR. Those are
checked by a small tokenizer here (tens of microseconds); anything else (qualifiers,
parentheses, IN/LIKE/MATCHES, ...) falls back to the full ANTLR grammar of stix2-patterns,
which is correct but costs milliseconds per pattern.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<lbr>\[) | (?P<rbr>\]) |
      (?P<path>[a-z_][a-z0-9_-]*:[A-Za-z_][A-Za-z0-9_]*
          (?:\.(?:[A-Za-z_][A-Za-z0-9_]*|'[^'\\]+')|\[(?:\d+|\*)\])*) |
      (?P<op>=|!=|<=|>=|<|>) |
      (?P<str>'(?:[^'\\]|\\['\\])*') |
      (?P<num>-?\d+(?:\.\d+)?) |
      (?P<bool>true|false) |
      (?P<join>AND|OR|FOLLOWEDBY)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class Comparison:
    path: str  # e.g. "file:hashes.'SHA-256'", as written in the pattern
    operator: str
    value: str | int | float | bool


class PatternError(ValueError):
    pass


# The commonest pattern of all: one observation with one equality, e.g. [domain-name:value = 'x'].
_SINGLE = re.compile(
    r"\[\s*([a-z_][a-z0-9_-]*:[A-Za-z_][A-Za-z0-9_]*(?:\.(?:[A-Za-z_][A-Za-z0-9_]*|'[^'\\]+')|\[(?:\d+|\*)\])*)"
    r"\s*=\s*'((?:[^'\\]|\\['\\])*)'\s*\]\s*"
)


def _fast_parse(pattern: str) -> list[Comparison] | None:
    """Comparisons of a simple pattern, or None when the pattern needs the full grammar."""
    single = _SINGLE.fullmatch(pattern)
    if single is not None:
        value = single.group(2)
        if "\\" in value:
            value = value.replace("\\'", "'").replace("\\\\", "\\")
        return [Comparison(single.group(1), "=", value)]
    pos, end = 0, len(pattern)
    comparisons: list[Comparison] = []
    expect = "lbr"  # a tiny state machine: [ path op literal (AND|OR path op literal)* ] (join [ ... ])*
    path = op = None
    while pos < end:
        match = _TOKEN.match(pattern, pos)
        if match is None or match.end() == pos:
            if pattern[pos:].strip() == "":
                break
            return None
        kind = match.lastgroup
        text = match.group(kind)
        pos = match.end()
        if expect == "lbr" and kind == "lbr":
            expect = "path"
        elif expect == "path" and kind == "path":
            path, expect = text, "op"
        elif expect == "op" and kind == "op":
            op, expect = text, "literal"
        elif expect == "literal" and kind in ("str", "num", "bool"):
            value: str | int | float | bool
            if kind == "str":
                value = text[1:-1].replace("\\'", "'").replace("\\\\", "\\")
            elif kind == "num":
                value = float(text) if "." in text else int(text)
            else:
                value = text == "true"
            comparisons.append(Comparison(path, op, value))  # type: ignore[arg-type]
            expect = "after_comparison"
        elif expect == "after_comparison" and kind == "join" and text in ("AND", "OR"):
            expect = "path"
        elif expect == "after_comparison" and kind == "rbr":
            expect = "after_observation"
        elif expect == "after_observation" and kind == "join":
            expect = "lbr"
        else:
            return None
    return comparisons if expect == "after_observation" and comparisons else None


def _slow_parse(pattern: str) -> list[Comparison]:
    from stix2patterns.v21.pattern import Pattern

    try:
        parsed = Pattern(pattern)
    except Exception as exc:  # the ANTLR layer raises several unrelated types
        raise PatternError(str(exc).splitlines()[0] if str(exc) else "invalid STIX pattern") from exc
    comparisons = []
    for object_type, items in parsed.inspect().comparisons.items():
        for path_parts, operator, value in items:
            comparisons.append(Comparison(_render_path(object_type, path_parts), operator, _literal(value)))
    return comparisons


def _render_path(object_type: str, parts: list) -> str:
    out = object_type + ":"
    for index, part in enumerate(parts):
        if isinstance(part, int):
            out += f"[{part}]"
        elif not isinstance(part, str):  # stix2patterns' INDEX_STAR sentinel
            out += "[*]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            out += ("." if index else "") + part
        else:
            out += ("." if index else "") + f"'{part}'"
    return out


def _literal(value: object) -> str | int | float | bool:
    if isinstance(value, str) and len(value) >= 2 and value[0] == "'" and value[-1] == "'":
        return value[1:-1].replace("\\'", "'").replace("\\\\", "\\")
    if isinstance(value, (int, float, bool)):
        return value
    return str(value)


@lru_cache(maxsize=65536)
def parse_pattern(pattern: str) -> tuple[Comparison, ...]:
    """Validate a STIX pattern and return its comparisons; raises PatternError when invalid."""
    fast = _fast_parse(pattern)
    return tuple(fast if fast is not None else _slow_parse(pattern))


# --- indicator kinds -----------------------------------------------------------------------
_HASH_KINDS = {"MD5": "md5", "SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}
_PATH_KINDS = {
    "ipv4-addr:value": "ipv4",
    "ipv6-addr:value": "ipv6",
    "domain-name:value": "domain",
    "url:value": "url",
    "email-addr:value": "email",
    "email-message:from_ref.value": "email",
    "file:name": "file-name",
    "file:path": "file-path",
    "directory:path": "directory",
    "mutex:name": "mutex",
    "windows-registry-key:key": "registry-key",
    "process:command_line": "command-line",
    "process:name": "process-name",
}
_ADDRESS_PATHS = {"network-traffic:dst_ref.value", "network-traffic:src_ref.value"}
MAX_VALUE_LENGTH = 2048


def _address_kind(value: str) -> str:
    try:
        return "ipv4" if ipaddress.ip_network(value, strict=False).version == 4 else "ipv6"
    except ValueError:
        return "domain"


def kind_for(path: str, value: str) -> str | None:
    """The indicator kind a comparison's object path denotes, or None when it is not an observable."""
    kind = _PATH_KINDS.get(path)
    if kind is not None:
        return kind
    if path.startswith("file:hashes."):
        name = path[len("file:hashes.") :].strip("'").upper().replace("-", "")
        return _HASH_KINDS.get(name, name.lower())
    if path in _ADDRESS_PATHS:
        return _address_kind(value)
    return None


def normalise_value(kind: str, value: str) -> str:
    if kind in ("domain", "email", "md5", "sha1", "sha256", "sha512") or kind in _HASH_KINDS.values():
        return value.strip().lower()
    return value.strip()


def extract_indicators(pattern: str) -> list[tuple[str, str, str]]:
    """(kind, value, path) for every equality comparison that names an observable."""
    found: list[tuple[str, str, str]] = []
    seen: set[tuple[str, str, str]] = set()
    for comparison in parse_pattern(pattern):
        if comparison.operator != "=" or not isinstance(comparison.value, str):
            continue
        kind = kind_for(comparison.path, comparison.value)
        if kind is None or not comparison.value or len(comparison.value) > MAX_VALUE_LENGTH:
            continue
        item = (kind, normalise_value(kind, comparison.value), comparison.path)
        if item not in seen:
            seen.add(item)
            found.append(item)
    return found
