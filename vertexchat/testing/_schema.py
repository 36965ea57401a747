"""Pure: generate a JSON value that validates against a (JSON Schema / OpenAPI 3.0) schema.

Covers what tool ``parameters`` and ``response_format`` schemas use in practice: ``type``
(also as a list), ``enum``, ``const``, objects with ``properties``/``required``, arrays with
``items``/``minItems``/``maxItems``, ``anyOf``/``oneOf`` (first non-null branch), ``allOf``
(merged), ``$ref`` into ``$defs``/``definitions``, ``nullable``, string ``format``s and
``minLength``/``maxLength``, numeric ``minimum``/``maximum``. ``pattern`` is not honoured.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from ._text import words

_MAX_DEPTH = 6
_FORMATS = {
    "date": "2026-01-15",
    "date-time": "2026-01-15T10:30:00Z",
    "time": "10:30:00",
    "email": "user@example.com",
    "uri": "https://example.com/resource",
    "url": "https://example.com/resource",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "uuid": "123e4567-e89b-42d3-a456-426614174000",
}


def generate_instance(schema: Any, rng: random.Random) -> Any:
    """A value valid against ``schema`` (the root, used to resolve ``$ref``)."""
    return _Generator(schema, rng).value(schema, 0)


class _Generator:
    def __init__(self, root: Any, rng: random.Random) -> None:
        self.root = root
        self.rng = rng

    def value(self, schema: Any, depth: int) -> Any:
        if depth > 4 * _MAX_DEPTH:  # a recursive schema whose required keys never end
            return None
        if not isinstance(schema, Mapping):
            return " ".join(words(self.rng, 2))  # `true` or junk: anything goes
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return self.rng.choice(schema["enum"])
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                return self.value(self.pick_branch(schema[key], depth), depth + 1)
        if isinstance(schema.get("allOf"), list):
            return self.value(self.merge(schema), depth + 1)
        return self.typed(schema, _type_of(schema), depth)

    def resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        seen = 0
        while isinstance(schema.get("$ref"), str) and seen < 32:
            target = _pointer(self.root, schema["$ref"])
            schema = target if isinstance(target, Mapping) else {}
            seen += 1
        return schema

    def pick_branch(self, branches: list[Any], depth: int) -> Any:
        null = [b for b in branches if isinstance(b, Mapping) and b.get("type") == "null"]
        other = [b for b in branches if b not in null]
        if (depth >= _MAX_DEPTH and null) or not other:
            return null[0]
        return other[0]

    def merge(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            part = self.resolve(part) if isinstance(part, Mapping) else {}
            for key, item in part.items():
                if key == "properties" and isinstance(item, Mapping):
                    merged["properties"] = {**_dict(merged.get("properties")), **item}
                elif key == "required" and isinstance(item, list):
                    merged["required"] = [*_list(merged.get("required")), *item]
                else:
                    merged.setdefault(key, item)
        return merged

    def typed(self, schema: Mapping[str, Any], kind: str, depth: int) -> Any:
        if kind == "object":
            return self.object(schema, depth)
        if kind == "array":
            return self.array(schema, depth)
        if kind == "string":
            return self.string(schema)
        if kind in ("integer", "number"):
            return self.number(schema, kind)
        if kind == "boolean":
            return self.rng.random() < 0.5
        return None

    def object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties")
        properties = properties if isinstance(properties, Mapping) else {}
        required = schema.get("required")
        required = (
            [r for r in required if isinstance(r, str)] if isinstance(required, list) else []
        )
        names = (
            list(properties) if depth < _MAX_DEPTH else [n for n in required if n in properties]
        )
        result = {name: self.value(properties[name], depth + 1) for name in names}
        for name in required:  # required but undeclared: any value will do
            result.setdefault(name, " ".join(words(self.rng, 2)))
        return result

    def array(self, schema: Mapping[str, Any], depth: int) -> list[Any]:
        low = _int(schema.get("minItems"), 0)
        high = _int(schema.get("maxItems"), max(low, 3))
        count = low if depth >= _MAX_DEPTH else min(high, max(low, 2))
        return [self.value(schema.get("items", {}), depth + 1) for _ in range(count)]

    def string(self, schema: Mapping[str, Any]) -> str:
        fmt = schema.get("format")
        text = _FORMATS.get(fmt, "") if isinstance(fmt, str) else ""
        text = text or " ".join(words(self.rng, self.rng.randint(1, 4)))
        low, high = _int(schema.get("minLength"), 0), schema.get("maxLength")
        while len(text) < low:
            text += " " + " ".join(words(self.rng, 2))
        return text[:high] if isinstance(high, int) and not isinstance(high, bool) else text

    def number(self, schema: Mapping[str, Any], kind: str) -> int | float:
        low, high = _bounds(schema)
        if kind == "integer":
            lo, hi = int(-(-low // 1)), int(high // 1)
            return self.rng.randint(lo, max(lo, hi))
        return round(self.rng.uniform(low, high), 2) if high - low >= 0.02 else low


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _type_of(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if kinds else "null"
    if isinstance(kind, str):
        return kind.lower()  # OpenAPI 3.0 style "OBJECT" is seen too
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return "string"


def _bounds(schema: Mapping[str, Any]) -> tuple[float, float]:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    low_f = float(low) if isinstance(low, (int, float)) else 0.0
    high_f = float(high) if isinstance(high, (int, float)) else low_f + 100.0
    if "exclusiveMinimum" in schema and "minimum" not in schema:
        low_f += 1 if isinstance(low, int) else 0.01
    if "exclusiveMaximum" in schema and "maximum" not in schema:
        high_f -= 1 if isinstance(high, int) else 0.01
    return low_f, max(low_f, high_f)


def _pointer(root: Any, ref: str) -> Any:
    if not ref.startswith("#"):
        return {}
    node = root
    for token in ref[1:].lstrip("/").split("/"):
        if not token:
            continue
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return {}
    return node
