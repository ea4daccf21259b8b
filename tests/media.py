"""Small real media files, generated with the real tools (Pillow, FFmpeg, Ghostscript,
LibreOffice), for the characterization, validation and normalization tests."""

from __future__ import annotations

import io
import subprocess
import tempfile
import zipfile
from functools import cache
from pathlib import Path


def _ffmpeg(*args: str, suffix: str) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / f"out{suffix}"
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args, str(out)], check=True)
        return out.read_bytes()


@cache
def image(fmt: str, size: tuple[int, int] = (48, 32)) -> bytes:
    """A small image with a gradient, in a Pillow format name (PNG, JPEG, GIF, BMP, TIFF)."""
    from PIL import Image

    picture = Image.new("RGB", size)
    picture.putdata(
        [(x * 5 % 256, y * 7 % 256, 128) for y in range(size[1]) for x in range(size[0])]
    )
    if fmt == "GIF":
        picture = picture.convert("P")
    buffer = io.BytesIO()
    picture.save(buffer, fmt)
    return buffer.getvalue()


@cache
def wav() -> bytes:
    return _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=0.5", suffix=".wav")


@cache
def wav_24_bit() -> bytes:
    """The sine tone as 24-bit PCM WAVE (WAVEFORMATEXTENSIBLE, as FFmpeg writes it)."""
    return _ffmpeg(
        "-f", "lavfi", "-i", "sine=frequency=440:duration=0.5", "-c:a", "pcm_s24le", suffix=".wav"
    )


@cache
def float_wav() -> bytes:
    """The sine tone as 32-bit float WAVE (WAVEFORMATEXTENSIBLE): not PCM."""
    return _ffmpeg(
        "-f", "lavfi", "-i", "sine=frequency=440:duration=0.5", "-c:a", "pcm_f32le", suffix=".wav"
    )


@cache
def audio(suffix: str, seconds: float = 0.5) -> bytes:
    """The sine tone as MP3, FLAC or AIFF (suffix ``.mp3``, ``.flac``, ``.aiff``)."""
    return _ffmpeg("-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", suffix=suffix)


@cache
def video(suffix: str = ".mp4") -> bytes:
    """Half a second of test pattern with sound (``.mp4``, ``.mov``, ``.avi``, ``.mkv``)."""
    codec = ["-c:v", "mpeg4"] if suffix == ".avi" else ["-c:v", "libx264", "-pix_fmt", "yuv420p"]
    return _ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc=duration=0.5:size=64x48:rate=10",
        "-f",
        "lavfi",
        "-i",
        "sine=duration=0.5",
        "-shortest",
        *codec,
        suffix=suffix,
    )


def _ghostscript(device: str, postscript: str, *options: str, suffix: str) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / f"out{suffix}"
        subprocess.run(
            [
                "gs",
                "-q",
                "-dSAFER",
                f"-sDEVICE={device}",
                *options,
                "-o",
                str(out),
                "-c",
                postscript,
            ],
            check=True,
        )
        return out.read_bytes()


@cache
def pdf() -> bytes:
    return _ghostscript(
        "pdfwrite",
        "/Helvetica findfont 24 scalefont setfont 72 700 moveto (Hello archive) show showpage",
        suffix=".pdf",
    )


@cache
def office_document(text: str = "Dear archivist, this letter is preserved.") -> bytes:
    """A .docx made by LibreOffice from a line of text."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "letter.txt"
        source.write_text(text + "\n")
        subprocess.run(
            [
                "soffice",
                f"-env:UserInstallation=file://{folder}/profile",
                "--headless",
                "--convert-to",
                "docx",
                "--outdir",
                folder,
                str(source),
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
        return (Path(folder) / "letter.docx").read_bytes()


@cache
def subtitles_only_mp4() -> bytes:
    """An MP4 holding one timed-text track and no audio or video."""
    with tempfile.TemporaryDirectory() as folder:
        srt = Path(folder) / "captions.srt"
        srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n")
        return _ffmpeg("-i", str(srt), "-c:s", "mov_text", suffix=".mp4")


def damaged_in_the_middle(data: bytes) -> bytes:
    """Garbage over a stretch in the middle: the file opens, its decoding fails there."""
    middle = len(data) // 2
    return data[:middle] + b"\xff" * 3000 + data[middle + 3000 :]


def truncated(data: bytes) -> bytes:
    """The first half of a file: what an interrupted copy leaves."""
    return data[: len(data) // 2]


BROKEN_PDF = (
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
)


@cache
def text_image() -> bytes:
    """A PNG of the words "Hello archive", rendered by Ghostscript, for OCR."""
    return _ghostscript(
        "pnggray",
        "/Helvetica findfont 28 scalefont setfont 20 30 moveto (Hello archive) show showpage",
        "-r150",
        "-dDEVICEWIDTHPOINTS=300",
        "-dDEVICEHEIGHTPOINTS=80",
        "-dFIXEDMEDIA",
        suffix=".png",
    )


def zip_bytes(entries: dict[str, str]) -> bytes:
    """A zip holding ``entries`` (name -> text), in memory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in entries.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def raw_zip(entries: list[dict]) -> bytes:
    """A zip written byte by byte, as odd tools write them: each entry a dict with
    ``name`` (bytes, exactly as stored), ``data`` (bytes, stored uncompressed) and,
    optionally, ``flags`` (general purpose bits: 0x800 claims UTF-8 names), ``extra``
    (extra fields), ``system`` (0 = DOS/Windows, 3 = Unix), ``mode`` (Unix mode bits).
    Names may repeat: nothing here stops what zip tools do not stop either."""
    import struct
    import zlib

    body, central = bytearray(), bytearray()
    for entry in entries:
        name, data = entry["name"], entry.get("data", b"")
        flags, extra = entry.get("flags", 0), entry.get("extra", b"")
        system, mode = entry.get("system", 3), entry.get("mode", 0o100644)
        crc = zlib.crc32(data)
        offset = len(body)
        body += struct.pack(
            "<4s2B4HL2L2H",
            b"PK\x03\x04",
            20,
            0,
            flags,
            0,
            0,
            0x21,
            crc,
            len(data),
            len(data),
            len(name),
            len(extra),
        )
        body += name + extra + data
        central += struct.pack(
            "<4s4B4HL2L5H2L",
            b"PK\x01\x02",
            20,
            system,
            20,
            0,
            flags,
            0,
            0,
            0x21,
            crc,
            len(data),
            len(data),
            len(name),
            len(extra),
            0,
            0,
            0,
            mode << 16,
            offset,
        )
        central += name + extra
    end = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), len(body), 0
    )
    return bytes(body + central + end)


def unicode_path_extra(raw_name: bytes, unicode_name: str) -> bytes:
    """Info-ZIP's Unicode Path extra field (0x7075), as zip tools add it beside a legacy
    (CP437) name."""
    import struct
    import zlib

    body = b"\x01" + struct.pack("<L", zlib.crc32(raw_name)) + unicode_name.encode("utf-8")
    return struct.pack("<HH", 0x7075, len(body)) + body
