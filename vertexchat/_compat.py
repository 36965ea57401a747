"""The OpenAI SDK's helper names, for ported code: ``NOT_GIVEN``/``omit``, ``OpenAIError``,
``pydantic_function_tool``.

``NOT_GIVEN`` and ``omit`` are vertexchat's ``USE_CLIENT_DEFAULT``: "not given" as a request
parameter, "the client's setting" as a per-call option. ``OpenAIError`` is ``VertexChatError``,
the base of everything vertexchat raises, so ``except vertexchat.OpenAIError`` keeps working.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel

from ._exceptions import VertexChatError
from ._sentinel import USE_CLIENT_DEFAULT, UseClientDefault

__all__ = ["NOT_GIVEN", "NotGiven", "Omit", "OpenAIError", "omit", "pydantic_function_tool"]

NotGiven = UseClientDefault
Omit = UseClientDefault
NOT_GIVEN: Final = USE_CLIENT_DEFAULT
"""The OpenAI SDK's "not given": vertexchat's ``USE_CLIENT_DEFAULT``."""
omit: Final = USE_CLIENT_DEFAULT
"""The OpenAI SDK's ``omit``: vertexchat's ``USE_CLIENT_DEFAULT``."""

OpenAIError = VertexChatError


def pydantic_function_tool(
    model: type[BaseModel], *, name: str | None = None, description: str | None = None
) -> dict[str, Any]:
    """``{"type": "function", "function": {…}}`` for a Pydantic model, as the SDK's helper.

    The schema is rewritten into the subset Vertex accepts (see ``function_tool``, which also
    validates and runs calls).
    """
    from ._tools import function_tool

    definition: dict[str, Any] = function_tool(
        model, name=name, description=description
    ).definition
    return definition
