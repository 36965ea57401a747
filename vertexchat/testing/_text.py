"""Pure: deterministic words, token counts and ids for the emulator's answers.

Everything is derived from a seed (bytes hashed from the request), so the same request always
gets the same answer and tests can assert on it.
"""

from __future__ import annotations

import base64
import hashlib
import random
import re

_WORDS = (
    "the quick model reads your request and answers with care while streaming tokens "
    "across a calm network so clients can test retries timeouts and parsing of every "
    "chunk that arrives from the emulated endpoint in a predictable order without any "
    "real credentials cloud project quota or billing attached to this friendly reply "
    "about rivers mountains coffee gardens lanterns maps clocks bridges harbors orchards "
    "violins comets meadows kites islands puzzles libraries trains windmills"
)
_VOCABULARY = tuple(_WORDS.split())

_TOKEN = re.compile(r"\w+|[^\w\s]")


def rng_for(seed: bytes, purpose: str) -> random.Random:
    """A private random generator for one purpose, derived from the request seed."""
    digest = hashlib.sha256(seed + b"\x00" + purpose.encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def words(rng: random.Random, count: int) -> list[str]:
    """``count`` words drawn from a small fixed vocabulary."""
    return [rng.choice(_VOCABULARY) for _ in range(count)]


def sentence_text(rng: random.Random, low: int, high: int) -> str:
    """Between ``low`` and ``high`` words as sentences (capitalised, ending with periods)."""
    items = words(rng, rng.randint(low, high))
    sentences: list[str] = []
    while items:
        size = min(len(items), rng.randint(6, 12))
        head, items = items[:size], items[size:]
        sentences.append(" ".join(head).capitalize() + ".")
    return " ".join(sentences)


def count_tokens(text: str) -> int:
    """A deterministic token estimate: words and punctuation marks."""
    return sum(1 for _ in _TOKEN.finditer(text))  # no list: prompts can be millions long


def truncate_tokens(text: str, limit: int) -> str:
    """``text`` cut after ``limit`` tokens (keeps the original spacing of what remains)."""
    matches = list(_TOKEN.finditer(text))
    if len(matches) <= limit:
        return text
    return text[: matches[limit - 1].end()] if limit > 0 else ""


def response_id(seed: bytes, sequence: int) -> str:
    """A Vertex ``responseId``-like id: 23 url-safe characters, no ``chatcmpl-`` prefix."""
    digest = hashlib.sha256(seed + sequence.to_bytes(8, "big")).digest()
    return base64.urlsafe_b64encode(digest).decode()[:23]


def function_call_id(seed: bytes, index: int) -> str:
    """A ``function-call-<uuid>`` id, deterministic for the request and call position."""
    h = hashlib.sha256(seed + b"call" + index.to_bytes(4, "big")).hexdigest()
    return f"function-call-{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def thought_signature(seed: bytes, purpose: str) -> str:
    """An opaque base64 thought signature."""
    digest = hashlib.sha256(seed + b"signature" + purpose.encode()).digest()
    return base64.b64encode(digest * 2).decode()
