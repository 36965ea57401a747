"""vertexchat: an async client for Vertex AI's OpenAI-compatible Chat Completions API."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
