"""Archivematica's rule for portable names, shared by every name we make or clean up."""

from __future__ import annotations

import re

from unidecode import unidecode

_PROHIBITED = re.compile(r"[^A-Za-z0-9\-_.()]")


def sanitize(name: str) -> str:
    """ASCII transliteration (Unidecode), then ``_`` for anything outside
    ``A-Za-z0-9-_.()``."""
    ascii_name = unidecode(name.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
    return _PROHIBITED.sub("_", ascii_name) or "_"
