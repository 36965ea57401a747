"""Structured output: Pydantic model → Vertex ``json_schema`` response format → parsed instance.

Vertex reads ``response_format.json_schema.schema`` as an OpenAPI-3.0-style schema subset
(``shared/vertex-api.md`` §3.1). ``vertex_schema`` therefore rewrites Pydantic's JSON schema:

* ``$ref``/``$defs`` are inlined (non-recursive ``$defs`` were seen accepted, but inlining
  depends on nothing unverified); a recursive model raises ``InvalidRequestError`` naming the
  field that loops, instead of a 400 from the server;
* ``Optional[X]`` (``anyOf`` with ``{"type": "null"}``) becomes ``X`` with ``nullable: true``;
  other unions stay ``anyOf``;
* ``Literal`` (``const``) becomes a one-value ``enum``; enums stay ``enum`` with their type;
* ``title`` and ``discriminator`` are dropped (noise, and a discriminator's ``$ref`` mapping
  means nothing once inlined); ``format`` is kept only where Gemini documents it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, overload

from pydantic import BaseModel, ValidationError

from ._exceptions import (
    ContentFilterFinishReasonError,
    InvalidRequestError,
    LengthFinishReasonError,
    OutputParseError,
)
from ._response_models import (
    _HEADERS,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    Choice,
    attach_response_headers,
)
from ._thoughts import split_thoughts

if TYPE_CHECKING:
    from ._client import Completions
    from ._streaming import ChatCompletionStream

__all__ = [
    "ParsedChatCompletion",
    "ParsedChatCompletionMessage",
    "ParsedChatCompletionStream",
    "ParsedChoice",
    "parse",
    "parse_completion",
    "response_format_from_model",
    "vertex_schema",
]

T = TypeVar("T", bound=BaseModel)

_DROPPED_KEYS = frozenset({"title", "discriminator"})
# Gemini's Schema documents these formats; others (email, uri, uuid…) have been seen to 400.
_KEPT_FORMATS = frozenset(
    {"date-time", "date", "time", "enum", "float", "double", "int32", "int64"}
)
_UNUSABLE_FINISH = {
    "content_filter": "the response was blocked by a safety filter (finish_reason "
    "'content_filter')",
    "length": "the output was cut off at the token limit (finish_reason 'length'); "
    "raise max_tokens",
}


# --- schema conversion --------------------------------------------------------------------------


def vertex_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema of ``model`` in the subset Vertex accepts, with every ``$ref`` inlined."""
    raw = model.model_json_schema()
    defs = raw.pop("$defs", {})
    schema: dict[str, Any] = _SchemaInliner(model.__name__, defs).convert(raw, model.__name__, ())
    return schema


class _SchemaInliner:
    """Walks a Pydantic JSON schema, inlining ``$defs`` and rewriting keywords for Vertex."""

    def __init__(self, model_name: str, defs: Mapping[str, Any]) -> None:
        self.model_name = model_name
        self.defs = defs

    def convert(self, node: Any, where: str, stack: tuple[str, ...]) -> Any:
        if not isinstance(node, Mapping):
            return node
        if isinstance(node.get("$ref"), str):
            return self.inline(node, where, stack)
        if isinstance(node.get("allOf"), list) and len(node["allOf"]) == 1:
            # Pydantic wraps a $ref in allOf to attach a sibling description or default.
            rest = {k: v for k, v in node.items() if k != "allOf"}
            return self.convert({**node["allOf"][0], **rest}, where, stack)
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _DROPPED_KEYS or (key == "format" and value not in _KEPT_FORMATS):
                continue
            out[key] = self.keyword(key, value, where, stack)
        if "const" in out:
            out["enum"] = [out.pop("const")]
        if isinstance(out.get("anyOf"), list):
            out = _nullable(out)
        return out

    def keyword(self, key: str, value: Any, where: str, stack: tuple[str, ...]) -> Any:
        if key == "properties" and isinstance(value, Mapping):
            return {
                name: self.convert(sub, f"{where}.{name}", stack) for name, sub in value.items()
            }
        if key in ("items", "additionalProperties"):
            return self.convert(value, f"{where}[]", stack)
        if key in ("anyOf", "oneOf", "allOf", "prefixItems") and isinstance(value, list):
            return [self.convert(sub, where, stack) for sub in value]
        return value

    def inline(self, node: Mapping[str, Any], where: str, stack: tuple[str, ...]) -> Any:
        name = str(node["$ref"]).rpartition("/")[2]
        if name in stack:
            raise InvalidRequestError(
                f"{self.model_name} is recursive: {where} refers back to {name}; Vertex AI "
                "does not accept recursive schemas. Bound the depth with separate models "
                "(e.g. Node → ChildNode without children) or use a JSON string field."
            )
        target = self.defs.get(name)
        if not isinstance(target, Mapping):
            raise InvalidRequestError(f"{self.model_name}: unresolvable $ref {node['$ref']!r}")
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        return self.convert({**target, **siblings}, where, (*stack, name))


