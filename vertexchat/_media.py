"""Media content parts (``image_url``, ``input_audio``) from URIs, local files or bytes.

The helpers return plain dicts, ready for ``{"role": "user", "content": [text, part, …]}``.
Wire facts: ``shared/vertex-api.md`` §3.3 (parts) and §8 (7 MB inline limit per file).

* ``gs://`` URIs and ``http(s)://`` URLs are passed as is (Vertex has been seen refusing to
  fetch https URLs: prefer ``gs://`` or inline data). ``data:`` URIs are passed as is too.
* A local path (``str`` or ``os.PathLike``) is read and sent inline as base64, its MIME type
  taken from the extension, else from the file's first bytes.
* ``bytes`` are sent inline; give ``mime_type`` or let the magic numbers of PNG, JPEG, GIF,
  WEBP, PDF, WAV and MP3 decide.

Reading a file is blocking I/O; the files are small (≤ 7 MB), so these helpers are sync. In a
busy event loop, run them in a worker thread: ``await anyio.to_thread.run_sync(image_part, p)``.
"""

from __future__ import annotations

import base64
import mimetypes
import os
from typing import Any, Literal

from ._exceptions import InvalidRequestError

__all__ = ["INLINE_MEDIA_LIMIT", "audio_part", "image_part", "media_part"]

INLINE_MEDIA_LIMIT = 7 * 1024 * 1024
"""Largest file Vertex takes inline (7 MB); larger files go through Cloud Storage (``gs://``)."""

MediaSource = str | os.PathLike[str] | bytes
_URI_SCHEMES = ("gs://", "https://", "http://")
_AUDIO_FORMATS = {
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
}


def image_part(
    source: MediaSource,
    *,
    mime_type: str | None = None,
    detail: Literal["auto", "low", "high"] | None = None,
) -> dict[str, Any]:
    """``{"type": "image_url", "image_url": {"url": …}}`` for an image URI, file or bytes."""
    image_url: dict[str, Any] = {"url": _url(source, mime_type)}
    if detail is not None:
        image_url["detail"] = detail
    return {"type": "image_url", "image_url": image_url}


def media_part(source: MediaSource, *, mime_type: str | None = None) -> dict[str, Any]:
    """Any other media (PDF, video, audio, text…) as an ``image_url`` part with a data URI.

    Vertex takes inline data of any MIME type through ``image_url`` (§3.3); a ``gs://`` URI is
    passed as is (Vertex then assumes an image unless it can tell otherwise).
    """
    return {"type": "image_url", "image_url": {"url": _url(source, mime_type)}}


def audio_part(source: MediaSource, *, format: str | None = None) -> dict[str, Any]:
    """``{"type": "input_audio", "input_audio": {"data", "format"}}``.

    ``data`` is bare base64 (no ``data:`` prefix, as in Google's sample) or the ``gs://``/URL
    as given. ``format`` (``"wav"``, ``"mp3"`` or a MIME type such as ``"audio/ogg"``)
    defaults to what the file name or the bytes say.
    """
    if isinstance(source, str) and source.startswith(_URI_SCHEMES):
        found = format or _audio_format(mimetypes.guess_type(source)[0])
        if not found:
            raise ValueError(f"cannot tell the audio format of {source!r}: pass format=…")
        return {"type": "input_audio", "input_audio": {"data": source, "format": found}}
    data, label = _read(source)
    found = format or _audio_format(_mime_of(source, data))
    if not found:
        raise ValueError(f"cannot tell the audio format of {label}: pass format=…")
    encoded = base64.b64encode(data).decode("ascii")
    return {"type": "input_audio", "input_audio": {"data": encoded, "format": found}}


def _url(source: MediaSource, mime_type: str | None) -> str:
    if isinstance(source, str) and source.startswith((*_URI_SCHEMES, "data:")):
        return source
    data, label = _read(source)
    mime = mime_type or _mime_of(source, data)
    if mime is None:
        raise ValueError(f"cannot tell the MIME type of {label}: pass mime_type=…")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _read(source: MediaSource) -> tuple[bytes, str]:
    """The bytes, size-checked before anything is read, and how to name them in messages."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        label = "the given bytes"
        _check_size(len(source), label)
        return bytes(source), label
    path = os.fspath(source)
    _check_size(os.stat(path).st_size, repr(path))
    with open(path, "rb") as file:
        return file.read(), repr(path)


def _mime_of(source: MediaSource, data: bytes) -> str | None:
    if not isinstance(source, (bytes, bytearray, memoryview)):
        guessed = mimetypes.guess_type(os.fspath(source))[0]
        if guessed:
            return guessed
    return sniff_mime_type(data)


def _audio_format(mime: str | None) -> str | None:
    if mime is None or not mime.startswith("audio/"):
        return None
    return _AUDIO_FORMATS.get(mime, mime)


def _check_size(size: int, label: str) -> None:
    if size > INLINE_MEDIA_LIMIT:
        raise InvalidRequestError(
            f"{label} is {size / 2**20:.1f} MB ({size} bytes); Vertex AI accepts at most 7 MB "
            "of inline data per file. Upload it to Cloud Storage and pass the gs:// URI instead."
        )


def sniff_mime_type(data: bytes) -> str | None:
    """The MIME type the first bytes announce (PNG, JPEG, GIF, WEBP, PDF, WAV, MP3), if any."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"RIFF") and data[8:12] == b"WAVE":
        return "audio/wav"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"ID3") or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "audio/mpeg"  # an ID3 tag, or an MPEG audio frame sync
    return None
