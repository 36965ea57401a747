"""Pure: thoughts apart from answers in completions and stream chunks.

Vertex returns thought summaries inline in ``content`` as ``<marker>…</marker>`` when the
request sets ``extra_body.google.thought_tag_marker`` (``shared/vertex-api.md`` §4.3).
The splitting itself lives in ``_thoughts``; this module applies it to the response models.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._response_models import ChatCompletion, ChatCompletionChunk, ChoiceDelta, ChunkChoice
from ._thoughts import TextPiece, ThoughtSplitter, split_thoughts

__all__ = ["ChunkThoughtSeparator", "separate_completion"]


def separate_completion(completion: ChatCompletion, marker: str) -> ChatCompletion:
    """Give every message ``thoughts``, answer-only ``content`` and the ``raw_content``."""
    for choice in completion.choices:
        message = choice.message
        if message.content is not None and message.raw_content is None:
            message.raw_content = message.content
            message.thoughts, message.content = split_thoughts(message.content, marker)
    return completion


class ChunkThoughtSeparator:
    """Splits each chunk's ``delta.content`` into ``thoughts`` and answer ``content``.

    One splitter per choice holds back a partial tag across chunk boundaries; ``flush``
    returns a last chunk carrying whatever was held back when the stream ends.
    """

    def __init__(self, marker: str) -> None:
        self._marker = marker
        self._splitters: dict[int, ThoughtSplitter] = {}
        self._last: ChatCompletionChunk | None = None

    def apply(self, chunk: ChatCompletionChunk) -> None:
        """Rewrite the chunk's deltas in place (the raw text stays in ``raw_content``)."""
        self._last = chunk
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content is None:
                continue
            splitter = self._splitters.get(choice.index)
            if splitter is None:
                splitter = self._splitters[choice.index] = ThoughtSplitter(self._marker)
            delta.raw_content = delta.content
            _assign(delta, splitter.feed(delta.content))

    def flush(self) -> ChatCompletionChunk | None:
        """A final chunk with text held back at the end of the stream, or ``None``."""
        choices = []
        for index, splitter in sorted(self._splitters.items()):
            delta = ChoiceDelta(role="assistant")
            _assign(delta, splitter.close())
            if delta.content is not None or delta.thoughts is not None:
                choices.append(ChunkChoice(index=index, delta=delta))
        if not choices:
            return None
        last = self._last or ChatCompletionChunk()
        return ChatCompletionChunk(
            id=last.id, created=last.created, model=last.model, choices=choices
        )


def _assign(delta: ChoiceDelta, pieces: Sequence[TextPiece]) -> None:
    thoughts = "".join(text for kind, text in pieces if kind == "thought")
    answer = "".join(text for kind, text in pieces if kind == "answer")
    delta.thoughts = thoughts or None
    delta.content = answer or None
