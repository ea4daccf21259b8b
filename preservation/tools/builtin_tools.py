"""In-process commands of the format policy registry, for formats a library handles.

Raster images go through Pillow, PDFs through pikepdf (qpdf), PCM WAVE through the
standard library's ``wave``, XML through lxml: no subprocess per file. Converters take
(source, output) and write ``output``; validators take (source, None) and return the
message of a pass, raising on a failure.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

from preservation.core.safe_xml import parse_file

THUMBNAIL_SIZE = (100, 100)


def _open_image(source: Path):
    from PIL import Image

    from preservation.tools.pixel_limit import bomb

    reason = bomb(source)
    if reason:
        raise ValueError(reason)  # never decoded
    image = Image.open(source)
    image.load()
    return image


def _flattened(image):
    """RGB on white: JPEG has no alpha and no palette."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "P", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, "white")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB") if image.mode != "RGB" else image


def validate_image(source: Path, _output: None = None) -> str:
    """Decode every frame; a truncated or corrupt image raises with Pillow's message, a
    decompression bomb without being decoded."""
    from PIL import Image

    from preservation.tools.pixel_limit import bomb

    reason = bomb(source)
    if reason:
        raise ValueError(reason)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(source) as image:
            image.verify()
        with Image.open(source) as image:
            frames = getattr(image, "n_frames", 1)
            for frame in range(frames):
                image.seek(frame)
                image.load()
            size = f"{image.width}x{image.height}"
            return f"{image.format} {size} {image.mode}, {frames} frame(s) decoded"


def validate_pdf(source: Path, _output: None = None) -> str:
    """Open with qpdf (through pikepdf) and check the structure; problems raise."""
    import pikepdf

    with pikepdf.open(source) as pdf:
        problems = pdf.check_pdf_syntax()
        pages = len(pdf.pages)
    if problems:
        raise ValueError("; ".join(str(p) for p in problems))
    return f"PDF {pdf.pdf_version}, {pages} page(s), no structural problems"


#: WAVE_FORMAT_EXTENSIBLE's sub-format for PCM (KSDATAFORMAT_SUBTYPE_PCM, as stored).
_PCM_SUBFORMAT = b"\x01\x00\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


def _wave_reader():
    """The standard library's WAVE reader, taught WAVE_FORMAT_EXTENSIBLE with PCM samples
    (what 24-bit and multichannel WAVE files are, FFmpeg's preservation copies among them),
    which Python reads only from 3.12; any other sub-format stays "unknown format"."""
    import struct
    import wave

    class Reader(wave.Wave_read):
        def _read_fmt_chunk(self, chunk):
            head = chunk.read(16)
            if len(head) < 16:
                raise EOFError
            tag, channels, rate, _, _, bits = struct.unpack("<HHLLHH", head)
            if tag != 0xFFFE:
                chunk.seek(0)
                return super()._read_fmt_chunk(chunk)
            extension = chunk.read(24)  # size, valid bits, channel mask, sub-format
            if len(extension) < 24:
                raise EOFError
            if extension[8:] != _PCM_SUBFORMAT:
                raise wave.Error("unknown format: WAVE_FORMAT_EXTENSIBLE, not PCM")
            self._nchannels, self._framerate = channels, rate
            self._sampwidth = (bits + 7) // 8
            if not self._sampwidth or not channels:
                raise wave.Error("bad sample width or number of channels")
            self._framesize = channels * self._sampwidth
            self._comptype, self._compname = "NONE", "not compressed"

    return Reader


def validate_wav(source: Path, _output: None = None) -> str:
    """Read a PCM WAVE file's chunks and every frame with the standard library: a
    truncated or malformed file raises. WAVE with another codec (ADPCM, float, …) is
    decoded by FFmpeg instead, as other audio is."""
    import wave

    from preservation.core.settings import load_settings
    from preservation.tools.batch_tools import ffmpeg_decode

    try:
        with _wave_reader()(str(source)) as sound:
            params = sound.getparams()
            expected = params.nframes * params.nchannels * params.sampwidth
            read = 0
            while frames := sound.readframes(1 << 16):
                read += len(frames)
    except wave.Error as error:
        if "unknown format" not in str(error):
            raise ValueError(f"not a well-formed WAVE file: {error}") from None
        decoded = ffmpeg_decode([source], load_settings().tool_timeout)[str(source)]
        if not decoded.ok:
            raise ValueError(decoded.message) from None
        return "WAVE (not PCM) decoded by FFmpeg without errors"
    except EOFError:
        raise ValueError("truncated WAVE file: a chunk ends early") from None
    if read != expected:
        raise ValueError(f"truncated WAVE file: {read} of {expected} bytes of sample data")
    seconds = params.nframes / params.framerate if params.framerate else 0
    return (
        f"PCM WAVE, {params.nchannels} channel(s), {params.sampwidth * 8}-bit, "
        f"{params.framerate} Hz, {seconds:.1f} s, every frame read"
    )


def validate_xml(source: Path, _output: None = None) -> str:
    """Parse without resolving entities or fetching anything; errors raise."""
    parse_file(source)
    return "well-formed"


def image_to_tiff(source: Path, output: Path) -> str:
    """Preservation TIFF (LZW, lossless), every frame kept."""
    image = _open_image(source)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    image.save(output, "TIFF", compression="tiff_lzw", save_all=getattr(image, "n_frames", 1) > 1)
    return ""


def image_to_jpeg(source: Path, output: Path) -> str:
    """Access JPEG (first frame, flattened on white, quality 85)."""
    _flattened(_open_image(source)).save(output, "JPEG", quality=85)
    return ""


def image_thumbnail(source: Path, output: Path) -> str:
    """A thumbnail JPEG of at most 100x100 pixels."""
    image = _flattened(_open_image(source))
    image.thumbnail(THUMBNAIL_SIZE)
    image.save(output, "JPEG", quality=80)
    return ""


def copy(source: Path, output: Path) -> str:
    """The file itself, for formats fit for access as they are."""
    shutil.copyfile(source, output)
    return ""
