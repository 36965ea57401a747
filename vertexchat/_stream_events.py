"""``client.chat.completions.stream(...)``: the OpenAI SDK's event helper over a stream.

::

    async with client.chat.completions.stream(model=…, messages=…) as stream:
        async for event in stream:
            if event.type == "content.delta":
                print(event.delta, end="")
            elif event.type == "tool_calls.function.arguments.delta":
                ...
        completion = await stream.get_final_completion()

Events are the SDK's (``chunk``, ``content.delta``/``content.done``,
``tool_calls.function.arguments.delta``/``.done``) plus ``thoughts.delta`` when a
``thought_tag_marker`` splits thoughts off. Tool calls are told apart by ``id`` (Vertex's
``index`` is unreliable); an event's ``index`` is the call's position in the message.
``refusal`` and ``logprobs`` events never come: Vertex sends neither.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from pydantic import BaseModel

from ._accumulate import ChunkAccumulator
from ._response_models import ChatCompletion, ChatCompletionChunk, ChunkChoice, ToolCallOut

if TYPE_CHECKING:
    from ._resources import Completions
    from ._streaming import ChatCompletionStream

__all__ = [
    "AsyncChatCompletionStreamManager",
    "ChatCompletionStreamEvent",
    "ChatCompletionStreamState",
    "ChunkEvent",
    "ContentDeltaEvent",
    "ContentDoneEvent",
    "FunctionToolCallArgumentsDeltaEvent",
    "FunctionToolCallArgumentsDoneEvent",
    "StreamWithEvents",
    "ThoughtsDeltaEvent",
]

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class ChunkEvent:
    """Every chunk as it arrives; ``snapshot`` is the completion so far."""

    chunk: ChatCompletionChunk
    state: ChatCompletionStreamState[Any] = field(repr=False)
    type: Literal["chunk"] = "chunk"

    @property
    def snapshot(self) -> ChatCompletion:
        """The completion the chunks so far add up to."""
        return self.state.current_completion_snapshot


@dataclass(frozen=True)
class ContentDeltaEvent:
    """New answer text of choice ``index``; ``snapshot`` is the answer so far."""

    delta: str
    snapshot: str
    index: int = 0
    parsed: object | None = None
    type: Literal["content.delta"] = "content.delta"


@dataclass(frozen=True)
class ContentDoneEvent(Generic[T]):
    """The whole answer of choice ``index`` (and ``parsed`` with a Pydantic response format)."""

    content: str
    index: int = 0
    parsed: T | None = None
    type: Literal["content.done"] = "content.done"


@dataclass(frozen=True)
class ThoughtsDeltaEvent:
    """New thought-summary text (with ``thought_tag_marker``); not an OpenAI SDK event."""

    delta: str
    snapshot: str
    index: int = 0
    type: Literal["thoughts.delta"] = "thoughts.delta"


@dataclass(frozen=True)
class FunctionToolCallArgumentsDeltaEvent:
    """A fragment of a tool call's arguments; ``arguments`` is everything so far."""

    name: str
    index: int
    arguments: str
    parsed_arguments: object
    arguments_delta: str
    type: Literal["tool_calls.function.arguments.delta"] = "tool_calls.function.arguments.delta"


@dataclass(frozen=True)
class FunctionToolCallArgumentsDoneEvent:
    """A tool call's complete arguments, raw and parsed (``None`` if they are not JSON)."""

    name: str
    index: int
    arguments: str
    parsed_arguments: object
    type: Literal["tool_calls.function.arguments.done"] = "tool_calls.function.arguments.done"


ChatCompletionStreamEvent = (
    ChunkEvent
    | ContentDeltaEvent
    | ContentDoneEvent[Any]
    | ThoughtsDeltaEvent
    | FunctionToolCallArgumentsDeltaEvent
    | FunctionToolCallArgumentsDoneEvent
)


class _Call:
    __slots__ = ("arguments", "name")

    def __init__(self) -> None:
        self.name = ""
        self.arguments = ""


class _Choice:
    __slots__ = ("by_id", "by_index", "calls", "content", "done", "thoughts")

    def __init__(self) -> None:
        self.content = ""
        self.thoughts = ""
        self.calls: list[_Call] = []
        self.by_id: dict[str, int] = {}
        self.by_index: dict[int, int] = {}
        self.done = False

    def position(self, delta: ToolCallOut) -> int:
        """Where a tool-call fragment belongs: by ``id``, else by ``index``, else the last."""
        if delta.id is not None:
            found = self.by_id.get(delta.id)
            if found is None:
                found = self.by_id[delta.id] = self._new()
        elif delta.index is not None and delta.index in self.by_index:
            found = self.by_index[delta.index]
        elif delta.index is None and self.calls:
            found = len(self.calls) - 1
        else:
            found = self._new()
        if delta.index is not None:
            self.by_index[delta.index] = found
        return found

    def _new(self) -> int:
        self.calls.append(_Call())
        return len(self.calls) - 1


