"""Names: the portable name rule, the escaped form that records any received name exactly,
and the safe form a received name takes on disk. Shared by every stage that makes,
renames or records a name.

Three forms of one name, and why:

* **received**: what the archive or the folder said, decoded (:mod:`preservation.tools.zip_reader`
  decides how). It may hold line breaks, control characters, bytes that are not UTF-8
  (kept as surrogate escapes, ``surrogateescape``), or be longer than a file system takes.
* **escaped** (:func:`escape`): the received name as text any log, CSV, tag file or XML can
  hold, one line, reversible (:func:`unescape`): ``\\`` ``\\n`` ``\\r`` ``\\t``, ``\\xNN`` for
  a byte that is not UTF-8, ``\\uNNNN`` for any other character XML or a line cannot
  carry. Nothing else changes, so ordinary names read as themselves. It is the PREMIS
  ``originalName`` and what every ``filename change`` event names.
* **safe** (:func:`safe_component`): what the working copy holds from receipt on, so every
  tool and every later stage can take it: each character :func:`escape` would escape
  becomes ``_`` and a name longer than 255 bytes is shortened (:func:`shorten`).

The portable name (:func:`sanitize`) is Archivematica's Change filenames rule.
"""

from __future__ import annotations

import hashlib
import re

from unidecode import unidecode

#: The longest file or folder name Linux file systems (and S3 keys' parts) take, in bytes.
NAME_MAX = 255
_PROHIBITED = re.compile(r"[^A-Za-z0-9\-_.()]")
_SHORT_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _needs_escape(char: str) -> bool:
    code = ord(char)
    return (
        code < 0x20  # C0 controls: line breaks, tabs, NUL…
        or 0x7F <= code <= 0x9F  # DEL and C1 controls
        or 0xD800 <= code <= 0xDFFF  # lone surrogates: bytes that were not UTF-8
        or code in (0xFFFE, 0xFFFF)  # not characters; XML refuses them
    )


def escape(name: str) -> str:
    """The received name as one line of text that XML can hold, reversibly."""
    out = []
    for char in name:
        if char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif not _needs_escape(char):
            out.append(char)
        elif 0xDC80 <= ord(char) <= 0xDCFF:
            out.append(f"\\x{ord(char) - 0xDC00:02x}")  # the raw byte
        else:
            out.append(f"\\u{ord(char):04x}")
    return "".join(out)


_UNESCAPE = re.compile(r"\\(\\|n|r|t|x[0-9a-f]{2}|u[0-9a-f]{4})")


def unescape(text: str) -> str:
    """The received name back from :func:`escape`."""

    def back(match: re.Match) -> str:
        code = match[1]
        if code[0] == "x":
            return chr(0xDC00 + int(code[1:], 16))
        if code[0] == "u":
            return chr(int(code[1:], 16))
        return {"\\": "\\", "n": "\n", "r": "\r", "t": "\t"}[code]

    return _UNESCAPE.sub(back, text)


def needs_escape(name: str) -> bool:
    return any(char in _SHORT_ESCAPES or _needs_escape(char) for char in name)


def byte_length(name: str) -> int:
    return len(name.encode("utf-8", "surrogateescape"))


def shorten(name: str, limit: int = NAME_MAX) -> str:
    """``name`` cut to ``limit`` UTF-8 bytes: the stem is cut on a character boundary and
    ends with ``_`` and 8 hex digits of the whole name's SHA-256 (so two long names that
    share a beginning stay apart); a short extension is kept."""
    if byte_length(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or byte_length(extension) > 16:
        stem, dot, extension = name, "", ""
    room = limit - len(f"_{digest}") - byte_length(dot + extension)
    cut = stem.encode("utf-8", "surrogateescape")[:room].decode("utf-8", "ignore")
    return f"{cut}_{digest}{dot}{extension}"


def safe_component(name: str) -> str:
    """The form a received name takes on disk: what :func:`escape` would escape becomes
    ``_``, at most 255 bytes; ``.`` and ``..`` cannot occur (the archive checks refuse
    them first)."""
    safe = "".join("_" if char in _SHORT_ESCAPES or _needs_escape(char) else char for char in name)
    return shorten(safe or "_")


def sanitize(name: str) -> str:
    """Archivematica's portable name: ASCII transliteration (Unidecode), ``_`` for
    anything outside ``A-Za-z0-9-_.()``; never ``.`` or ``..`` (look-alike dots
    transliterate to dots); at most 255 bytes (a CJK name transliterates to more)."""
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    portable = _PROHIBITED.sub("_", unidecode(text)) or "_"
    if set(portable) == {"."}:
        portable = "_" * len(portable)
    return shorten(portable)


def unique_name(name: str, taken: set[str], key=lambda n: n) -> str:
    """``name``, or ``name`` with ``_1``, ``_2``… before its extension, whichever ``key``
    of it is not in ``taken`` yet (``key=str.lower``: names a case-insensitive file system
    would confuse count as taken)."""
    if key(name) not in taken:
        return name
    stem, dot, suffix = name.partition(".") if not name.startswith(".") else (name, "", "")
    number = 1
    while True:
        candidate = shorten(f"{stem}_{number}{dot}{suffix}")
        if key(candidate) not in taken:
            return candidate
        number += 1
