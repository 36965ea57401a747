"""Thought tags: split from the answer whole, and while streaming at every cut point."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

from vertexchat._thoughts import TextPiece, ThoughtSplitter, split_thoughts

THOUGHTS_SOURCE = str(Path(__file__).parents[1] / "vertexchat" / "_thoughts.py")

T: Final = "thought"
A: Final = "answer"

# (content, marker, expected pieces with neighbours of the same kind merged)
CASES: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("<think>plan</think>Hello", "think", [(T, "plan"), (A, "Hello")]),
    ("just an answer", "think", [(A, "just an answer")]),
    (
        "<think>a</think>\n\n<think>b</think>Final",
        "think",
        [(T, "a"), (A, "\n\n"), (T, "b"), (A, "Final")],
    ),
    ("<think>a</think><think>b</think>x", "think", [(T, "ab"), (A, "x")]),
    ("1 < 2 and <thinking> <think <thin", "think", [(A, "1 < 2 and <thinking> <think <thin")]),
    ("a</think>b", "think", [(A, "a</think>b")]),
    ("<think>a<think>b</think>c", "think", [(T, "a<think>b"), (A, "c")]),
    ("<think>never closed </thi", "think", [(T, "never closed </thi")]),
    ("a<think></think>b", "think", [(A, "ab")]),
    ("pre <vc>думка 🤔</vc>відповідь ✓", "vc", [(A, "pre "), (T, "думка 🤔"), (A, "відповідь ✓")]),
    ("<<t>><</t>>", "t", [(A, "<"), (T, "><"), (A, ">")]),
    ("<думка>x</думка>y<", "думка", [(T, "x"), (A, "y<")]),
]


def stream(marker: str, *deltas: str) -> list[list[TextPiece]]:
    """Feed the deltas, then close; return each call's result."""
    splitter = ThoughtSplitter(marker)
    return [splitter.feed(delta) for delta in deltas] + [splitter.close()]


def merged(results: list[list[TextPiece]]) -> list[tuple[str, str]]:
    """Flatten the results, merging neighbours of the same kind across calls."""
    out: list[tuple[str, str]] = []
    for piece in (piece for result in results for piece in result):
        if out and out[-1][0] == piece.kind:
            out[-1] = (piece.kind, out[-1][1] + piece.text)
        else:
            out.append((piece.kind, piece.text))
    return out


def check_result_shape(results: list[list[TextPiece]]) -> None:
    for result in results:
        assert all(piece.text for piece in result), result
        assert all(a.kind != b.kind for a, b in itertools.pairwise(result)), result


@pytest.mark.parametrize(("content", "marker", "expected"), CASES)
def test_whole_content_in_one_feed(content: str, marker: str, expected: list[object]) -> None:
    results = stream(marker, content)
    check_result_shape(results)
    assert merged(results) == expected


@pytest.mark.parametrize(("content", "marker", "expected"), CASES)
def test_two_pieces_at_every_position(content: str, marker: str, expected: list[object]) -> None:
    for cut in range(len(content) + 1):
        results = stream(marker, content[:cut], content[cut:])
        check_result_shape(results)
        assert merged(results) == expected, cut


@pytest.mark.parametrize(("content", "marker", "expected"), CASES)
def test_three_pieces_at_every_pair(content: str, marker: str, expected: list[object]) -> None:
    for first in range(len(content) + 1):
        for second in range(first, len(content) + 1):
            deltas = content[:first], content[first:second], content[second:]
            results = stream(marker, *deltas)
            check_result_shape(results)
            assert merged(results) == expected, (first, second)


@pytest.mark.parametrize(("content", "marker", "expected"), CASES)
def test_one_character_at_a_time(content: str, marker: str, expected: list[object]) -> None:
    results = stream(marker, *content)
    check_result_shape(results)
    assert merged(results) == expected


def test_text_is_emitted_immediately() -> None:
    splitter = ThoughtSplitter("think")
    assert splitter.feed("Hello") == [TextPiece(A, "Hello")]
    assert splitter.feed("<think>Hm") == [TextPiece(T, "Hm")]
    assert splitter.feed(", so") == [TextPiece(T, ", so")]


def test_only_a_possible_tag_start_is_held_back() -> None:
    splitter = ThoughtSplitter("think")
    assert splitter.feed("Hello <thi") == [TextPiece(A, "Hello ")]
    assert splitter.feed("nk>idea</") == [TextPiece(T, "idea")]
    assert splitter.feed("think>Hi") == [TextPiece(A, "Hi")]


def test_a_lone_less_than_is_text_once_it_cannot_be_a_tag() -> None:
    splitter = ThoughtSplitter("think")
    assert splitter.feed("x <") == [TextPiece(A, "x ")]
    assert splitter.feed(" 3") == [TextPiece(A, "< 3")]


def test_close_flushes_a_partial_tag_as_the_current_kind() -> None:
    answer = ThoughtSplitter("think")
    assert answer.feed("see <thi") == [TextPiece(A, "see ")]
    assert answer.close() == [TextPiece(A, "<thi")]
    thought = ThoughtSplitter("think")
    assert thought.feed("<think>hm</thin") == [TextPiece(T, "hm")]
    assert thought.close() == [TextPiece(T, "</thin")]


def test_unclosed_thought_stays_thought() -> None:
    splitter = ThoughtSplitter("t")
    assert splitter.feed("<t>still thinking") == [TextPiece(T, "still thinking")]
    assert splitter.close() == []


# --- split_thoughts ---


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("<t>plan</t>\n\nHello", ("plan", "Hello")),
        ("no thoughts", (None, "no thoughts")),
        ("", (None, "")),
        ("<t></t>x", ("", "x")),
        ("<t>\n one \n</t><t>two</t>  x  y ", ("one\ntwo", "x  y ")),
        ("Intro <t>a</t> rest", ("a", "Intro rest")),
        ("  lead <t>a", ("a", "  lead ")),
        ("a</t>b <t>c<t>d</t>", ("c<t>d", "a</t>b ")),
        ("<tt>x</tt>", (None, "<tt>x</tt>")),
    ],
)
def test_split_thoughts(content: str, expected: tuple[str | None, str]) -> None:
    assert split_thoughts(content, "t") == expected


@pytest.mark.parametrize(("content", "marker", "expected"), CASES)
def test_split_thoughts_agrees_with_the_streaming_splitter(
    content: str, marker: str, expected: list[tuple[str, str]]
) -> None:
    # They differ only in whitespace tidying, so compare with all whitespace removed.
    def squeeze(text: str | None) -> str:
        return "".join((text or "").split())

    thoughts, answer = split_thoughts(content, marker)
    assert squeeze(thoughts) == squeeze("".join(text for kind, text in expected if kind == T))
    assert squeeze(answer) == squeeze("".join(text for kind, text in expected if kind == A))


# --- the marker ---


@pytest.mark.parametrize("marker", ["", "a b", "<x", "x>", "\t", "x\n", "\u3000"])
def test_invalid_marker_is_rejected_by_name(marker: str) -> None:
    with pytest.raises(ValueError, match="thought tag marker") as caught:
        ThoughtSplitter(marker)
    assert repr(marker) in str(caught.value)
    with pytest.raises(ValueError, match="thought tag marker"):
        split_thoughts("x", marker)


def test_thoughts_module_is_pure() -> None:
    # Loads the file itself, not the package: vertexchat/__init__ may import the HTTP client.
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('_thoughts', {THOUGHTS_SOURCE!r})\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "names = ('httpx', 'anyio', 'httpcore', 'vertexchat')\n"
        "print(sorted(name for name in names if name in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
