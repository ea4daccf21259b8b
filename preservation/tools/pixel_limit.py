"""Decompression bombs: images whose pixels would take gigabytes once decoded.

Pillow reads an image's size from its header without decoding it. An image of more than
``PRESERVATION_MAX_IMAGE_PIXELS`` pixels (default Pillow's own threshold, 89,478,485: a
third of a gigabyte as RGBA) is never decoded by any stage: validation fails it as a
decompression bomb, and normalization, thumbnails and transcription leave it alone with
that reason, rather than spend gigabytes of memory on one file.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path


def limit() -> int:
    from PIL import Image

    value = os.environ.get("PRESERVATION_MAX_IMAGE_PIXELS")
    return int(value) if value else Image.MAX_IMAGE_PIXELS


def signed_formats() -> tuple[str, ...]:
    """Pillow's image formats that a file's first bytes announce. The others (IM, IMT,
    IPTC, PCD, SPIDER, TGA) Pillow can only recognise by parsing the file, and IMT reads
    a text file line by line: 0.2 ms a file, 2 s for 10,000 text files. A scanner that
    types files by their magic, as ClamAV does, decodes none of those as an image."""
    from PIL import Image

    Image.init()
    return tuple(name for name, (_factory, accept) in Image.OPEN.items() if accept)


def bomb(path: Path, formats: Sequence[str] | None = None) -> str:
    """Why ``path`` must not be decoded ("" for an image within the limit, or a file
    Pillow does not read as an image: its own tools judge it). ``formats``: only these
    of Pillow's (all by default)."""
    from PIL import Image

    most = limit()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path, formats=formats) as image:
                width, height = image.size
    except Image.DecompressionBombError as error:
        return f"decompression bomb: {error}; not decoded"
    except Exception:  # not an image Pillow reads (a PDF, a WAVE…): not ours to judge
        return ""
    if width * height > most:
        return (
            f"decompression bomb: {width}x{height} = {width * height:,} pixels, more than "
            f"the limit of {most:,} (PRESERVATION_MAX_IMAGE_PIXELS); not decoded"
        )
    return ""
