"""Pure: ``create()`` keyword arguments → a validated request → the JSON body bytes.

Validation happens here, before the network, so an invalid request raises
``InvalidRequestError`` naming the field instead of being sent (Vertex ignores unknown
parameters silently). The body keeps the caller's key order, so a call written like one of
Google's curl samples sends exactly that sample's JSON.

``extra_body`` follows the OpenAI SDK: its keys are merged into the top level of the JSON,
unvalidated (the escape hatch), except ``google`` — Vertex's own ``extra_body.google``, typed —
and ``extra_body``, the SDK spelling of the same (``extra_body={"extra_body": {"google": …}}``).
"""

from __future__ import annotations

import difflib
import json
import logging
import warnings
from collections.abc import Mapping
from functools import cache
from typing import Any

from pydantic import BaseModel, ValidationError

from ._exceptions import InvalidRequestError
from ._model_ids import qualify_model
from ._request_models import _EXTRA_JSON, GEMINI_IGNORED_PARAMETERS, ChatCompletionRequest
from ._response_models import ChatCompletionMessage
from ._sentinel import USE_CLIENT_DEFAULT

__all__ = ["IgnoredParameterWarning", "build_request", "encode_request"]

logger = logging.getLogger("vertexchat")


class IgnoredParameterWarning(UserWarning):
    """An OpenAI parameter Vertex accepts but ignores for Gemini models (sent anyway)."""


def build_request(params: Mapping[str, Any], *, publisher_model: bool) -> ChatCompletionRequest:
    """Validate ``create()`` parameters; ``None`` values count as not given.

    With ``publisher_model`` (the shared ``openapi`` endpoint) ``model`` is required and a bare
    Google id gets the ``google/`` prefix Vertex requires; other bare ids are refused.
    """
    data = {
        key: value
        for key, value in params.items()
        if value is not None and value is not USE_CLIENT_DEFAULT  # the SDK's NOT_GIVEN/omit
    }
    gemini = False
    if publisher_model:
        data["model"] = model = _qualified(data.get("model"))
        gemini = model.startswith("google/")
    extra_json = _split_extra_body(data) if "extra_body" in data else None
    try:
        messages = data.get("messages")
        if isinstance(messages, (list, tuple)):
            data["messages"] = [_message_input(message, gemini) for message in messages]
        request = ChatCompletionRequest.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc) from None
    if extra_json:
        request.with_extra_json(extra_json)
    if gemini and not GEMINI_IGNORED_PARAMETERS.isdisjoint(data):
        _warn_ignored(sorted(GEMINI_IGNORED_PARAMETERS.intersection(data)))
    return request


