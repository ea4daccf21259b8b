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
from pathlib import Path


def limit() -> int:
    from PIL import Image

    value = os.environ.get("PRESERVATION_MAX_IMAGE_PIXELS")
    return int(value) if value else Image.MAX_IMAGE_PIXELS


def bomb(path: Path) -> str:
    """Why ``path`` must not be decoded ("" for an image within the limit, or a file
    Pillow does not read as an image: its own tools judge it)."""
    from PIL import Image

    most = limit()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
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
