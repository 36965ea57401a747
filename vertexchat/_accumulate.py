"""Pure: stream chunks → the final ``ChatCompletion`` (``shared/vertex-api.md`` §6.2).

Text deltas are joined, ``finish_reason`` and ``usage`` are taken from whichever chunk carries
them, and tool-call fragments are merged by ``id``: Vertex's ``tool_calls[].index`` is
unreliable (the first call's fragments may arrive at index 1, 0, 0, …), so ``index`` is only a
fallback for fragments without an ``id``.
"""

from __future__ import annotations

from ._response_models import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    Choice,
    ChunkChoice,
    ExtraContentOut,
    FunctionCallOut,
    MessageAudio,
    ToolCallOut,
    Usage,
)

__all__ = ["ChunkAccumulator"]


class _ToolCallBuilder:
    __slots__ = ("arguments", "extra_content", "id", "name", "type")

    def __init__(self, call_id: str | None) -> None:
        self.id = call_id
        self.type: str | None = None
        self.name: str | None = None
        self.arguments: list[str] = []
        self.extra_content: ExtraContentOut | None = None

    def add(self, delta: ToolCallOut) -> None:
        self.type = self.type or delta.type
        # Vertex repeats the name on every fragment; OpenAI sends it once. Never concatenate.
        self.name = self.name or delta.function.name
        if delta.function.arguments:
            self.arguments.append(delta.function.arguments)
        if self.extra_content is None:
            self.extra_content = delta.extra_content

    def build(self) -> ToolCallOut:
        return ToolCallOut(
            id=self.id,
            type=self.type or "function",
            function=FunctionCallOut(name=self.name, arguments="".join(self.arguments)),
            extra_content=self.extra_content,
        )


class _ChoiceBuilder:
    __slots__ = ("audio", "by_id", "by_index", "calls", "content", "extra", "finish", "role")

    def __init__(self) -> None:
        self.role: str | None = None
        self.content: list[str] = []
        self.finish: str | None = None
        self.extra: ExtraContentOut | None = None
        self.audio: MessageAudio | None = None
        self.calls: list[_ToolCallBuilder] = []
        self.by_id: dict[str, _ToolCallBuilder] = {}
        self.by_index: dict[int, _ToolCallBuilder] = {}

    def add(self, choice: ChunkChoice) -> None:
        delta = choice.delta
        self.role = self.role or delta.role
        if delta.content:
            self.content.append(delta.content)
        if delta.tool_calls:
            for call in delta.tool_calls:
                self._call_for(call).add(call)
        if delta.extra_content is not None:
            self.extra = _merge_extra(self.extra, delta.extra_content)
        if delta.audio is not None:
            self.audio = delta.audio
        if choice.finish_reason is not None:
            self.finish = choice.finish_reason

    def _call_for(self, delta: ToolCallOut) -> _ToolCallBuilder:
        if delta.id is not None:
            builder = self.by_id.get(delta.id)
            if builder is None:
                builder = self.by_id[delta.id] = _ToolCallBuilder(delta.id)
                self.calls.append(builder)
        elif delta.index is not None and delta.index in self.by_index:
            builder = self.by_index[delta.index]
        elif delta.index is None and self.calls:
            builder = self.calls[-1]  # an id-less, index-less fragment continues the last call
        else:
            builder = _ToolCallBuilder(None)
            self.calls.append(builder)
        if delta.index is not None:
            self.by_index[delta.index] = builder
        return builder

    def build(self, index: int) -> Choice:
        message = ChatCompletionMessage(
            role=self.role or "assistant",
            content="".join(self.content) if self.content else None,
            tool_calls=[call.build() for call in self.calls] or None,
            audio=self.audio,
            extra_content=self.extra,
        )
        return Choice(index=index, message=message, finish_reason=self.finish)


def _merge_extra(old: ExtraContentOut | None, new: ExtraContentOut) -> ExtraContentOut:
    """Later deltas win field by field, so a signature seen once is never lost."""
    if old is None:
        return new
    merged = old.model_dump(exclude_none=True)
    for namespace, values in new.model_dump(exclude_none=True).items():
        if isinstance(values, dict) and isinstance(merged.get(namespace), dict):
            merged[namespace] = {**merged[namespace], **values}
        else:
            merged[namespace] = values
    return ExtraContentOut.model_validate(merged)


class ChunkAccumulator:
    """Feed it every chunk of a stream with ``add``; ``result()`` builds the completion."""

    __slots__ = ("_choices", "_first", "_usage")

    def __init__(self) -> None:
        self._first: ChatCompletionChunk | None = None
        self._choices: dict[int, _ChoiceBuilder] = {}
        self._usage: Usage | None = None

    def add(self, chunk: ChatCompletionChunk) -> None:
        """Take one chunk into account."""
        if self._first is None:
            self._first = chunk
        if chunk.usage is not None:
            self._usage = chunk.usage  # the last non-null usage wins
        for choice in chunk.choices:
            builder = self._choices.get(choice.index)
            if builder is None:
                builder = self._choices[choice.index] = _ChoiceBuilder()
            builder.add(choice)

    @property
    def usage(self) -> Usage | None:
        """The last usage any chunk carried."""
        return self._usage

    def result(self) -> ChatCompletion:
        """The ``ChatCompletion`` the chunks so far add up to."""
        first = self._first or ChatCompletionChunk()
        return ChatCompletion(
            id=first.id,
            created=first.created,
            model=first.model,
            system_fingerprint=first.system_fingerprint,
            choices=[self._choices[i].build(i) for i in sorted(self._choices)],
            usage=self._usage,
        )
