"""``client.chat.completions``: the resource methods, above the helpers they expose.

Edge module. ``prepare_call`` is the one place ``create()`` parameters and per-call options
become a ``Call`` (validated body, retry policy, timeouts, deadline, limiter); ``create`` and
``client.batch`` both use it, then run the call through the pipeline in ``_call``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from pydantic import BaseModel

from ._call import Call
from ._limiter import AdaptiveLimiter
from ._options import (
    USE_CLIENT_DEFAULT,
    TimeoutLike,
    UseClientDefault,
    resolve,
    retry_policy,
    timeout_extension,
)
from ._request import build_request, encode_request
from ._response_models import ChatCompletion
from ._retry import RetryPolicy
from ._streaming import ChatCompletionStream, open_stream

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing has it from 3.11 only

    from ._client import Client
    from ._params import CompletionCreateParams, CompletionParseParams, RunToolsParams
    from ._raw import RawResponses, StreamingResponses
    from ._request_models import ResponseFormat
    from ._stream_events import AsyncChatCompletionStreamManager
    from ._structured import ParsedChatCompletion, ParsedChatCompletionStream
    from ._tools import FunctionTool

__all__ = ["Chat", "Completions", "prepare_call"]

_M = TypeVar("_M", bound=BaseModel)


def prepare_call(
    client: Client,
    params: Mapping[str, Any],
    *,
    timeout: TimeoutLike | UseClientDefault = USE_CLIENT_DEFAULT,
    deadline: float | UseClientDefault | None = USE_CLIENT_DEFAULT,
    max_retries: int | UseClientDefault = USE_CLIENT_DEFAULT,
    extra_headers: Mapping[str, str] | None = None,
    policy: RetryPolicy | None = None,
    limiter: AdaptiveLimiter | None = None,
) -> tuple[Call, bool]:
    """Validate ``create()`` parameters into a ``Call``, and whether it streams.

    ``policy`` and ``limiter`` replace the client's (a batch brings its own).
    """
    request = build_request(params, publisher_model=client._publisher_model)
    body = encode_request(request, params)
    call = Call(
        client._pipeline,
        body,
        policy=retry_policy(policy or client.retry_policy, max_retries),
        timeouts=timeout_extension(resolve(timeout, client.timeout)),
        deadline=resolve(deadline, client.deadline),
        limiter=limiter or client.limiter,
        extra_headers=extra_headers,
        thought_marker=request.thought_tag_marker,
    )
    observe = client._pipeline.observe
    if observe is not None:
        call.observer = observe(request, call)
    return call, bool(request.stream)


class Chat:
    """``client.chat``."""

    def __init__(self, client: Client) -> None:
        self.completions = Completions(client)


class Completions:
    """``client.chat.completions``: ``create``, ``parse`` (structured output), ``run_tools``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @property
    def with_raw_response(self) -> RawResponses:
        """``await ….with_raw_response.create(…)``: headers, status, ``parse()``, retries."""
        from ._raw import RawResponses

        return RawResponses(self._client, prepare_call)

    @property
    def with_streaming_response(self) -> StreamingResponses:
        """``async with ….with_streaming_response.create(…) as response``: body on demand."""
        from ._raw import StreamingResponses

        return StreamingResponses(self._client, prepare_call)

    @overload
    def stream(
        self,
        *,
        response_format: type[_M],
        timeout: TimeoutLike | UseClientDefault = ...,
        deadline: float | UseClientDefault | None = ...,
        max_retries: int | UseClientDefault = ...,
        extra_headers: Mapping[str, str] | None = ...,
        **params: Unpack[CompletionParseParams],
    ) -> AsyncChatCompletionStreamManager[_M]: ...

    @overload
    def stream(
        self,
        *,
        response_format: ResponseFormat | Mapping[str, Any] | None = ...,
        timeout: TimeoutLike | UseClientDefault = ...,
        deadline: float | UseClientDefault | None = ...,
        max_retries: int | UseClientDefault = ...,
        extra_headers: Mapping[str, str] | None = ...,
        **params: Unpack[CompletionParseParams],
    ) -> AsyncChatCompletionStreamManager[Any]: ...

    def stream(self, **params: Any) -> AsyncChatCompletionStreamManager[Any]:
        """The OpenAI SDK's event helper: ``async with ….stream(…) as stream``.

        Iterate ``stream`` for events (``content.delta``, ``tool_calls.function.arguments.delta``,
        ``content.done``, …); ``await stream.get_final_completion()``. A Pydantic class as
        ``response_format`` gives ``parsed`` results, as ``parse()`` does.
        """
        from ._stream_events import AsyncChatCompletionStreamManager

        return AsyncChatCompletionStreamManager(self, params)

    @overload
    async def create(
        self,
        *,
        stream: Literal[True],
        timeout: TimeoutLike | UseClientDefault = ...,
        deadline: float | UseClientDefault | None = ...,
        max_retries: int | UseClientDefault = ...,
        extra_headers: Mapping[str, str] | None = ...,
        **params: Unpack[CompletionCreateParams],
    ) -> ChatCompletionStream: ...

    @overload
    async def create(
        self,
        *,
        stream: Literal[False] | None = ...,
        timeout: TimeoutLike | UseClientDefault = ...,
        deadline: float | UseClientDefault | None = ...,
        max_retries: int | UseClientDefault = ...,
        extra_headers: Mapping[str, str] | None = ...,
        **params: Unpack[CompletionCreateParams],
    ) -> ChatCompletion: ...

    @overload
    async def create(
        self,
        *,
        stream: bool | None = ...,
        timeout: TimeoutLike | UseClientDefault = ...,
        deadline: float | UseClientDefault | None = ...,
        max_retries: int | UseClientDefault = ...,
        extra_headers: Mapping[str, str] | None = ...,
        **params: Unpack[CompletionCreateParams],
    ) -> ChatCompletion | ChatCompletionStream: ...

    async def create(
        self,
        *,
        timeout: TimeoutLike | UseClientDefault = USE_CLIENT_DEFAULT,
        deadline: float | UseClientDefault | None = USE_CLIENT_DEFAULT,
        max_retries: int | UseClientDefault = USE_CLIENT_DEFAULT,
        extra_headers: Mapping[str, str] | None = None,
        **params: Any,
    ) -> ChatCompletion | ChatCompletionStream:
        """Create a chat completion; with ``stream=True`` return a ``ChatCompletionStream``.

        ``params`` are the request fields (``model``, ``messages``, ``temperature``,
        ``tools``, ``response_format``, ``extra_body={"google": {…}}``, …), validated before
        anything is sent. ``None`` values count as not given.
        """
        call, stream = prepare_call(
            self._client,
            params,
            timeout=timeout,
            deadline=deadline,
            max_retries=max_retries,
            extra_headers=extra_headers,
        )
        if stream:
            return await open_stream(call)
        return await call.complete()

    @overload
    async def parse(
        self,
        *,
        response_format: type[_M],
        stream: Literal[True],
        timeout: TimeoutLike | UseClientDefault = ...,
        deadline: float | UseClientDefault | None = ...,
        max_retries: int | UseClientDefault = ...,
        extra_headers: Mapping[str, str] | None = ...,
        **params: Unpack[CompletionParseParams],
    ) -> ParsedChatCompletionStream[_M]: ...

    @overload
    async def parse(
        self,
        *,
        response_format: type[_M],
        stream: Literal[False] | None = ...,
        timeout: TimeoutLike | UseClientDefault = ...,
        deadline: float | UseClientDefault | None = ...,
        max_retries: int | UseClientDefault = ...,
        extra_headers: Mapping[str, str] | None = ...,
        **params: Unpack[CompletionParseParams],
    ) -> ParsedChatCompletion[_M]: ...

    async def parse(
        self, *, response_format: type[_M], stream: bool | None = None, **params: Any
    ) -> ParsedChatCompletion[_M] | ParsedChatCompletionStream[_M]:
        """Like ``create``, with ``message.parsed`` validated into the ``response_format`` model.

        The Pydantic model is sent as a ``json_schema`` response format in the subset Vertex
        accepts; output that does not validate raises ``OutputParseError``.
        """
        from ._structured import parse

        return await parse(self, response_format=response_format, stream=stream, **params)

    async def run_tools(
        self,
        *,
        messages: list[Any],
        tools: Sequence[FunctionTool[Any]],
        max_rounds: int = 8,
        tool_errors: Literal["send", "raise"] = "send",
        timeout: TimeoutLike | UseClientDefault = USE_CLIENT_DEFAULT,
        deadline: float | UseClientDefault | None = USE_CLIENT_DEFAULT,
        max_retries: int | UseClientDefault = USE_CLIENT_DEFAULT,
        extra_headers: Mapping[str, str] | None = None,
        **params: Unpack[RunToolsParams],
    ) -> ChatCompletion:
        """Call the model, run the tools it asks for, send the results, until it answers.

        ``messages`` grows in place by each round's assistant turn and tool results. Calls of
        one round run concurrently; a tool's exception goes back to the model as its result
        (``tool_errors="send"``) or propagates (``"raise"``); more than ``max_rounds`` rounds
        raise ``ToolLoopError``.
        """
        from ._tools import run_tool_loop

        options: dict[str, Any] = {
            "timeout": timeout,
            "deadline": deadline,
            "max_retries": max_retries,
            "extra_headers": extra_headers,
        }
        return await run_tool_loop(
            self,
            messages=messages,
            tools=tools,
            max_rounds=max_rounds,
            tool_errors=tool_errors,
            **options,
            **params,
        )
