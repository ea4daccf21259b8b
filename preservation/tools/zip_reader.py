"""Reading a zip the way its specification says, whatever tool wrote it.

Python's ``zipfile`` reads the structure and Stored, Deflate, BZIP2 and LZMA data. Around
it:

* **Names** are decoded here, from the bytes the archive holds: UTF-8 when general purpose
  bit 11 says so (bytes that are not UTF-8 are kept as surrogate escapes: recoverable,
  never an error); else the Info-ZIP Unicode Path extra field (0x7075) when its CRC
  matches the name; else UTF-8 when the bytes are valid UTF-8 beyond ASCII (macOS's
  Archive Utility writes UTF-8 without setting the bit); else CP437, the specification's
  default (Windows' and DOS's tools). ``zipfile`` is shown every name as CP437 (bit 11
  cleared as it reads, see :class:`_Overlay`), which maps each byte to one character, so
  the exact bytes come back with ``encode("cp437")``; it would otherwise refuse a whole
  archive over one name that claims UTF-8 and is not.
* **Deflate64** (method 9, what Windows' Explorer uses for large files) is inflated with
  ``inflate64``.
* Each member's data is streamed, never held in memory, at most the size the index
  declares, and its CRC-32 checked.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

UTF8_FLAG = 0x800
DEFLATE64 = 9
UNICODE_PATH_EXTRA = 0x7075
_CD_FLAGS, _LOCAL_FLAGS = 8, 6  # offsets of the flag bits in the two headers


@dataclass(frozen=True)
class ZipEntry:
    """One member of a zip, as its central directory declares it."""

    name: str  # decoded (see the module's rules); "/" separates folders
    raw_name: bytes
    encoding: str  # utf-8 | unicode-path-extra | utf-8-unflagged | cp437 | ascii
    size: int
    compressed_size: int
    method: int
    crc: int
    is_dir: bool
    is_link: bool
    encrypted: bool
    info: zipfile.ZipInfo


class _Overlay(io.RawIOBase):
    """A file whose reads see some bytes replaced (the UTF-8 flag bits, cleared)."""

    def __init__(self, handle: BinaryIO):
        self.handle = handle
        self.patches: dict[int, bytes] = {}

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.handle.seek(offset, whence)

    def tell(self) -> int:
        return self.handle.tell()

    def readinto(self, buffer) -> int:
        start = self.handle.tell()
        data = self.handle.read(len(buffer))
        if self.patches and data:
            data = bytearray(data)
            for offset, patch in self.patches.items():
                for index, byte in enumerate(patch):
                    where = offset + index - start
                    if 0 <= where < len(data):
                        data[where] = byte
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.handle.close()
        super().close()


def _central_directory_flags(handle: BinaryIO) -> list[tuple[int, int]]:
    """(offset of the entry, its flag bits) for every central directory entry."""
    end = zipfile._EndRecData(handle)  # noqa: SLF001 (the stdlib's own end-record reader)
    if not end:
        raise zipfile.BadZipFile("File is not a zip file")
    size, offset = end[zipfile._ECD_SIZE], end[zipfile._ECD_OFFSET]
    concat = end[zipfile._ECD_LOCATION] - size - offset
    if end[zipfile._ECD_SIGNATURE] == zipfile.stringEndArchive64:
        concat -= zipfile.sizeEndCentDir64 + zipfile.sizeEndCentDir64Locator
    start = offset + concat
    handle.seek(start)
    data = handle.read(size)
    entries, position = [], 0
    while position + zipfile.sizeCentralDir <= len(data):
        header = struct.unpack(
            zipfile.structCentralDir, data[position : position + zipfile.sizeCentralDir]
        )
        if header[0] != zipfile.stringCentralDir:
            break  # zipfile says what is wrong with it
        entries.append((start + position, header[zipfile._CD_FLAG_BITS]))
        position += (
            zipfile.sizeCentralDir
            + header[zipfile._CD_FILENAME_LENGTH]
            + header[zipfile._CD_EXTRA_FIELD_LENGTH]
            + header[zipfile._CD_COMMENT_LENGTH]
        )
    return entries


def _unicode_path(extra: bytes, raw: bytes) -> str | None:
    """The Info-ZIP Unicode Path extra field's name, if it is there and still matches."""
    position = 0
    while position + 4 <= len(extra):
        kind, length = struct.unpack_from("<HH", extra, position)
        body = extra[position + 4 : position + 4 + length]
        if kind == UNICODE_PATH_EXTRA and len(body) >= 5 and body[0] == 1:
            (crc,) = struct.unpack_from("<L", body, 1)
            if crc == zlib.crc32(raw):
                try:
                    return body[5:].decode("utf-8")
                except UnicodeDecodeError:
                    return None
        position += 4 + length
    return None


def decode_name(raw: bytes, flags: int, extra: bytes = b"") -> tuple[str, str]:
    """(name, how it was decoded) from a member name's bytes."""
    if flags & UTF8_FLAG:
        return raw.decode("utf-8", "surrogateescape"), "utf-8"
    unicode_path = _unicode_path(extra, raw)
    if unicode_path is not None:
        return unicode_path, "unicode-path-extra"
    if raw.isascii():
        return raw.decode("ascii"), "ascii"
    try:
        return raw.decode("utf-8"), "utf-8-unflagged"
    except UnicodeDecodeError:
        return raw.decode("cp437"), "cp437"