def _nullable(node: dict[str, Any]) -> dict[str, Any]:
    branches = node["anyOf"]
    others = [b for b in branches if not (isinstance(b, Mapping) and b.get("type") == "null")]
    if len(others) == len(branches):
        return node
    rest = {k: v for k, v in node.items() if k != "anyOf"}
    if len(others) == 1 and isinstance(others[0], Mapping):
        return {**others[0], **rest, "nullable": True}
    return {"anyOf": others, **rest, "nullable": True}


def response_format_from_model(
    model: type[BaseModel], *, name: str | None = None, strict: bool | None = None
) -> dict[str, Any]:
    """``{"type": "json_schema", "json_schema": {name, schema}}`` for ``model``.

    ``name`` defaults to the class name; ``strict`` is sent only when given (Vertex is not
    known to read it). Raises ``InvalidRequestError`` for a recursive model.
    """
    json_schema: dict[str, Any] = {"name": name or model.__name__, "schema": vertex_schema(model)}
    if strict is not None:
        json_schema["strict"] = strict
    return {"type": "json_schema", "json_schema": json_schema}


# --- parsed response types ----------------------------------------------------------------------


class ParsedChatCompletionMessage(ChatCompletionMessage, Generic[T]):
    """An assistant message whose JSON ``content`` was validated into ``parsed``."""

    parsed: T | None = None


class ParsedChoice(Choice, Generic[T]):
    """A choice whose message carries ``parsed``."""

    message: ParsedChatCompletionMessage[T]


class ParsedChatCompletion(ChatCompletion, Generic[T]):
    """A ``ChatCompletion`` whose ``choices[i].message.parsed`` are instances of ``T``."""

    # Narrowing a list field is sound here: parsed completions are built, never mutated.
    choices: list[ParsedChoice[T]]  # type: ignore[assignment]


def parse_completion(
    completion: ChatCompletion, model: type[T], *, thought_tag_marker: str | None = None
) -> ParsedChatCompletion[T]:
    """Validate every choice's content into ``model``; raise ``OutputParseError`` otherwise.

    With ``thought_tag_marker``, ``<marker>…</marker>`` thought blocks are skipped.
    """
    data = completion.model_dump(exclude={"choices"})
    try:
        choices = [
            {
                **choice.model_dump(exclude={"message"}),
                "message": _parsed_message(choice, model, thought_tag_marker),
            }
            for choice in completion.choices
        ]
    except OutputParseError as error:
        error.completion = completion  # as the OpenAI SDK's LengthFinishReasonError has it
        raise
    parsed = ParsedChatCompletion[model].model_validate({**data, "choices": choices})  # type: ignore[valid-type]
    attach_response_headers(parsed, completion.__dict__.get(_HEADERS))
    return parsed


def _parsed_message(choice: Choice, model: type[T], marker: str | None) -> dict[str, Any]:
    message = choice.message
    content = message.content
    answer = split_thoughts(content, marker)[1] if content and marker else content
    reason = _UNUSABLE_FINISH.get(choice.finish_reason or "")
    if reason is not None:
        kind = (
            LengthFinishReasonError
            if choice.finish_reason == "length"
            else ContentFilterFinishReasonError
        )
        raise kind(f"cannot parse {model.__name__}: {reason}", content=content)
    if not answer or not answer.strip():
        raise OutputParseError(
            f"cannot parse {model.__name__}: the model returned no content "
            f"(finish_reason {choice.finish_reason!r})",
            content=content,
        )
    try:
        parsed = model.model_validate_json(_strip_fence(answer))
    except ValidationError as exc:
        raise OutputParseError(
            f"model output is not a valid {model.__name__}: {_summary(exc)}", content=content
        ) from exc
    return {**message.model_dump(), "parsed": parsed}


