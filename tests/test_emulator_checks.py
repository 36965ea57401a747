"""The emulator rejects what Vertex rejects before answering: a bare model name on the
``openapi`` endpoint, and a prompt longer than the model's context window (400 both)."""

from __future__ import annotations

import httpx
import pytest

import vertexchat
from vertexchat.testing import Emulator
from vertexchat.testing._validate import CONTEXT_WINDOWS, context_window

BASE_URL = "http://emulator/v1/projects/p/locations/global/endpoints/openapi"
DEPLOYED = "http://emulator/v1/projects/p/locations/us-central1/endpoints/1234567890"


def client_for(emulator: Emulator, base_url: str = BASE_URL) -> vertexchat.Client:
    http = httpx.AsyncClient(transport=emulator.transport())
    # An in-process transport: the plain-http URL never reaches a network.
    return vertexchat.Client(
        base_url=base_url, auth="t", http_client=http, max_retries=0, allow_insecure_http=True
    )


async def ask(client: vertexchat.Client, text: str, model: str = "google/gemini-2.5-flash") -> int:
    completion = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": text}]
    )
    assert completion.usage is not None
    return completion.usage.prompt_tokens


async def test_a_bare_model_name_gets_vertexs_400_on_openapi() -> None:
    # Sent raw: vertexchat's client adds the google/ prefix itself, as other clients do not.
    body = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}
    async with httpx.AsyncClient(transport=Emulator().transport()) as http:
        response = await http.post(
            BASE_URL + "/chat/completions", json=body, headers={"authorization": "Bearer t"}
        )
    assert response.status_code == 400
    error = response.json()[0]["error"]  # the one-element array Vertex sends for this 400
    assert error["message"].startswith("Malformed publisher model (`model`: 'gemini-2.5-flash')")


async def test_the_client_prefixes_a_bare_gemini_id_for_the_emulator() -> None:
    emulator = Emulator()
    async with client_for(emulator) as client:
        await ask(client, "hi", model="gemini-2.5-flash")
    assert emulator.requests[0].body["model"] == "google/gemini-2.5-flash"


async def test_the_context_window_is_exact() -> None:
    async with client_for(Emulator()) as client:
        size = await ask(client, "one two three four five")
    limited = Emulator(context_windows=(("gemini-", size),))
    async with client_for(limited) as client:
        assert await ask(client, "one two three four five") == size  # exactly at the limit
        with pytest.raises(vertexchat.BadRequestError) as caught:
            await ask(client, "one two three four five six")
    assert caught.value.status_code == 400
    assert caught.value.error is not None
    assert caught.value.error.message == (
        f"The input token count ({size + 1}) exceeds the maximum number of tokens allowed "
        f"({size})."
    )


async def test_a_prompt_over_a_million_tokens_is_refused_by_default() -> None:
    text = "word " * 1_100_000
    async with client_for(Emulator()) as client:
        with pytest.raises(vertexchat.BadRequestError, match=r"allowed \(1048576\)"):
            await ask(client, text)
        with pytest.raises(vertexchat.BadRequestError, match=r"allowed \(2097152\)"):
            await ask(client, text * 2, model="google/gemini-1.5-pro-002")


async def test_models_without_a_known_window_and_deployed_endpoints_are_not_limited() -> None:
    assert context_window("meta/llama-3.1-405b-instruct-maas") is None
    assert context_window("google/gemini-2.5-pro") == 1_048_576
    assert CONTEXT_WINDOWS[0] == ("gemini-1.5-pro", 2_097_152)
    limited = Emulator(context_windows=(("gemini-", 3),))
    async with client_for(limited, DEPLOYED) as client:
        completion = await client.chat.completions.create(
            messages=[{"role": "user", "content": "a long enough prompt for three tokens"}]
        )
    assert completion.choices[0].message.content
