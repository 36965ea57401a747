"""The emulator's schema-instance generator, checked by a small independent validator."""

from __future__ import annotations

import random
from typing import Any

import pytest

from vertexchat.testing._schema import generate_instance

_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "null": type(None),
}


def errors(value: Any, schema: Any, root: Any = None, path: str = "$") -> list[str]:
    """Every way ``value`` breaks ``schema`` (the subset the generator claims to honour)."""
    root = schema if root is None else root
    if not isinstance(schema, dict):
        return []
    if "$ref" in schema:
        node = root
        for token in schema["$ref"].lstrip("#/").split("/"):
            node = node[token]
        return errors(value, node, root, path)
    found: list[str] = []
    if "const" in schema and value != schema["const"]:
        found.append(f"{path}: not const")
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{path}: not in enum")
    for key in ("anyOf", "oneOf"):
        if key in schema and all(errors(value, s, root, path) for s in schema[key]):
            found.append(f"{path}: matches no {key} branch")
    for sub in schema.get("allOf", []):
        found += errors(value, sub, root, path)
    found += _type_errors(value, schema, root, path)
    return found


def _type_errors(value: Any, schema: dict[str, Any], root: Any, path: str) -> list[str]:
    kinds = schema.get("type")
    if kinds is None:
        return []
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if schema.get("nullable") and value is None:
        return []
    if not any(_is(value, k) for k in kinds):
        return [f"{path}: {value!r} is not {kinds}"]
    found: list[str] = []
    if isinstance(value, dict):
        found += [f"{path}: missing {r}" for r in schema.get("required", []) if r not in value]
        for name, item in value.items():
            found += errors(item, schema.get("properties", {}).get(name), root, f"{path}.{name}")
        if schema.get("additionalProperties") is False:
            found += [f"{path}: extra {k}" for k in value if k not in schema.get("properties", {})]
    if isinstance(value, list):
        if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", 10**9):
            found.append(f"{path}: bad length")
        for i, item in enumerate(value):
            found += errors(item, schema.get("items"), root, f"{path}[{i}]")
    if isinstance(value, str) and not (
        schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", 10**9)
    ):
        found.append(f"{path}: bad string length")
    if _is(value, "number") and not (
        schema.get("minimum", -(10**18)) <= value <= schema.get("maximum", 10**18)
    ):
        found.append(f"{path}: out of range")
    return found


def _is(value: Any, kind: str) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[kind])


WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 3, "maxLength": 12},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "precise": {"type": "boolean"},
        "scale": {"type": "number", "minimum": 0.5, "maximum": 0.75},
    },
    "required": ["city", "unit"],
    "additionalProperties": False,
}

NESTED = {
    "$defs": {
        "Address": {
            "type": "object",
            "properties": {"street": {"type": "string"}, "zip": {"type": ["string", "null"]}},
            "required": ["street", "zip"],
        },
        "Tag": {"type": "string", "enum": ["a", "b"]},
    },
    "type": "object",
    "properties": {
        "home": {"$ref": "#/$defs/Address"},
        "tags": {"type": "array", "items": {"$ref": "#/$defs/Tag"}, "minItems": 3, "maxItems": 5},
        "note": {"anyOf": [{"type": "null"}, {"type": "string", "maxLength": 5}]},
        "kind": {"const": "person"},
        "both": {"allOf": [{"properties": {"x": {"type": "integer"}}, "required": ["x"]}]},
        "when": {"type": "string", "format": "date-time"},
        "legacy": {"type": "integer", "nullable": True},
    },
    "required": ["home", "tags", "note", "kind", "both"],
}

RECURSIVE = {
    "$defs": {
        "Node": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "child": {"$ref": "#/$defs/Node"}},
            "required": ["name"],
        }
    },
    "$ref": "#/$defs/Node",
}


@pytest.mark.parametrize("schema", [WEATHER, NESTED, RECURSIVE], ids=["flat", "nested", "tree"])
@pytest.mark.parametrize("seed", range(25))
def test_generated_instances_validate(schema: dict[str, Any], seed: int) -> None:
    value = generate_instance(schema, random.Random(seed))
    assert errors(value, schema) == []


def test_generation_is_deterministic_per_seed() -> None:
    first = generate_instance(NESTED, random.Random(7))
    assert generate_instance(NESTED, random.Random(7)) == first


def test_constraints_are_honoured_not_just_typed() -> None:
    value = generate_instance(NESTED, random.Random(1))
    assert value["kind"] == "person"
    assert 3 <= len(value["tags"]) <= 5
    assert value["when"] == "2026-01-15T10:30:00Z"
    assert isinstance(value["both"]["x"], int)


def test_validator_rejects_wrong_values() -> None:
    # The checker itself must be able to fail, or the tests above prove nothing.
    assert errors({"city": "Paris"}, WEATHER) == ["$: missing unit"]
    assert errors({"city": "Rome", "unit": "kelvin"}, WEATHER) == ["$.unit: not in enum"]
    assert errors({"city": "Oslo", "unit": "celsius", "days": 9}, WEATHER)


def test_empty_and_missing_schemas_give_objects_or_values() -> None:
    assert generate_instance({"type": "object"}, random.Random(0)) == {}
    assert isinstance(generate_instance({}, random.Random(0)), str)
    assert generate_instance(
        {"type": "OBJECT", "properties": {"n": {"type": "NULL"}}}, random.Random(0)
    ) == {"n": None}
