"""Write examples/prompts.jsonl: 300 varied, deterministic chat requests in the batch format.

Run ``python examples/make_prompts.py`` to regenerate it (the output is byte-identical each
time). Each line is ``{"custom_id": …, "body": {create() parameters}}`` with no ``model``, so
``vertexchat batch --model …`` picks it (default ``google/gemini-2.5-flash``). Kinds: plain
questions, system + user, multi-turn, images (small PNGs drawn here), thinking, structured
output and tools.
"""

from __future__ import annotations

import base64
import json
import random
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).with_name("prompts.jsonl")

TOPICS = [
    "photosynthesis",
    "the French Revolution",
    "black holes",
    "TCP congestion control",
    "sourdough bread",
    "the Fibonacci sequence",
    "plate tectonics",
    "the Roman aqueducts",
    "vaccines",
    "compound interest",
    "the water cycle",
    "quantum entanglement",
    "jazz improvisation",
    "the printing press",
    "coral reefs",
    "public-key cryptography",
    "the immune system",
    "glaciers",
    "chess openings",
    "the Silk Road",
    "neural networks",
    "volcanoes",
    "the Doppler effect",
    "bees",
    "the Great Wall of China",
    "solar panels",
]
QUESTIONS = [
    "Explain {t} to a ten-year-old.",
    "What are three surprising facts about {t}?",
    "Summarise {t} in two sentences.",
    "What is a common misconception about {t}?",
    "Write a haiku about {t}.",
    "How would you teach {t} in one lesson?",
    "What questions are still open about {t}?",
    "Give an analogy that explains {t}.",
]
PERSONAS = [
    "You are a concise assistant. Answer in at most three sentences.",
    "You are a patient teacher who uses simple words.",
    "You are a pirate. Stay in character.",
    "You answer only in bullet points.",
    "You are a careful reviewer: point out assumptions before answering.",
]
COLOURS = [(220, 40, 40), (40, 160, 60), (30, 90, 200), (240, 200, 20), (150, 60, 170)]


def png(size: int, colour: tuple[int, int, int], shade: float) -> bytes:
    """A size x size RGB PNG: a diagonal gradient from ``colour`` to dark, built by hand."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    rows = bytearray()
    for y in range(size):
        rows.append(0)  # filter type: none
        for x in range(size):
            level = 1.0 - shade * (x + y) / (2 * size - 2)
            rows.extend(int(c * level) for c in colour)
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


def data_uri(image: bytes) -> str:
    """``data:image/png;base64,…``."""
    return "data:image/png;base64," + base64.b64encode(image).decode("ascii")


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def plain(rng: random.Random, n: int) -> dict[str, Any]:
    topic = rng.choice(TOPICS)
    return {"messages": [user(rng.choice(QUESTIONS).format(t=topic))], "max_tokens": 512}


def with_system(rng: random.Random, n: int) -> dict[str, Any]:
    question = rng.choice(QUESTIONS).format(t=rng.choice(TOPICS))
    system = {"role": "system", "content": rng.choice(PERSONAS)}
    return {"messages": [system, user(question)], "temperature": round(rng.uniform(0, 1), 1)}


def multi_turn(rng: random.Random, n: int) -> dict[str, Any]:
    topic = rng.choice(TOPICS)
    return {
        "messages": [
            user(f"I'd like to learn about {topic}."),
            {"role": "assistant", "content": f"Happy to help. What do you know about {topic}?"},
            user("Almost nothing. Where should I start, and what should I read first?"),
        ]
    }


def image(rng: random.Random, n: int) -> dict[str, Any]:
    size = rng.choice([16, 24, 32])
    picture = png(size, rng.choice(COLOURS), rng.choice([0.3, 0.6, 0.9]))
    ask = rng.choice(["Describe this image.", "What colours do you see?", "Is this a gradient?"])
    parts = [
        {"type": "text", "text": ask},
        {"type": "image_url", "image_url": {"url": data_uri(picture)}},
    ]
    return {"messages": [{"role": "user", "content": parts}]}


def thinking(rng: random.Random, n: int) -> dict[str, Any]:
    a, b = rng.randint(12, 99), rng.randint(12, 99)
    question = rng.choice(
        [
            f"What is {a} times {b}? Show your reasoning.",
            f"Is {a * b + 1} a prime number?",
            f"A train leaves at {a % 12 + 1}:00 and travels {b} km at 60 km/h. When is it there?",
        ]
    )
    google = {
        "thinking_config": {"include_thoughts": True, "thinking_budget": rng.choice([256, 1024])},
        "thought_tag_marker": "thought",
    }
    return {"messages": [user(question)], "extra_body": {"google": google}}


def structured(rng: random.Random, n: int) -> dict[str, Any]:
    topic = rng.choice(TOPICS)
    schema = {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "difficulty": {"type": "string", "enum": ["easy", "medium", "hard"]},
            "key_points": {"type": "array", "items": {"type": "string"}},
            "minutes_to_learn": {"type": "integer"},
        },
        "required": ["title", "difficulty", "key_points"],
    }
    return {
        "messages": [user(f"Describe {topic} as a study card.")],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "study_card", "schema": schema},
        },
    }


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["C", "F"]},
            },
            "required": ["city"],
        },
    },
}
CITIES = ["Paris", "Lagos", "Tokyo", "Lima", "Oslo", "Sydney", "Montreal", "Nairobi"]


def tools(rng: random.Random, n: int) -> dict[str, Any]:
    city = rng.choice(CITIES)
    question = user(f"Should I take an umbrella in {city} today?")
    if n % 2:
        return {"messages": [question], "tools": [WEATHER_TOOL], "tool_choice": "auto"}
    call = {
        "id": f"call_{n}",
        "type": "function",
        "function": {"name": "get_weather", "arguments": json.dumps({"city": city})},
    }
    result = {"temperature": rng.randint(-5, 35), "rain_probability": rng.randint(0, 100)}
    return {
        "messages": [
            question,
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call["id"], "content": json.dumps(result)},
        ],
        "tools": [WEATHER_TOOL],
    }


KINDS: list[tuple[str, int, Callable[[random.Random, int], dict[str, Any]]]] = [
    ("plain", 90, plain),
    ("system", 45, with_system),
    ("multiturn", 35, multi_turn),
    ("image", 35, image),
    ("thinking", 35, thinking),
    ("structured", 30, structured),
    ("tools", 30, tools),
]


def prompts() -> Iterator[dict[str, Any]]:
    """All lines, kinds interleaved so any prefix of the file has a bit of everything."""
    rng = random.Random(20240501)
    queue = [(kind, make) for kind, count, make in KINDS for _ in range(count)]
    rng.shuffle(queue)
    seen: dict[str, int] = {}
    for kind, make in queue:
        seen[kind] = seen.get(kind, 0) + 1
        yield {"custom_id": f"{kind}-{seen[kind]:03d}", "body": make(rng, seen[kind])}


def main() -> None:
    """Write the file."""
    with OUTPUT.open("w", encoding="utf-8") as file:
        for line in prompts():
            file.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