def encode_request(request: ChatCompletionRequest, given: Mapping[str, Any]) -> bytes:
    """The JSON body: set fields only, compact, keys in the order the caller gave them."""
    dumped = request.model_dump(mode="json", exclude_unset=True, by_alias=True)
    if type(given) is dict and type(given.get("extra_body")) is dict:
        given = {**given, "extra_body": _json_extra_body(given["extra_body"])}
    ordered = _follow_order(dumped, given)
    extra_json = request.__dict__.get(_EXTRA_JSON)
    if extra_json:
        ordered.update(extra_json)  # as the OpenAI SDK merges extra_body: last word, in place
    try:
        return json.dumps(ordered, ensure_ascii=False, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(f"extra_body: not JSON-serialisable ({exc})") from None


def _qualified(model: Any) -> str:
    if not model:
        raise InvalidRequestError(
            "model: required on the shared 'openapi' endpoint (e.g. 'google/gemini-2.5-flash')"
        )
    if not isinstance(model, str):
        raise InvalidRequestError(f"model: must be a string, not {type(model).__name__}")
    try:
        return qualify_model(model)
    except ValueError as exc:
        raise InvalidRequestError(f"model: {exc}") from None


def _split_extra_body(data: dict[str, Any]) -> dict[str, Any] | None:
    """Turn ``create()``'s ``extra_body`` into the JSON ``extra_body`` and the top-level extras."""
    given = data.pop("extra_body")
    if not isinstance(given, Mapping):
        if isinstance(given, BaseModel):  # an ExtraBody model: already the JSON key
            data["extra_body"] = given
            return None
        raise InvalidRequestError(
            f"extra_body: must be a dict, not {type(given).__name__} "
            "(e.g. extra_body={'google': {...}})"
        )
    json_extra = _json_extra_body(given)
    if json_extra is not None:
        data["extra_body"] = json_extra
    extras = {k: v for k, v in given.items() if k not in ("google", "extra_body")}
    for key in extras:
        if not isinstance(key, str):
            raise InvalidRequestError(f"extra_body: keys must be strings, not {key!r}")
    if extras:
        logger.debug(
            "vertexchat: extra_body keys sent unvalidated at the top level: %s",
            ", ".join(f"{key}={_clip(value)}" for key, value in extras.items()),
        )
    return extras or None


def _json_extra_body(given: Mapping[str, Any]) -> Any:
    """The JSON ``extra_body`` from either spelling; both spellings at once is an error."""
    if "extra_body" not in given:
        return {"google": given["google"]} if "google" in given else None
    inner = given["extra_body"]
    if "google" in given:
        raise InvalidRequestError(
            "extra_body: 'google' given twice, as extra_body={'google': …} and as the OpenAI "
            "SDK's extra_body={'extra_body': {'google': …}}; use one of them"
        )
    return inner


def _clip(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "…"


def _warn_ignored(names: list[str]) -> None:
    for name in names:
        warnings.warn(
            f"Vertex AI ignores {name!r} for Gemini models; it is sent but has no effect "
            "(silence with warnings.filterwarnings('ignore', "
            "category=vertexchat.IgnoredParameterWarning))",
            IgnoredParameterWarning,
            stacklevel=1,  # one fixed location: the default filter shows each name once
        )


def _message_input(message: Any, gemini: bool) -> Any:
    if isinstance(message, ChatCompletionMessage):
        return message.to_request()  # a response message appended to the history as is
    if gemini and isinstance(message, dict) and message.get("role") == "developer":
        return {**message, "role": "system"}  # Gemini has no developer channel
    return message


def _follow_order(dumped: Any, given: Any) -> Any:
    if isinstance(given, BaseModel):
        return dumped  # built from models: field order it is
    if isinstance(dumped, dict) and isinstance(given, Mapping):
        keys = [key for key in given if key in dumped]
        keys += [key for key in dumped if key not in given]
        return {key: _follow_order(dumped[key], given.get(key)) for key in keys}
    if isinstance(dumped, list) and isinstance(given, (list, tuple)) and len(given) == len(dumped):
        return [_follow_order(d, g) for d, g in zip(dumped, given, strict=True)]
    return dumped


def _invalid(exc: ValidationError) -> InvalidRequestError:
    lines = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error["loc"]) or "request"
        message = error["msg"]
        if error["type"] == "extra_forbidden" and error["loc"]:
            message = _unknown_field(str(error["loc"][-1]), top_level=len(error["loc"]) == 1)
        lines.append(f"{location}: {message}")
    summary = "; ".join(lines[:5]) + (f" (+{len(lines) - 5} more)" if len(lines) > 5 else "")
    return InvalidRequestError(f"invalid request: {summary}", errors=lines)


def _unknown_field(name: str, *, top_level: bool) -> str:
    close = difflib.get_close_matches(name, _known_names(top_level), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    if top_level:
        return (
            f"unknown parameter{hint}; send a field vertexchat does not know through "
            f"extra_body={{{name!r}: …}}"
        )
    return f"unknown field{hint}"


@cache
def _known_names(top_level: bool) -> tuple[str, ...]:
    if top_level:
        return tuple(ChatCompletionRequest.model_fields)
    from . import _request_models

    names: set[str] = set()
    for value in vars(_request_models).values():
        if isinstance(value, type) and issubclass(value, BaseModel):
            names.update(value.model_fields)
    return tuple(sorted(names))
