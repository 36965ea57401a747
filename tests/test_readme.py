"""Every ```python block of README.md runs, in order, against the emulator.

The blocks run like a ``python -m asyncio`` session pasted top to bottom: one namespace shared
by all blocks, top-level ``await`` allowed, in a scratch directory holding the files the
snippets name (``photo.jpg``, ``report.pdf``, ``memo.wav``). A block preceded by the line
``<!-- not-executed: reason -->`` is skipped (and must give a reason).

The one thing the harness changes is where requests go, from outside the library:
``vertexchat.Client`` is replaced, for the duration of the test, by a factory that builds the
real client with the in-process emulator as its ``http_client`` (unless the snippet passes its
own ``http_client`` or ``base_url``) and a static token instead of Application Default
Credentials (there are none here). Everything else — URL building, validation, retries,
parsing — is the library as a user gets it.
"""

from __future__ import annotations

import ast
import base64
import os
import re
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import vertexchat
from vertexchat._auth import ADC
from vertexchat.testing import Emulator

README = Path(__file__).resolve().parent.parent / "README.md"
_FENCE = re.compile(r"^```(\w*)\s*$")
_SKIP = re.compile(r"^<!--\s*not-executed:\s*(?P<reason>\S.*?)\s*-->\s*$")
# A 1x1 PNG; the snippets' image files only need to be real, small media.
_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@dataclass(frozen=True)
class Block:
    """One fenced code block of README.md."""

    line: int  # 1-based line of the opening fence
    language: str
    source: str
    skip_reason: str | None


def readme_blocks(text: str) -> list[Block]:
    """The fenced blocks of a Markdown text, with the not-executed marker before each."""
    blocks: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        if end == len(lines):
            raise AssertionError(f"README.md:{index + 1}: code block never closed")
        marker = _SKIP.match(lines[index - 1]) if index else None
        if index and lines[index - 1].startswith("<!-- not-executed") and marker is None:
            raise AssertionError(f"README.md:{index}: not-executed marker without a reason")
        source = "\n".join(lines[index + 1 : end]) + "\n"
        reason = marker.group("reason") if marker else None
        blocks.append(Block(index + 1, opening.group(1), source, reason))
        index = end + 1
    return blocks


def python_blocks() -> list[Block]:
    return [block for block in readme_blocks(README.read_text()) if block.language == "python"]


def test_the_parser_sees_markers_and_fences() -> None:
    text = (
        "intro\n```python\na = 1\n```\n<!-- not-executed: needs Google -->\n"
        "```python\nb = 2\n```\n```sh\nls\n```\n"
    )
    blocks = readme_blocks(text)
    assert [(b.line, b.language, b.source, b.skip_reason) for b in blocks] == [
        (2, "python", "a = 1\n", None),
        (6, "python", "b = 2\n", "needs Google"),
        (9, "sh", "ls\n", None),
    ]
    with pytest.raises(AssertionError, match="without a reason"):
        readme_blocks("<!-- not-executed -->\n```python\nx\n```\n")


def test_readme_has_python_blocks_and_few_are_skipped() -> None:
    blocks = python_blocks()
    assert len(blocks) >= 10
    skipped = [block for block in blocks if block.skip_reason]
    assert len(skipped) <= len(blocks) // 4, [block.line for block in skipped]


def _emulated_client_factory(emulator: Emulator, opened: list[Any]) -> Any:
    real = vertexchat.Client

    def factory(*args: Any, **kwargs: Any) -> vertexchat.Client:
        if kwargs.get("http_client") is None and not kwargs.get("base_url"):
            http = httpx.AsyncClient(transport=emulator.transport())
            opened.append(http)
            kwargs["http_client"] = http
        if kwargs.get("auth", ADC) is ADC:
            kwargs["auth"] = "readme-token"
        client = real(*args, **kwargs)
        opened.append(client)
        return client

    return factory


def _write_media_files(directory: Path) -> None:
    (directory / "photo.jpg").write_bytes(_PNG)  # the emulator reads the data URI, not the type
    (directory / "report.pdf").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n")
    wav = b"RIFF" + (36).to_bytes(4, "little") + b"WAVEfmt " + bytes(24) + b"data" + bytes(4)
    (directory / "memo.wav").write_bytes(wav)


async def _run_block(block: Block, namespace: dict[str, Any]) -> None:
    code = compile(
        block.source,
        f"README.md:{block.line}",
        "exec",
        flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
        dont_inherit=True,
    )
    result = eval(code, namespace)  # the README's own code, run as documented
    if result is not None:
        await result


async def test_every_python_block_runs_against_the_emulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = Emulator()
    opened: list[Any] = []  # clients and http clients the snippets made; closed at the end
    monkeypatch.setattr(vertexchat, "Client", _emulated_client_factory(emulator, opened))
    monkeypatch.chdir(tmp_path)
    for name in (
        "GOOGLE_CLOUD_PROJECT",
        "GOOGLE_CLOUD_LOCATION",
        "GOOGLE_APPLICATION_CREDENTIALS",
    ):
        monkeypatch.delenv(name, raising=False)
    _write_media_files(tmp_path)
    namespace: dict[str, Any] = {"__name__": "__readme__"}
    ran = 0
    try:
        for block in python_blocks():
            if block.skip_reason:
                continue
            try:
                await _run_block(block, namespace)
            except BaseException as exc:  # report which README line broke, with the traceback
                trace = "".join(traceback.format_exception(exc))
                pytest.fail(f"README.md block at line {block.line} failed:\n{trace}")
            ran += 1
    finally:
        for resource in reversed(opened):
            await resource.aclose()
    assert ran >= 8
    assert emulator.requests, "no README snippet reached the emulator"
    assert os.getcwd() == str(tmp_path)
