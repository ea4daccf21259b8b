"""Reading S3 objects whole through a network that breaks.

boto3's client retries a request that fails (with the connection's retry settings), but
not a response body that breaks part-way: a GET's body is streamed after the request has
succeeded. :func:`read_object` resumes such a read with a ranged GET conditional on the
same ETag, so a reset connection costs the bytes not yet read, not the whole download (or
the task), and a replaced object is never stitched onto the old one's first half.
"""

from __future__ import annotations

from collections.abc import Callable

MISSING = ("404", "NoSuchKey", "NotFound")


def error_code(exc: BaseException) -> str:
    """S3's error code of a botocore ClientError ("" for anything else)."""
    return str((getattr(exc, "response", None) or {}).get("Error", {}).get("Code", ""))


def is_missing(exc: BaseException) -> bool:
    """Whether S3 answered "no such key" (by its code, or only its status when the error
    body was lost on the way)."""
    return error_code(exc) in MISSING


#: Body reads that break, tried again from where they broke.
RESUMES = 5
CHUNK = 8 * 1024 * 1024


def _broken(exc: BaseException) -> bool:
    from botocore.exceptions import (
        ConnectionClosedError,
        IncompleteReadError,
        ReadTimeoutError,
        ResponseStreamingError,
    )
    from urllib3.exceptions import ProtocolError
    from urllib3.exceptions import ReadTimeoutError as UrllibReadTimeout

    broken = (
        ResponseStreamingError,
        IncompleteReadError,
        ReadTimeoutError,
        ConnectionClosedError,
        ProtocolError,
        UrllibReadTimeout,
        ConnectionError,
    )
    return isinstance(exc, broken)


def read_object(
    client, bucket: str, key: str, write: Callable[[bytes], object], if_match: str = ""
) -> str:
    """Stream ``s3://bucket/key`` into ``write`` (a file's or a hash's), resuming a body
    that breaks (at most :data:`RESUMES` times); returns the object's ETag. ``if_match``:
    the ETag it must have (S3 answers 412 PreconditionFailed otherwise)."""
    done, etag, resumed = 0, if_match, 0
    while True:
        request = {"Bucket": bucket, "Key": key}
        if etag:
            request["IfMatch"] = etag
        if done:
            request["Range"] = f"bytes={done}-"
        response = client.get_object(**request)
        etag = etag or response["ETag"]
        size = done + response["ContentLength"]
        body = response["Body"]
        try:
            while chunk := body.read(CHUNK):
                write(chunk)
                done += len(chunk)
            return etag
        except Exception as exc:
            if done == size:
                return etag  # broken after the last byte
            if not _broken(exc) or resumed >= RESUMES:
                raise
            resumed += 1
        finally:
            body.close()


def read_bytes(client, bucket: str, key: str) -> bytes:
    """A small object's content (an index record, a pointer, a feedback log)."""
    parts: list[bytes] = []
    read_object(client, bucket, key, parts.append)
    return b"".join(parts)
