"""Pure thought-tag splitting: ``<marker>thought</marker>answer`` into thoughts and answer.

With ``extra_body.google.thought_tag_marker = "X"`` and ``include_thoughts``, Vertex writes
thought summaries inline in ``content`` as ``<X>…</X>`` before the answer; in streams the tags
are cut across chunks anywhere (vertex-api.md §4.3). Rules, shared by both entry points: text
outside tags is answer, text inside is thought; tags do not nest (an opening tag inside a
thought and a closing tag inside the answer are plain text); an unclosed thought stays thought.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

__all__ = ["TextPiece", "ThoughtSplitter", "split_thoughts"]


class TextPiece(NamedTuple):
    """A run of text that is either thought summary or answer."""

    kind: Literal["thought", "answer"]
    text: str


class ThoughtSplitter:
    """Streaming splitter: ``feed(text)`` returns the pieces that are certain so far.

    Only a suffix that could still become a tag (``<X``, ``</``…) is held back; everything
    else comes out at once. Lossless: the pieces joined are the input without its tags.
    """

    def __init__(self, marker: str) -> None:
        self._open_tag, self._close_tag = _tags(marker)
        self._in_thought = False
        self._held = ""

    def feed(self, text: str) -> list[TextPiece]:
        """Consume the next text delta; return its pieces, same-kind neighbours merged."""
        pieces: list[TextPiece] = []
        text = self._held + text
        pos = 0
        while True:
            tag = self._close_tag if self._in_thought else self._open_tag
            found = text.find(tag, pos)
            if found < 0:
                break
            self._emit(pieces, text[pos:found])
            self._in_thought = not self._in_thought
            pos = found + len(tag)
        keep = _partial_tag_start(text, pos, tag)
        self._emit(pieces, text[pos:keep])
        self._held = text[keep:]
        return pieces

    def close(self) -> list[TextPiece]:
        """End of text: a held-back partial tag is text of the current kind after all."""
        pieces: list[TextPiece] = []
        self._emit(pieces, self._held)
        self._held = ""
        return pieces

    def _emit(self, pieces: list[TextPiece], text: str) -> None:
        if not text:
            return
        kind: Literal["thought", "answer"] = "thought" if self._in_thought else "answer"
        if pieces and pieces[-1].kind == kind:
            pieces[-1] = TextPiece(kind, pieces[-1].text + text)
        else:
            pieces.append(TextPiece(kind, text))


def split_thoughts(content: str, marker: str) -> tuple[str | None, str]:
    """Split a whole message into (thoughts or None when there is no block, answer).

    Tidied for display, unlike ``ThoughtSplitter``: each thought block is stripped of
    surrounding whitespace and blocks are joined with ``"\\n"``; whitespace directly after a
    closing tag (usually the blank line before the answer) is dropped from the answer.
    All other text is kept exactly, e.g. ``"<t>a</t>\\n\\nb"`` → ``("a", "b")``.
    """
    open_tag, close_tag = _tags(marker)
    thoughts: list[str] = []
    outside: list[str] = []  # outside[0] precedes the first tag; outside[i] follows block i
    pos = 0
    while (start := content.find(open_tag, pos)) >= 0:
        outside.append(content[pos:start])
        start += len(open_tag)
        end = content.find(close_tag, start)
        if end < 0:
            end = pos = len(content)
        else:
            pos = end + len(close_tag)
        thoughts.append(content[start:end].strip())
    outside.append(content[pos:])
    answer = outside[0] + "".join(part.lstrip() for part in outside[1:])
    return ("\n".join(thoughts) if thoughts else None), answer


def _tags(marker: str) -> tuple[str, str]:
    """The opening and closing tag for a marker, after checking it can form a tag."""
    if not marker or "<" in marker or ">" in marker or any(c.isspace() for c in marker):
        raise ValueError(
            f"invalid thought tag marker {marker!r}: must be non-empty, "
            "without '<', '>' or whitespace"
        )
    return f"<{marker}>", f"</{marker}>"


def _partial_tag_start(text: str, pos: int, tag: str) -> int:
    """Where the suffix of ``text[pos:]`` that may still grow into ``tag`` starts."""
    # A tag holds a single "<" (its first character), so only the last "<" can start one.
    start = text.rfind("<", max(pos, len(text) - len(tag) + 1))
    if start >= 0 and tag.startswith(text[start:]):
        return start
    return len(text)
