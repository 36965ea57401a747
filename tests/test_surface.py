"""The public surface: what ``vertexchat`` and ``vertexchat.types`` export, old names, and what a
type checker sees (``mypy --strict`` run on a snippet written the way users write code)."""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
import sys
import tempfile
import types as stdlib_types
import warnings
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import vertexchat
import vertexchat.types
from vertexchat import _params, _request_models, _response_models

REPO = Path(__file__).resolve().parent.parent


def _public_members(module: stdlib_types.ModuleType) -> list[str]:
    # httpx's test_exported_members: every public name in the namespace is in __all__, sorted.
    # Submodules (vertexchat.sse, .testing, .types) are reached as modules, not exported names.
    lazy = set(getattr(module, "_LAZY", {}))
    names = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, stdlib_types.ModuleType)
    }
    versioned = {"__version__"} & set(vars(module))
    return sorted(names | lazy | versioned, key=str.casefold)


@pytest.mark.parametrize("module", [vertexchat, vertexchat.types], ids=lambda m: m.__name__)
def test_exported_members(module: stdlib_types.ModuleType) -> None:
    assert module.__all__ == _public_members(module)


@pytest.mark.parametrize("module", [vertexchat, vertexchat.types], ids=lambda m: m.__name__)
def test_every_exported_name_resolves_and_is_documented(module: stdlib_types.ModuleType) -> None:
    for name in module.__all__:
        value = getattr(module, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__doc__, name


def test_no_future_import_leaks_into_the_namespace() -> None:
    assert not hasattr(vertexchat, "annotations")
    assert not hasattr(vertexchat.types, "annotations")


def test_a_misspelt_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="Clinet"):
        vertexchat.Clinet  # type: ignore[attr-defined]  # noqa: B018


def test_types_is_reachable_after_a_plain_import() -> None:
    code = "import vertexchat; print(vertexchat.types.Choice.__name__)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "Choice"


def _models_defined_in(module: stdlib_types.ModuleType) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and inspect.isclass(value)
        and issubclass(value, BaseModel)
        and value.__module__ == module.__name__
    }


@pytest.mark.parametrize(
    "module_name",
    ["vertexchat._request_models", "vertexchat._response_models", "vertexchat._structured"],
)
def test_types_exports_every_public_model(module_name: str) -> None:
    module = importlib.import_module(module_name)
    missing = _models_defined_in(module) - set(vertexchat.types.__all__)
    assert not missing, f"add to vertexchat.types: {sorted(missing)}"


def test_types_names_are_the_same_objects_as_the_top_level_ones() -> None:
    for name in set(vertexchat.types.__all__) & set(vertexchat.__all__):
        assert getattr(vertexchat.types, name) is getattr(vertexchat, name), name


def test_every_model_users_meet_has_a_public_class() -> None:
    # Walk the response models' fields: whatever a user can reach by attribute access must be
    # importable from vertexchat.types by its own name.
    seen: set[type[BaseModel]] = set()
    todo: list[type[BaseModel]] = [
        vertexchat.types.ChatCompletion,
        vertexchat.types.ChatCompletionChunk,
    ]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for field in model.model_fields.values():
            for inner in _classes_in(field.annotation):
                if issubclass(inner, BaseModel):
                    todo.append(inner)
    for model in seen:
        assert getattr(vertexchat.types, model.__name__, None) is model, model.__name__


def _classes_in(annotation: Any) -> list[type]:
    if inspect.isclass(annotation) and not hasattr(annotation, "__origin__"):
        return [annotation]
    return [c for arg in getattr(annotation, "__args__", ()) for c in _classes_in(arg)]


# --- old names ---------------------------------------------------------------------------------


def test_google_error_is_a_deprecated_alias_of_google_status() -> None:
    with pytest.warns(DeprecationWarning, match=r"GoogleStatus.*never was an exception"):
        old = vertexchat.GoogleError
    assert old is vertexchat.GoogleStatus
    assert not issubclass(vertexchat.GoogleStatus, BaseException)
    assert "GoogleError" not in vertexchat.__all__
    assert "GoogleError" not in dir(vertexchat)


def test_google_status_is_what_status_errors_carry() -> None:
    error = vertexchat.APIStatusError.__init__.__annotations__.get("error")
    assert error is not None
    assert "GoogleStatus" in str(error)


def test_run_tool_loop_is_a_deprecated_spelling_of_run_tools() -> None:
    with pytest.warns(DeprecationWarning, match=r"chat\.completions\.run_tools"):
        old = vertexchat.run_tool_loop
    from vertexchat._tools import run_tool_loop

    assert old is run_tool_loop
    assert "run_tool_loop" not in vertexchat.__all__


def test_current_names_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in vertexchat.__all__:
            getattr(vertexchat, name)
        for name in vertexchat.types.__all__:
            getattr(vertexchat.types, name)


def test_readme_lists_no_deprecated_name() -> None:
    readme = (REPO / "README.md").read_text()
    assert not re.search(r"\bGoogleError\b", readme)
    assert "run_tool_loop" not in readme


# --- request parameters --------------------------------------------------------------------------


def _keys(typed_dict: Any) -> set[str]:
    return set(typed_dict.__required_keys__ | typed_dict.__optional_keys__)


