"""Media helpers: parts from URIs, real small files, bytes; MIME detection; the inline limit."""

from __future__ import annotations

import base64
import pathlib
import struct
import wave
import zlib
from typing import Any

import httpx
import pytest

import vertexchat
from vertexchat import InvalidRequestError
from vertexchat._media import (
    INLINE_MEDIA_LIMIT,
    audio_part,
    image_part,
    media_part,
    sniff_mime_type,
)
from vertexchat._request import build_request
from vertexchat.testing import Emulator


def _png(width: int = 4, height: int = 4) -> bytes:
    """A real, valid PNG (grey pixels)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _wav(path: pathlib.Path) -> bytes:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * 800)
    return path.read_bytes()


def _data_url(part: dict[str, Any]) -> tuple[str, bytes]:
    url = part["image_url"]["url"]
    header, _, payload = url.partition(",")
    return header, base64.b64decode(payload)


# --- URIs pass through --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    ["gs://bucket/cat.jpg", "https://example.com/cat.png", "data:image/png;base64,AAAA"],
)
def test_image_uris_pass_as_is(uri: str) -> None:
    assert image_part(uri) == {"type": "image_url", "image_url": {"url": uri}}


def test_image_detail() -> None:
    part = image_part("gs://b/x.png", detail="low")
    assert part["image_url"] == {"url": "gs://b/x.png", "detail": "low"}


def test_audio_gcs_uri_format_from_extension_or_given() -> None:
    assert audio_part("gs://b/speech.mp3") == {
        "type": "input_audio",
        "input_audio": {"data": "gs://b/speech.mp3", "format": "mp3"},
    }
    assert audio_part("gs://b/clip", format="audio/ogg")["input_audio"]["format"] == "audio/ogg"
    with pytest.raises(ValueError, match="format="):
        audio_part("gs://b/clip")


# --- local files --------------------------------------------------------------------------------


def test_image_from_png_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "pixel.png"
    path.write_bytes(_png())
    header, data = _data_url(image_part(path))
    assert header == "data:image/png;base64"
    assert data == _png()
    assert image_part(str(path)) == image_part(path)


def test_mime_sniffed_when_extension_says_nothing(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "upload.bin_unknown"
    path.write_bytes(_png())
    header, _ = _data_url(image_part(path))
    assert header == "data:image/png;base64"


def test_pdf_file_as_media_part(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "doc.pdf"
    path.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")
    part = media_part(path)
    header, data = _data_url(part)
    assert part["type"] == "image_url"
    assert header == "data:application/pdf;base64"
    assert data.startswith(b"%PDF-")


def test_audio_from_wav_file(tmp_path: pathlib.Path) -> None:
    raw = _wav(tmp_path / "hello.wav")
    part = audio_part(tmp_path / "hello.wav")
    assert part["input_audio"]["format"] == "wav"
    assert not part["input_audio"]["data"].startswith("data:")
    assert base64.b64decode(part["input_audio"]["data"]) == raw


def test_unknown_file_type_asks_for_mime_type(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(b"\x00\x01\x02 nothing recognisable")
    with pytest.raises(ValueError, match="mime_type="):
        image_part(path)
    header, _ = _data_url(media_part(path, mime_type="application/octet-stream"))
    assert header == "data:application/octet-stream;base64"


def test_missing_file() -> None:
    with pytest.raises(FileNotFoundError):
        image_part("/nonexistent/cat.png")


def test_file_over_inline_limit_names_file_and_size(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "big.png"
    with path.open("wb") as out:
        out.write(_png())
        out.truncate(INLINE_MEDIA_LIMIT + 1)
    with pytest.raises(InvalidRequestError) as info:
        image_part(path)
    message = str(info.value)
    assert "big.png" in message
    assert f"({INLINE_MEDIA_LIMIT + 1} bytes)" in message
    assert "7.0 MB" in message
    assert "gs://" in message


def test_file_at_inline_limit_is_accepted(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "edge.png"
    with path.open("wb") as out:
        out.write(_png())
        out.truncate(INLINE_MEDIA_LIMIT)
    _, data = _data_url(image_part(path))
    assert len(data) == INLINE_MEDIA_LIMIT


# --- bytes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (_png(), "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "audio/wav"),
        (b"%PDF-1.7", "application/pdf"),
        (b"ID3\x04\x00", "audio/mpeg"),
        (b"\xff\xfb\x90\x00", "audio/mpeg"),
        (b"hello", None),
        (b"", None),
    ],
)
def test_sniff(data: bytes, mime: str | None) -> None:
    assert sniff_mime_type(data) == mime


def test_image_from_bytes() -> None:
    header, data = _data_url(image_part(_png()))
    assert (header, data) == ("data:image/png;base64", _png())
    header, _ = _data_url(image_part(b"raw", mime_type="image/heic"))
    assert header == "data:image/heic;base64"
    with pytest.raises(ValueError, match="the given bytes"):
        image_part(b"raw")


def test_audio_from_mp3_bytes() -> None:
    part = audio_part(b"ID3\x04\x00\x00\x00\x00\x00\x00")
    assert part["input_audio"]["format"] == "mp3"
    with pytest.raises(ValueError, match="format="):
        audio_part(b"not audio")


def test_bytes_over_inline_limit() -> None:
    with pytest.raises(InvalidRequestError, match=r"the given bytes is 7\.0 MB"):
        image_part(bytes(INLINE_MEDIA_LIMIT + 1), mime_type="image/png")


# --- the parts are valid requests ---------------------------------------------------------------


def test_parts_validate_as_user_content(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "p.png"
    path.write_bytes(_png())
    content = [
        {"type": "text", "text": "What is this?"},
        image_part(path, detail="high"),
        media_part(b"%PDF-1.4 x"),
        audio_part("gs://b/a.wav"),
    ]
    request = build_request(
        {"model": "m", "messages": [{"role": "user", "content": content}]}, publisher_model=True
    )
    assert len(request.messages[0].content) == 4  # type: ignore[arg-type]


async def test_media_parts_end_to_end(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "p.png"
    path.write_bytes(_png())
    emulator = Emulator()
    client = vertexchat.Client(
        project="p",
        location="us-central1",
        auth="t",
        http_client=httpx.AsyncClient(transport=emulator.transport()),
    )
    async with client:
        completion = await client.chat.completions.create(
            model="gemini-2.5-flash",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Describe"},
                        image_part(path),
                        audio_part(_wav(tmp_path / "a.wav")),
                    ],
                }
            ],
        )
    size = len(_png()) + len((tmp_path / "a.wav").read_bytes())
    assert f"I received 2 media part(s) ({size} bytes)" in (
        completion.choices[0].message.content or ""
    )