class ChatCompletionStreamState(Generic[T]):
    """Chunks in, events out (pure); also usable by hand: ``state.handle_chunk(chunk)``."""

    def __init__(self, response_format: type[T] | None = None) -> None:
        self._format = response_format
        self._accumulator = ChunkAccumulator()
        self._choices: dict[int, _Choice] = {}

    @property
    def current_completion_snapshot(self) -> ChatCompletion:
        """The completion the chunks so far add up to (raw content, thoughts tagged)."""
        return self._accumulator.result()

    def handle_chunk(self, chunk: ChatCompletionChunk) -> list[ChatCompletionStreamEvent]:
        """The events one chunk gives: the chunk itself, then deltas, then any done events."""
        self._accumulator.add(chunk)
        events: list[ChatCompletionStreamEvent] = [ChunkEvent(chunk, self)]
        for choice in chunk.choices:
            state = self._choices.get(choice.index)
            if state is None:
                state = self._choices[choice.index] = _Choice()
            self._choice_events(choice, state, events)
        return events

    def finish(self) -> list[ChatCompletionStreamEvent]:
        """Done events for choices the stream ended without a ``finish_reason`` for."""
        events: list[ChatCompletionStreamEvent] = []
        for index, state in sorted(self._choices.items()):
            if not state.done:
                self._done_events(index, state, events)
        return events

    def _choice_events(
        self, choice: ChunkChoice, state: _Choice, events: list[ChatCompletionStreamEvent]
    ) -> None:
        delta = choice.delta
        if delta.thoughts:
            state.thoughts += delta.thoughts
            events.append(ThoughtsDeltaEvent(delta.thoughts, state.thoughts, choice.index))
        if delta.content:
            state.content += delta.content
            events.append(ContentDeltaEvent(delta.content, state.content, choice.index))
        for call in delta.tool_calls or ():
            position = state.position(call)
            built = state.calls[position]
            built.name = built.name or call.function.name or ""
            fragment = call.function.arguments or ""
            built.arguments += fragment
            events.append(
                FunctionToolCallArgumentsDeltaEvent(
                    built.name, position, built.arguments, _loads(built.arguments), fragment
                )
            )
        if choice.finish_reason is not None and not state.done:
            self._done_events(choice.index, state, events)

    def _done_events(
        self, index: int, state: _Choice, events: list[ChatCompletionStreamEvent]
    ) -> None:
        state.done = True
        if state.content:
            parsed = self._parse(state.content)
            events.append(ContentDoneEvent(state.content, index, parsed))
        for position, call in enumerate(state.calls):
            events.append(
                FunctionToolCallArgumentsDoneEvent(
                    call.name, position, call.arguments, _loads(call.arguments)
                )
            )

    def _parse(self, content: str) -> T | None:
        if self._format is None:
            return None
        try:
            return self._format.model_validate_json(content)
        except ValueError:
            return None  # get_final_completion() raises OutputParseError with the details


def _loads(arguments: str) -> object:
    try:
        return json.loads(arguments) if arguments else {}
    except ValueError:
        return None  # not (yet) a whole JSON value


class StreamWithEvents(Generic[T]):
    """The stream ``stream()`` yields: iterate it for events; ``get_final_completion()``."""

    def __init__(
        self,
        stream: ChatCompletionStream,
        response_format: type[T] | None,
        thought_tag_marker: str | None,
    ) -> None:
        self._stream = stream
        self._format = response_format
        self._marker = thought_tag_marker
        self._state: ChatCompletionStreamState[T] = ChatCompletionStreamState(response_format)

    @property
    def current_completion_snapshot(self) -> ChatCompletion:
        """The completion so far."""
        return self._state.current_completion_snapshot

    @property
    def response(self) -> Any:
        """The HTTP response (``httpx.Response``)."""
        return self._stream.response

    @property
    def request_id(self) -> str | None:
        """The request id from the response headers."""
        return self._stream.request_id

    def __aiter__(self) -> AsyncIterator[ChatCompletionStreamEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[ChatCompletionStreamEvent]:
        async for chunk in self._stream:
            for event in self._state.handle_chunk(chunk):
                yield event
        for event in self._state.finish():
            yield event

    async def until_done(self) -> StreamWithEvents[T]:
        """Consume the rest of the stream."""
        async for _ in self:
            pass
        return self

    async def get_final_completion(self) -> Any:
        """The whole completion (``ParsedChatCompletion`` with a Pydantic response format)."""
        completion = await self._stream.get_final_completion()
        if self._format is None:
            return completion
        from ._structured import parse_completion

        return parse_completion(completion, self._format, thought_tag_marker=self._marker)

    async def close(self) -> None:
        """Release the connection; safe to call more than once."""
        await self._stream.aclose()

    aclose = close


class AsyncChatCompletionStreamManager(Generic[T]):
    """What ``stream()`` returns: ``async with`` it to open the stream (nothing is sent before)."""

    def __init__(self, completions: Completions, params: Mapping[str, Any]) -> None:
        self._completions = completions
        self._params = dict(params)
        self._stream: StreamWithEvents[T] | None = None

    async def __aenter__(self) -> StreamWithEvents[T]:
        params = dict(self._params)
        params.pop("stream", None)
        response_format = params.get("response_format")
        model: type[T] | None = None
        if isinstance(response_format, type) and issubclass(response_format, BaseModel):
            from ._structured import response_format_from_model

            model = response_format  # type: ignore[assignment]
            params["response_format"] = response_format_from_model(response_format)
        opened = await self._completions.create(stream=True, **params)
        self._stream = StreamWithEvents(opened, model, _marker(params.get("extra_body")))
        return self._stream

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._stream is not None:
            await self._stream.close()


def _marker(extra_body: Any) -> str | None:
    from ._structured import _marker as marker

    return marker(extra_body)