def _strip_fence(text: str) -> str:
    # Some models wrap JSON in a Markdown fence even in JSON mode.
    stripped = text.strip()
    if stripped.startswith("```") and stripped.endswith("```"):
        body = stripped[3:-3]
        return body.partition("\n")[2] if body.lstrip().startswith("json") else body
    return stripped


def _summary(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    parts = [f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in errors[:3]]
    return "; ".join(parts) + (f" (+{len(errors) - 3} more)" if len(errors) > 3 else "")


# --- the call -----------------------------------------------------------------------------------


class ParsedChatCompletionStream(Generic[T]):
    """A ``ChatCompletionStream`` whose ``get_final_completion()`` returns the parsed result."""

    def __init__(
        self,
        stream: ChatCompletionStream,
        model: type[T],
        *,
        thought_tag_marker: str | None = None,
    ) -> None:
        self.stream = stream
        self.model = model
        self.thought_tag_marker = thought_tag_marker

    async def __aenter__(self) -> ParsedChatCompletionStream[T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]:
        return self.stream.__aiter__()

    async def aclose(self) -> None:
        """Release the connection; safe to call more than once."""
        await self.stream.aclose()

    async def get_final_completion(self) -> ParsedChatCompletion[T]:
        """Consume the rest of the stream and parse the accumulated completion."""
        completion = await self.stream.get_final_completion()
        return parse_completion(completion, self.model, thought_tag_marker=self.thought_tag_marker)


@overload
async def parse(
    completions: Completions,
    *,
    response_format: type[T],
    stream: Literal[True],
    **params: Any,
) -> ParsedChatCompletionStream[T]: ...


@overload
async def parse(
    completions: Completions,
    *,
    response_format: type[T],
    stream: Literal[False] | None = ...,
    **params: Any,
) -> ParsedChatCompletion[T]: ...


@overload
async def parse(
    completions: Completions,
    *,
    response_format: type[T],
    stream: bool | None = ...,
    **params: Any,
) -> ParsedChatCompletion[T] | ParsedChatCompletionStream[T]: ...


async def parse(
    completions: Completions,
    *,
    response_format: type[T],
    stream: bool | None = None,
    **params: Any,
) -> ParsedChatCompletion[T] | ParsedChatCompletionStream[T]:
    """Ask for JSON matching ``response_format`` and validate the answer into it.

    ``params`` go to ``completions.create``. Output that is not a valid ``T`` (or is empty,
    blocked, or cut off) raises ``OutputParseError`` with the raw text in ``.content``.
    """
    if not (isinstance(response_format, type) and issubclass(response_format, BaseModel)):
        raise TypeError(
            "parse() needs a Pydantic model class as response_format; pass a dict "
            "response_format to create() instead"
        )
    wire_format = response_format_from_model(response_format)
    marker = _marker(params.get("extra_body"))
    if stream:
        opened = await completions.create(stream=True, response_format=wire_format, **params)
        return ParsedChatCompletionStream(opened, response_format, thought_tag_marker=marker)
    completion = await completions.create(response_format=wire_format, **params)
    return parse_completion(completion, response_format, thought_tag_marker=marker)


def _marker(extra_body: Any) -> str | None:
    if isinstance(extra_body, BaseModel):
        extra_body = extra_body.model_dump()
    if isinstance(extra_body, Mapping) and isinstance(extra_body.get("extra_body"), Mapping):
        extra_body = extra_body["extra_body"]  # the OpenAI SDK's spelling
    google = extra_body.get("google") if isinstance(extra_body, Mapping) else None
    if isinstance(google, BaseModel):
        google = google.model_dump()
    marker = google.get("thought_tag_marker") if isinstance(google, Mapping) else None
    return marker if isinstance(marker, str) and marker else None