class ZipReader:
    """An open zip: its entries, and their data streamed out."""

    def __init__(self, path: Path):
        self.path = Path(path)
        handle = open(path, "rb")  # noqa: SIM115 (closed by close())
        try:
            flags = _central_directory_flags(handle)
            self.overlay = _Overlay(handle)
            for offset, bits in flags:
                if bits & UTF8_FLAG:
                    cleared = struct.pack("<H", bits & ~UTF8_FLAG)
                    self.overlay.patches[offset + _CD_FLAGS] = cleared
            # Unbuffered above the patches: no read ever sees a byte from before a patch.
            self.archive = zipfile.ZipFile(self.overlay)
        except BaseException:
            handle.close()
            raise
        self.entries: list[ZipEntry] = []
        for info, (_, bits) in zip(self.archive.infolist(), flags):
            raw = info.orig_filename.encode("cp437")
            name, encoding = decode_name(raw, bits, info.extra)
            if bits & UTF8_FLAG:
                # The local header repeats the flag; zipfile compares the two names.
                self.overlay.patches[info.header_offset + _LOCAL_FLAGS] = struct.pack(
                    "<H", self._local_flags(info) & ~UTF8_FLAG
                )
            mode = info.external_attr >> 16
            if info.create_system == 0:  # DOS and Windows tools may write "\\" for "/"
                name = name.replace("\\", "/")
            self.entries.append(
                ZipEntry(
                    name=name,
                    raw_name=raw,
                    encoding=encoding,
                    size=info.file_size,
                    compressed_size=info.compress_size,
                    method=info.compress_type,
                    crc=info.CRC,
                    is_dir=name.endswith("/"),
                    is_link=(mode & 0o170000) == 0o120000,
                    encrypted=bool(info.flag_bits & 0x1),
                    info=info,
                )
            )

    def _local_flags(self, info: zipfile.ZipInfo) -> int:
        handle = self.overlay.handle
        handle.seek(info.header_offset + _LOCAL_FLAGS)
        return struct.unpack("<H", handle.read(2))[0]

    def close(self) -> None:
        self.archive.close()
        self.overlay.close()

    def __enter__(self) -> ZipReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def read(self, entry: ZipEntry, limit: int) -> bytes:
        """A small member whole (metadata files), refusing one bigger than ``limit``."""
        if entry.size > limit:
            raise ValueError(f"{entry.name} is {entry.size} bytes, more than {limit}")
        buffer = io.BytesIO()
        self.copy(entry, buffer)
        return buffer.getvalue()

    def copy(self, entry: ZipEntry, target: BinaryIO) -> int:
        """Stream a member's data into ``target``; returns the bytes written. Never more
        than the index declares; a CRC that does not match raises BadZipFile."""
        if entry.method == DEFLATE64:
            return self._inflate64(entry, target)
        with self.archive.open(entry.info) as source:  # zipfile checks the CRC at the end
            return _copy_bounded(source, target, entry)

    def extract(self, entry: ZipEntry, path: Path) -> int:
        with open(path, "wb") as target:
            written = self.copy(entry, target)
        stamp = _timestamp(entry.info)
        if stamp is not None:
            os.utime(path, (stamp, stamp))
        return written

    def _inflate64(self, entry: ZipEntry, target: BinaryIO) -> int:
        import inflate64

        handle = self.overlay.handle
        handle.seek(entry.info.header_offset)
        header = struct.unpack(zipfile.structFileHeader, handle.read(zipfile.sizeFileHeader))
        handle.seek(header[zipfile._FH_FILENAME_LENGTH] + header[zipfile._FH_EXTRA_FIELD_LENGTH], 1)
        inflater, left, written, crc = inflate64.Inflater(), entry.compressed_size, 0, 0
        while left > 0:
            chunk = handle.read(min(left, 1 << 20))
            if not chunk:
                raise zipfile.BadZipFile(f"{entry.name}: the archive ends inside its data")
            left -= len(chunk)
            data = inflater.inflate(chunk)
            written += len(data)
            if written > entry.size:
                raise zipfile.BadZipFile(f"{entry.name}: more data than its index declares")
            crc = zlib.crc32(data, crc)
            target.write(data)
        if crc != entry.crc or written != entry.size:
            raise zipfile.BadZipFile(f"Bad CRC-32 for file {entry.name!r}")
        return written


def _copy_bounded(source: BinaryIO, target: BinaryIO, entry: ZipEntry) -> int:
    written = 0
    while chunk := source.read(1 << 20):
        written += len(chunk)
        if written > entry.size:
            raise zipfile.BadZipFile(f"{entry.name}: more data than its index declares")
        target.write(chunk)
    return written


def _timestamp(info: zipfile.ZipInfo) -> float | None:
    import time

    try:
        return time.mktime((*info.date_time, 0, 0, -1))
    except (OverflowError, ValueError):
        return None