def test_create_params_name_every_request_field() -> None:
    fields = set(_request_models.ChatCompletionRequest.model_fields)
    # ``stream`` is a separate keyword: it selects create()'s return type.
    assert _keys(_params.CompletionCreateParams) | {"stream"} == fields


def test_parse_and_run_tools_params_are_create_params_minus_their_own_keywords() -> None:
    create = _keys(_params.CompletionCreateParams)
    assert _keys(_params.CompletionParseParams) == create - {"response_format"}
    assert _keys(_params.RunToolsParams) == create - {"messages", "tools"}
    assert _params.CompletionCreateParams.__required_keys__ == {"messages"}
    assert _params.RunToolsParams.__required_keys__ == frozenset()


def test_params_name_the_models_the_fields_take() -> None:
    # The TypedDicts resolve at run time (pydantic and get_type_hints users) to real types.
    from typing import get_type_hints

    hints = get_type_hints(_params.CompletionCreateParams)
    assert _request_models.ExtraBody in hints["extra_body"].__args__
    assert _response_models.ChatCompletionMessage in hints["messages"].__args__[0].__args__


# --- what mypy --strict sees ---------------------------------------------------------------------

# Lines marked "# ERROR" must be reported and every other line must pass: the misspelt name is
# not hidden by the lazy importer, the deprecated alias is not catchable, and correct code
# written the way users write it (dict messages, TypedDict kwargs, every auth kind) type-checks.
SNIPPET = """\
from typing import Any

import httpx
from pydantic import BaseModel

import vertexchat
from vertexchat.types import ChatCompletion, Choice, CompletionCreateParams, GoogleStatus


class Answer(BaseModel):
    text: str


async def main(flag: bool, loose: dict[str, Any]) -> None:
    broken = vertexchat.Clinet(base_url="http://127.0.0.1:9", auth=None)  # ERROR
    async with vertexchat.Client(base_url="http://127.0.0.1:9", auth=None) as client:
        completions = client.chat.completions
        await completions.create(model="m", messages=[], temprature=1)  # ERROR
        await completions.parse(response_format=Answer, messages=[], temprature=1)  # ERROR
        await completions.run_tools(messages=[], tools=[], temprature=1)  # ERROR
        await completions.run_tools(messages=[], tools=[], stream=True)  # ERROR
        client.batch([{"messages": []}], concurency=8)  # ERROR
        completions.stream(messages=[], temprature=1)  # ERROR
        events = completions.stream(messages=[], response_format=Answer, temperature=0.5)
        completion: ChatCompletion = await completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], temperature=1
        )
        choice: Choice = completion.choices[0]
        params: CompletionCreateParams = {"messages": [], "max_tokens": 5}
        await completions.create(**params, timeout=5.0)
        await completions.create(**loose)
        stream: vertexchat.ChatCompletionStream = await completions.create(
            messages=[], stream=True
        )
        either = await completions.create(messages=[], stream=flag)
        parsed = await completions.parse(response_format=Answer, messages=[], max_retries=1)
        answer: Answer | None = parsed.choices[0].message.parsed
        async with client.batch([{"messages": []}], concurrency=8, timeout=5.0) as run:
            print(run)
        print(stream, either, answer, events)
    try:
        print(broken, choice)
    except vertexchat.GoogleError:  # ERROR
        pass
    except vertexchat.APIStatusError as exc:
        status: GoogleStatus | None = exc.error
        print(status)
    for auth in ("token", None, httpx.BasicAuth("u", "p"), vertexchat.ADC):
        vertexchat.Client(base_url="http://127.0.0.1:9", auth=auth)
"""


def _mypy_errors(tmp_path: Path, source: str) -> dict[int, str]:
    import mypy.version

    snippet = tmp_path / "snippet.py"
    snippet.write_text(source)
    # A cache outside the tree, kept between runs (cold, mypy reads pydantic and httpx first).
    cache = Path(tempfile.gettempdir()) / f"vertexchat-test-mypy-{mypy.version.__version__}"
    command = [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(cache), str(snippet)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    errors: dict[int, str] = {}
    for match in re.finditer(r"snippet\.py:(\d+): error: (.*)", result.stdout):
        errors[int(match[1])] = errors.get(int(match[1]), "") + match[2]
    return errors


def test_mypy_strict_reports_exactly_the_mistakes(tmp_path: Path) -> None:
    errors = _mypy_errors(tmp_path, SNIPPET)
    lines = SNIPPET.splitlines()
    expected = {number for number, line in enumerate(lines, 1) if line.endswith("# ERROR")}
    assert set(errors) == expected, errors
    by_text = {lines[number - 1].strip(): message for number, message in errors.items()}
    assert 'maybe "Client"' in by_text[next(t for t in by_text if "Clinet" in t)]
    assert "BaseException" in by_text[next(t for t in by_text if "GoogleError" in t)]
    for text, message in by_text.items():
        # On an overloaded method older mypy says only "No overload variant … matches".
        if "temprature" in text:
            assert '"temprature"' in message or "No overload variant" in message, message
        if "stream=True" in text:
            assert '"stream"' in message, message
        if "concurency" in text:
            assert '"concurency"' in message, message
