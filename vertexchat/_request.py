"""Pure: ``create()`` keyword arguments → a validated request → the JSON body bytes.

Validation happens here, before the network, so an invalid request raises
``InvalidRequestError`` naming the field instead of being sent (Vertex ignores unknown
parameters silently). The body keeps the caller's key order, so a call written like one of
Google's curl samples sends exactly that sample's JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from ._exceptions import InvalidRequestError
from ._request_models import ChatCompletionRequest
from ._response_models import ChatCompletionMessage

__all__ = ["build_request", "encode_request"]


def build_request(params: Mapping[str, Any], *, publisher_model: bool) -> ChatCompletionRequest:
    """Validate ``create()`` parameters; ``None`` values count as not given.

    With ``publisher_model`` (the shared ``openapi`` endpoint) ``model`` is required and a bare
    id gets the ``google/`` prefix Vertex requires.
    """
    data = {key: value for key, value in params.items() if value is not None}
    if publisher_model:
        model = data.get("model")
        if not model:
            raise InvalidRequestError(
                "model: required on the shared 'openapi' endpoint (e.g. 'google/gemini-2.5-flash')"
            )
        if isinstance(model, str) and "/" not in model:
            data["model"] = f"google/{model}"
    try:
        messages = data.get("messages")
        if isinstance(messages, (list, tuple)):
            data["messages"] = [_message_input(message) for message in messages]
        return ChatCompletionRequest.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc) from None


def encode_request(request: ChatCompletionRequest, given: Mapping[str, Any]) -> bytes:
    """The JSON body: set fields only, compact, keys in the order the caller gave them."""
    dumped = request.model_dump(mode="json", exclude_unset=True, by_alias=True)
    ordered = _follow_order(dumped, given)
    return json.dumps(ordered, ensure_ascii=False, separators=(",", ":")).encode()


def _message_input(message: Any) -> Any:
    if isinstance(message, ChatCompletionMessage):
        return message.to_request()  # a response message appended to the history as is
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
        lines.append(f"{location}: {error['msg']}")
    summary = "; ".join(lines[:5]) + (f" (+{len(lines) - 5} more)" if len(lines) > 5 else "")
    return InvalidRequestError(f"invalid request: {summary}", errors=lines)
