"""Tools: define them from typed functions or Pydantic models, parse calls, run the tool loop.

A ``FunctionTool`` knows its wire ``definition`` (parameters in the schema subset Vertex accepts,
see ``_structured.vertex_schema``), validates a call's arguments into a Pydantic model, and for
function tools calls the function and turns its result into the tool message text.

``run_tool_loop`` sends the assistant message of each round back as is, so Gemini 3's thought
signatures travel with it (``ChatCompletionMessage.to_request``).
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Generic, Literal, TypeVar, get_origin, overload

import anyio
import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from ._exceptions import OutputParseError, ToolLoopError
from ._request_models import ToolCall
from ._response_models import ChatCompletion, ChatCompletionMessage, ToolCallOut
from ._structured import vertex_schema

if TYPE_CHECKING:
    from ._client import Completions

__all__ = ["FunctionTool", "function_tool", "parse_arguments", "run_tool_loop"]

M = TypeVar("M", bound=BaseModel)

# Gemini's rule for function names: letter or underscore first, then [A-Za-z0-9_.:-], ≤ 64.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}")
_ARGS_HEADER = re.compile(r"^(Args|Arguments|Parameters):\s*$")
_ARG_LINE = re.compile(r"^(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")
# A parameter called model_… must not trip Pydantic's protected-namespace warning.
_ARGUMENTS_CONFIG = ConfigDict(protected_namespaces=())


class FunctionTool(Generic[M]):
    """A tool the model may call: ``definition`` goes in ``tools=[…]``; ``call`` runs it."""

    def __init__(
        self,
        *,
        name: str,
        description: str | None,
        arguments_model: type[M],
        function: Callable[..., Any] | None = None,
    ) -> None:
        if not _NAME.fullmatch(name):
            raise ValueError(
                f"invalid tool name {name!r}: start with a letter or '_', then letters, digits, "
                "'_', '.', ':' or '-', at most 64 characters"
            )
        self.name = name
        self.description = description
        self.arguments_model = arguments_model
        self.function = function
        self.parameters = vertex_schema(arguments_model)
        self.parameters.pop("description", None)  # already the tool's description

    def __repr__(self) -> str:
        return f"<FunctionTool {self.name}>"

    @property
    def definition(self) -> dict[str, Any]:
        """``{"type": "function", "function": {name, description, parameters}}``."""
        function: dict[str, Any] = {"name": self.name}
        if self.description:
            function["description"] = self.description
        function["parameters"] = self.parameters
        return {"type": "function", "function": function}

    def validate(self, arguments: str | Mapping[str, Any]) -> M:
        """Arguments (JSON text or a dict) as the arguments model; ``OutputParseError`` if not."""
        raw = arguments if isinstance(arguments, str) else None
        values = _decode_arguments(arguments, self.name)
        try:
            return self.arguments_model.model_validate(values)
        except ValidationError as exc:
            raise OutputParseError(
                f"invalid arguments for tool {self.name!r}: {_summary(exc)}",
                content=raw if raw is not None else json.dumps(values, default=str),
            ) from exc

    def parse(self, tool_call: ToolCallOut | ToolCall) -> M:
        """The call's arguments as the arguments model (the Pydantic model of a model tool)."""
        if tool_call.function.name != self.name:
            raise ValueError(
                f"tool call is for {tool_call.function.name!r}, not for tool {self.name!r}"
            )
        return self.validate(tool_call.function.arguments or "{}")

    async def call(self, arguments: str | Mapping[str, Any]) -> str:
        """Validate ``arguments``, call the function (awaiting it if async), return its text.

        A ``str`` result is returned as is; anything else is encoded as JSON (Pydantic models,
        dataclasses, dates… included). A sync function runs in the event loop thread: wrap
        blocking work in ``anyio.to_thread.run_sync`` yourself.
        """
        if self.function is None:
            raise TypeError(
                f"tool {self.name!r} was defined from a Pydantic model and has no function to "
                "call; read its arguments with tool.parse(tool_call)"
            )
        return await self.invoke(self.validate(arguments))

    async def invoke(self, values: M) -> str:
        """Call the function with already validated arguments; return the result text."""
        if self.function is None:
            raise TypeError(f"tool {self.name!r} has no function to call")
        args, kwargs = _bind(self.function, values)
        result = self.function(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result_text(result)


@overload
def function_tool(
    target: type[M], *, name: str | None = None, description: str | None = None
) -> FunctionTool[M]: ...


@overload
def function_tool(
    target: Callable[..., Any], *, name: str | None = None, description: str | None = None
) -> FunctionTool[BaseModel]: ...


def function_tool(
    target: Any, *, name: str | None = None, description: str | None = None
) -> FunctionTool[Any]:
    """A tool from a typed function (sync or async) or a Pydantic model class.

    Name: the function's or class's name. Description: the docstring (for functions, the text
    before an ``Args:`` section, whose entries describe the parameters). Parameters: the type
    hints; ``Annotated[T, "text"]`` or ``Annotated[T, Field(description=…)]`` describe one.
    Usable as a decorator.
    """
    if isinstance(target, type) and issubclass(target, BaseModel):
        doc = inspect.cleandoc(target.__doc__) if target.__doc__ else None
        return FunctionTool(
            name=name or target.__name__,
            description=description or doc,
            arguments_model=target,
        )
    if not callable(target):
        raise TypeError(f"function_tool() needs a function or a Pydantic model, not {target!r}")
    tool_name = name or getattr(target, "__name__", None)
    if not tool_name:
        raise TypeError(f"{target!r} has no __name__: pass function_tool(…, name=…)")
    summary, documented = _split_docstring(inspect.getdoc(target))
    return FunctionTool(
        name=tool_name,
        description=description or summary,
        arguments_model=_arguments_model(target, tool_name, documented),
        function=target,
    )


def _arguments_model(
    function: Callable[..., Any], name: str, documented: dict[str, str]
) -> type[BaseModel]:
    hints = _type_hints(function, name)
    fields: dict[str, Any] = {}
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise TypeError(
                f"tool function {name}() cannot take *{parameter.name} or "
                f"**{parameter.name}: the model needs a fixed set of named parameters"
            )
        annotation = _described(hints.get(parameter.name, Any), documented.get(parameter.name))
        default = ... if parameter.default is parameter.empty else parameter.default
        fields[parameter.name] = (annotation, default)
    model_name = "".join(part.title() for part in re.split(r"[_.:-]", name)) + "Arguments"
    return create_model(model_name, __config__=_ARGUMENTS_CONFIG, **fields)


def _type_hints(function: Callable[..., Any], name: str) -> dict[str, Any]:
    inner: Any = function
    while isinstance(inner, functools.partial):
        inner = inner.func  # the signature of the partial, the hints of what it wraps
    if not (inspect.isfunction(inner) or inspect.ismethod(inner)):
        inner = getattr(inner, "__call__", inner)  # noqa: B004 - a callable object's hints
    try:
        return typing.get_type_hints(inner, include_extras=True)
    except NameError as exc:
        raise TypeError(
            f"cannot resolve the type hints of {name}(): {exc}; define the "
            "types it names at module level"
        ) from exc


def _described(annotation: Any, documented: str | None) -> Any:
    """``Annotated[T, "text"]`` → ``Annotated[T, Field(description="text")]``."""
    if get_origin(annotation) is Annotated:
        base, metadata = annotation.__origin__, annotation.__metadata__
        texts = [m for m in metadata if isinstance(m, str)]
        others = [m for m in metadata if not isinstance(m, str)]
        text = " ".join(texts) or (None if _has_description(others) else documented)
        if text is None:
            return annotation
        described = (base, *others, Field(description=text))
        return Annotated[described]
    if documented:
        return Annotated[annotation, Field(description=documented)]
    return annotation


def _has_description(metadata: Sequence[Any]) -> bool:
    return any(getattr(item, "description", None) for item in metadata)


def _split_docstring(doc: str | None) -> tuple[str | None, dict[str, str]]:
    """(description before ``Args:``, {parameter: text}) from a Google-style docstring."""
    if not doc:
        return None, {}
    lines = doc.splitlines()
    start = next((i for i, line in enumerate(lines) if _ARGS_HEADER.match(line)), len(lines))
    summary = "\n".join(lines[:start]).strip() or None
    params: dict[str, str] = {}
    current: str | None = None
    for line in lines[start + 1 :]:
        if line.strip() and not line[:1].isspace():
            break  # the next section (Returns:, Raises:, …)
        match = _ARG_LINE.match(line.strip())
        if match and line[:1].isspace() and len(line) - len(line.lstrip()) <= 4:
            current = match.group(1).lstrip("*")
            params[current] = match.group(3).strip()
        elif current and line.strip():
            params[current] = f"{params[current]} {line.strip()}".strip()
    return summary, params


def _bind(function: Callable[..., Any], values: BaseModel) -> tuple[list[Any], dict[str, Any]]:
    # Attributes, not model_dump(): nested models reach the function as model instances.
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for parameter in inspect.signature(function).parameters.values():
        value = getattr(values, parameter.name)
        if parameter.kind is parameter.POSITIONAL_ONLY:
            args.append(value)
        else:
            kwargs[parameter.name] = value
    return args, kwargs


def result_text(result: Any) -> str:
    """A tool's return value as tool message text: ``str`` as is, anything else as JSON."""
    if isinstance(result, str):
        return result
    if isinstance(result, BaseModel):
        return result.model_dump_json()
    return pydantic_core.to_json(result).decode()


# --- tool calls in responses --------------------------------------------------------------------


def parse_arguments(tool_call: ToolCallOut | ToolCall) -> dict[str, Any]:
    """A tool call's arguments as a dict; ``OutputParseError`` if they are not a JSON object."""
    return _decode_arguments(tool_call.function.arguments or "{}", tool_call.function.name)


def _decode_arguments(arguments: str | Mapping[str, Any], name: str | None) -> dict[str, Any]:
    if not isinstance(arguments, str):
        return dict(arguments)
    try:
        values = json.loads(arguments) if arguments.strip() else {}
    except ValueError as exc:
        raise OutputParseError(
            f"arguments of tool call {name!r} are not valid JSON: {exc}", content=arguments
        ) from exc
    if not isinstance(values, dict):
        raise OutputParseError(
            f"arguments of tool call {name!r} are not a JSON object", content=arguments
        )
    return values


def _summary(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    parts = [f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in errors[:3]]
    return "; ".join(parts) + (f" (+{len(errors) - 3} more)" if len(errors) > 3 else "")


# --- the loop -----------------------------------------------------------------------------------


async def run_tool_loop(
    completions: Completions,
    *,
    messages: list[Any],
    tools: Sequence[FunctionTool[Any]],
    max_rounds: int = 8,
    tool_errors: Literal["send", "raise"] = "send",
    **params: Any,
) -> ChatCompletion:
    """Call the model, run the tools it asks for, send the results, until it answers.

    Each round's assistant message and tool results are appended to ``messages`` in place (the
    final answer is not), so the history can be continued. Calls of one round run concurrently.
    Invalid arguments and unknown tool names go back to the model as an ``Error: …`` result;
    an exception raised by a tool does too with ``tool_errors="send"`` (the default), or
    propagates with ``"raise"``. More than ``max_rounds`` tool rounds raise ``ToolLoopError``.
    """
    if params.get("stream"):
        raise TypeError("run_tool_loop() does not stream; call it without stream=True")
    if "tools" in params:
        raise TypeError("pass FunctionTool objects as tools=[…]; they make the tool definitions")
    by_name = _index_tools(tools)
    definitions = [tool.definition for tool in tools]
    for round_number in range(max_rounds + 1):
        completion: ChatCompletion = await completions.create(
            messages=messages, tools=definitions, **params
        )
        message = completion.choices[0].message if completion.choices else None
        if message is None or not message.tool_calls:
            return completion
        if round_number == max_rounds:
            names = ", ".join(str(call.function.name) for call in message.tool_calls)
            raise ToolLoopError(
                f"the model still asked for tools ({names}) after {max_rounds} rounds; "
                "raise max_rounds or send tool_choice='none' to force an answer",
                completion=completion,
                rounds=max_rounds,
            )
        results = await _run_calls(message, by_name, tool_errors)
        messages.append(_sendable(message))
        messages.extend(results)
    raise AssertionError("unreachable")  # pragma: no cover


def _sendable(message: ChatCompletionMessage) -> ChatCompletionMessage:
    """The message, or a copy whose unparsable arguments are ``{}``: Vertex rejects them."""
    calls = message.tool_calls or []
    broken = [i for i, call in enumerate(calls) if not _is_json_object(call.function.arguments)]
    if not broken:
        return message
    fixed = [
        call.model_copy(update={"function": call.function.model_copy(update={"arguments": "{}"})})
        if i in broken
        else call
        for i, call in enumerate(calls)
    ]
    return message.model_copy(update={"tool_calls": fixed})


def _is_json_object(arguments: str | None) -> bool:
    try:
        return isinstance(json.loads(arguments or "{}"), dict)
    except ValueError:
        return False


def _index_tools(tools: Sequence[FunctionTool[Any]]) -> dict[str, FunctionTool[Any]]:
    by_name: dict[str, FunctionTool[Any]] = {}
    for tool in tools:
        if tool.function is None:
            raise TypeError(f"tool {tool.name!r} has no function to run in the tool loop")
        if tool.name in by_name:
            raise ValueError(f"two tools are named {tool.name!r}")
        by_name[tool.name] = tool
    return by_name


async def _run_calls(
    message: ChatCompletionMessage,
    tools: Mapping[str, FunctionTool[Any]],
    tool_errors: Literal["send", "raise"],
) -> list[dict[str, Any]]:
    calls = message.tool_calls or []
    texts = [""] * len(calls)
    failures: list[Exception] = []

    async def run(index: int, call: ToolCallOut) -> None:
        try:
            texts[index] = await _run_call(call, tools)
        except Exception as exc:
            if tool_errors == "raise":
                failures.append(exc)
                group.cancel_scope.cancel()
            texts[index] = f"Error: {type(exc).__name__}: {exc}"

    async with anyio.create_task_group() as group:
        for index, call in enumerate(calls):
            group.start_soon(run, index, call)
    if failures:
        raise failures[0]
    return [
        {"role": "tool", "tool_call_id": call.id or "", "content": text}
        for call, text in zip(calls, texts, strict=True)
    ]


async def _run_call(call: ToolCallOut, tools: Mapping[str, FunctionTool[Any]]) -> str:
    """One call's result text; mistakes the model made come back as ``Error: …`` text."""
    name = call.function.name or ""
    tool = tools.get(name)
    if tool is None:
        return f"Error: there is no tool named {name!r}; available tools: {', '.join(tools)}"
    try:
        values = tool.validate(call.function.arguments or "{}")
    except OutputParseError as exc:
        return f"Error: {exc}"
    return await tool.invoke(values)
