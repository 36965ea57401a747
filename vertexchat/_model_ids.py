"""Pure: the ``model`` rule of the shared ``openapi`` endpoint (``shared/vertex-api.md`` §1.2).

The shared endpoint needs publisher-qualified ids (``google/gemini-2.5-flash``,
``meta/llama-3.3-70b-instruct-maas``); a bare id answers 400. A bare id is qualified as Google's;
a bare id of a known Model Garden family (or any ``…-maas`` id) is refused locally with the
publisher form, because ``google/`` would only turn the mistake into a 404.
"""

from __future__ import annotations

__all__ = ["GOOGLE_FAMILIES", "MAAS_PUBLISHERS", "qualify_model"]

GOOGLE_FAMILIES = (
    "gemini",
    "gemma",
    "learnlm",
    "medlm",
    "imagen",
    "veo",
    "chirp",
    "lyria",
    "text-embedding",
    "multimodalembedding",
)
"""Bare ids starting with these are Google models and get the ``google/`` prefix."""

MAAS_PUBLISHERS = (
    ("llama", "meta"),
    ("deepseek", "deepseek-ai"),
    ("qwen", "qwen"),
    ("gpt-oss", "openai"),
    ("glm", "zai-org"),
    ("kimi", "moonshotai"),
    ("minimax", "minimaxai"),
    ("mistral", "mistralai"),
    ("mixtral", "mistralai"),
    ("codestral", "mistralai"),
    ("ministral", "mistralai"),
    ("jamba", "ai21"),
    ("claude", "anthropic"),
)
"""Model Garden families and the publisher their ids live under on the ``openapi`` endpoint."""


def qualify_model(model: str) -> str:
    """``model`` as the ``openapi`` endpoint wants it; ``ValueError`` naming the fix if unknown.

    ``"gemini-2.5-flash"`` → ``"google/gemini-2.5-flash"``; a qualified id is returned as is;
    ``"llama-3.3-70b-instruct-maas"`` → ``ValueError`` suggesting ``meta/llama-3.3-70b-…``;
    any other bare id is taken to be Google's (Vertex's 404 then names ``publishers/google``).
    """
    if "/" in model:
        return model
    lowered = model.lower()
    if not lowered.startswith(GOOGLE_FAMILIES):
        for family, publisher in MAAS_PUBLISHERS:
            if lowered.startswith(family):
                raise ValueError(
                    f"{model!r} is not a Google model: the shared 'openapi' endpoint needs its "
                    f"publisher, e.g. model={publisher + '/' + model!r}"
                )
        if lowered.endswith("-maas"):
            raise ValueError(
                f"{model!r} is a Model Garden (MaaS) model: the shared 'openapi' endpoint "
                "needs 'publisher/model' (e.g. 'meta/llama-3.3-70b-instruct-maas')"
            )
    return f"google/{model}"
