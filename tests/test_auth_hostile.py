"""A hostile or hanging token endpoint: no redirects, no leaked secrets, no stuck callers.

The token endpoints here are real loopback HTTP servers (``http.server`` in a thread), reached
through google-auth's own refresh code and vertexchat's token transport.
"""

from __future__ import annotations

import http.server
import json
import threading
import traceback
import urllib.parse

import anyio
import google.oauth2.credentials
import httpx
import pytest
from test_auth import OLD, FakeCredentials

import vertexchat
from tests._token_endpoint import Handler, token_endpoint
from vertexchat._auth import GoogleAuth
from vertexchat._exceptions import CredentialsError
from vertexchat._redact import redact_chain, redact_text
from vertexchat.testing import Emulator

REFRESH_TOKEN = "1//0refresh-SECRET-token"
CLIENT_SECRET = "GOCSPX-client-SECRET"
MODEL = "google/gemini-2.5-flash"
MESSAGES = [{"role": "user", "content": "Hi"}]


def _reply(
    handler: http.server.BaseHTTPRequestHandler, status: int, body: bytes, **headers: str
) -> None:
    handler.send_response(status)
    for name, value in {"content-type": "application/json", **headers}.items():
        handler.send_header(name, value)
    handler.send_header("content-length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _grant_token(handler: http.server.BaseHTTPRequestHandler, body: bytes) -> None:
    answer = {"access_token": "ya29.stolen", "expires_in": 3599, "token_type": "Bearer"}
    _reply(handler, 200, json.dumps(answer).encode())


def _user_credentials(token_uri: str) -> google.oauth2.credentials.Credentials:
    return google.oauth2.credentials.Credentials(  # type: ignore[no-untyped-call]
        token=None,
        refresh_token=REFRESH_TOKEN,
        client_id="client-id.apps.googleusercontent.com",
        client_secret=CLIENT_SECRET,
        token_uri=token_uri,
    )


def _all_text(exc: BaseException) -> str:
    """Everything a user could print: str, repr and the whole formatted chain."""
    return "\n".join([str(exc), repr(exc), *traceback.format_exception(exc)])


def _secrets_in(text: str) -> list[str]:
    forms = {
        secret: [secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)]
        for secret in (REFRESH_TOKEN, CLIENT_SECRET)
    }
    return [secret for secret, spelled in forms.items() if any(f in text for f in spelled)]


# --- redirects ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirecting_token_endpoint_is_refused_and_nothing_reaches_the_target(
    status: int,
) -> None:
    with token_endpoint(_grant_token) as (elsewhere, stolen):

        def redirect(handler: http.server.BaseHTTPRequestHandler, body: bytes) -> None:
            _reply(handler, status, b"", location=elsewhere)

        with token_endpoint(redirect) as (token_uri, sent):
            auth = GoogleAuth(_user_credentials(token_uri))
            with pytest.raises(CredentialsError, match="redirect") as caught:
                await auth.ensure_valid()
            auth.close()
    assert len(sent) == 1  # the real token request, to the configured endpoint only
    assert stolen == []  # nothing, least of all the refresh token, went to the other origin
    assert auth._token is None  # no token from anywhere was adopted
    assert _secrets_in(_all_text(caught.value)) == []


async def test_a_borrowed_refresh_client_that_follows_redirects_does_not_follow_them() -> None:
    with token_endpoint(_grant_token) as (elsewhere, stolen):

        def redirect(handler: http.server.BaseHTTPRequestHandler, body: bytes) -> None:
            _reply(handler, 307, b"", location=elsewhere)

        with (
            token_endpoint(redirect) as (token_uri, _),
            httpx.Client(follow_redirects=True) as refresh_client,
        ):
            auth = GoogleAuth(_user_credentials(token_uri), refresh_client=refresh_client)
            with pytest.raises(CredentialsError, match="redirect"):
                await auth.ensure_valid()
    assert stolen == []


async def test_a_huge_token_reply_is_refused_without_being_held() -> None:
    def flood(handler: http.server.BaseHTTPRequestHandler, body: bytes) -> None:
        _reply(handler, 200, b'{"access_token": "' + b"x" * (5 * 1024 * 1024) + b'"}')

    with token_endpoint(flood) as (token_uri, _):
        auth = GoogleAuth(_user_credentials(token_uri))
        with pytest.raises(CredentialsError, match="larger than"):
            await auth.ensure_valid()
        auth.close()
    assert auth._token is None


# --- secrets echoed by the token endpoint --------------------------------------------------------


def _echo(status: int) -> Handler:
    def handle(handler: http.server.BaseHTTPRequestHandler, body: bytes) -> None:
        form = body.decode()
        decoded = dict(urllib.parse.parse_qsl(form))
        answer = {
            "error": "invalid_grant",
            "error_description": f"Bad request: {form}",
            "received": decoded,
            "hint": f"{decoded.get('client_secret')} and {decoded.get('refresh_token')}",
        }
        _reply(handler, status, json.dumps(answer).encode())

    return handle


@pytest.mark.parametrize("status", [400, 401, 500])
async def test_secrets_echoed_by_the_token_endpoint_never_reach_the_error_or_its_chain(
    status: int,
) -> None:
    with token_endpoint(_echo(status)) as (token_uri, sent):
        auth = GoogleAuth(_user_credentials(token_uri))
        with pytest.raises(CredentialsError) as caught:
            await auth.ensure_valid()
        auth.close()
    assert REFRESH_TOKEN in urllib.parse.unquote_plus(sent[0].decode())  # it was echoed
    assert "invalid_grant" in str(caught.value)  # the useful part is kept
    assert _secrets_in(_all_text(caught.value)) == []
    chain: list[BaseException] = []
    exc: BaseException | None = caught.value
    while exc is not None:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    assert len(chain) >= 2  # the google-auth error is still there to inspect
    assert all(_secrets_in(repr(e.args)) == [] for e in chain)


def test_redaction_masks_token_shapes_and_named_fields() -> None:
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJzYUBwLmlhbSJ9.c2lnbmF0dXJl"
    text = (
        f'assertion={jwt}&x=1 {{"access_token": "ya29.a0AfB_byC", "id_token": "{jwt}"}} '
        "Authorization: Bearer abc.def private_key=-----BEGIN PRIVATE KEY-----\nMIIE\n"
        "-----END PRIVATE KEY----- grant_type=refresh_token"
    )
    masked = redact_text(text)
    for secret in (jwt, "ya29.a0AfB_byC", "abc.def", "MIIE"):
        assert secret not in masked
    assert "grant_type=refresh_token" in masked  # a grant type name is not a secret


def test_redact_chain_reaches_causes_and_contexts() -> None:
    known, unknown = "abcdefgh" + "-secret", "zyxwvu" + "-secret"  # not in the source lines
    try:
        try:
            raise ValueError({"refresh_token": known}, b"echo " + known.encode())
        except ValueError:
            raise RuntimeError(f"during: client_secret={unknown}") from None
    except RuntimeError as exc:
        outer = exc
    redact_chain(outer, [known])
    text = _all_text(outer)
    assert outer.__context__ is not None
    assert known not in text
    assert unknown not in text
    assert "client_secret=***" in text


# --- a hanging refresh: deadlines and cancellation for every waiter -----------------------------


class Recording(httpx.AsyncBaseTransport):
    """The emulator's transport, noting each request's Authorization header (it redacts them)."""

    def __init__(self, emulator: Emulator) -> None:
        self.inner = emulator.transport()
        self.authorizations: list[str | None] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.authorizations.append(request.headers.get("authorization"))
        return await self.inner.handle_async_request(request)


def _client(transport: Recording, auth: GoogleAuth) -> vertexchat.Client:
    return vertexchat.Client(
        "p",
        "us-central1",
        auth=auth,
        max_retries=0,
        http_client=httpx.AsyncClient(transport=transport),
    )


async def test_a_hanging_refresh_honours_every_callers_deadline_and_is_still_shared() -> None:
    gate = threading.Event()
    credentials = FakeCredentials(token=OLD, expires_in=-10, gate=gate)
    transport = Recording(Emulator())
    outcomes: list[BaseException] = []

    async def call(client: vertexchat.Client) -> None:
        try:
            await client.chat.completions.create(model=MODEL, messages=MESSAGES, deadline=0.2)
        except vertexchat.APITimeoutError as exc:
            outcomes.append(exc)

    async with _client(transport, GoogleAuth(credentials)) as client:
        with anyio.fail_after(8):  # the refresh hangs up to 10 s: callers must not wait for it
            async with anyio.create_task_group() as group:
                for _ in range(20):
                    group.start_soon(call, client)
        assert len(outcomes) == 20
        assert credentials.refreshes == 1
        assert transport.authorizations == []  # nobody was sent without a valid token
        gate.set()  # the worker thread finishes in the background; its token is kept
        with anyio.fail_after(10):
            completion = await client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert completion.choices
    assert credentials.refreshes == 1
    assert transport.authorizations == ["Bearer ya29.token-1"]


async def test_a_hanging_refresh_honours_cancellation_of_refresher_and_waiters() -> None:
    gate = threading.Event()
    credentials = FakeCredentials(token=OLD, expires_in=-10, gate=gate)
    auth = GoogleAuth(credentials)
    finished: list[str] = []

    async def wait_for_token(name: str) -> None:
        await auth.ensure_valid()
        finished.append(name)

    with anyio.fail_after(8):
        async with anyio.create_task_group() as group:
            for number in range(10):
                group.start_soon(wait_for_token, f"caller-{number}")
            await anyio.wait_all_tasks_blocked()
            group.cancel_scope.cancel()  # the first caller started the refresh: it too is freed
    assert finished == []
    assert credentials.refreshes == 1
    gate.set()
    with anyio.fail_after(10):
        await auth.ensure_valid()  # joins the refresh still in flight, or reads its result
    assert credentials.refreshes == 1
    assert auth._current().headers["authorization"] == "Bearer ya29.token-1"
