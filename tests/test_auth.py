"""GoogleAuth, BearerToken and resolve_auth against fake credentials and in-process transports."""

from __future__ import annotations

import datetime
import json
import logging
import subprocess
import sys
import threading
import urllib.parse
from typing import Any

import anyio
import anyio.to_thread
import google.auth
import google.oauth2.credentials
import httpx
import pytest
from google.auth import exceptions as google_exceptions
from google.auth.credentials import Credentials

from vertexchat._auth import ADC, BearerToken, GoogleAuth, resolve_auth
from vertexchat._exceptions import CredentialsError

URL = "https://us-central1-aiplatform.googleapis.com/v1/chat/completions"
OLD = "ya29.old-token"


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class FakeCredentials(Credentials):
    """google-auth credentials whose refresh counts calls, can wait for a gate, or fail."""

    def __init__(
        self,
        *,
        token: str | None = None,
        expires_in: float | None = None,
        lifetime: float = 3600.0,
        quota_project: str | None = None,
        failure: Exception | None = None,
        gate: threading.Event | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.token = token
        self.expiry = None if expires_in is None else _utcnow() + _seconds(expires_in)
        self._quota_project_id = quota_project
        self.lifetime = lifetime
        self.failure = failure
        self.gate = gate
        self.refreshes = 0
        self.refresh_threads: list[int] = []
        self._count_lock = threading.Lock()

    def refresh(self, request: Any) -> None:
        with self._count_lock:
            self.refreshes += 1
            number = self.refreshes
        self.refresh_threads.append(threading.get_ident())
        if self.gate is not None:
            assert self.gate.wait(timeout=10), "the test never opened the gate"
        if self.failure is not None:
            raise self.failure
        self.token = f"ya29.token-{number}"
        self.expiry = _utcnow() + _seconds(self.lifetime)


def _refresh_error(*args: object) -> Exception:
    return google_exceptions.RefreshError(*args)  # type: ignore[no-untyped-call]


def _seconds(value: float) -> datetime.timedelta:
    return datetime.timedelta(seconds=value)


class Recorder:
    """A transport handler that records Authorization headers and answers 401 to some tokens."""

    def __init__(self, rejected: set[str] | None = None) -> None:
        self.rejected = rejected or set()
        self.authorizations: list[str | None] = []
        self.user_projects: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        authorization = request.headers.get("authorization")
        self.authorizations.append(authorization)
        self.user_projects.append(request.headers.get("x-goog-user-project"))
        if authorization in self.rejected:
            return httpx.Response(401, json={"error": {"code": 401, "status": "UNAUTHENTICATED"}})
        return httpx.Response(200, json={"ok": True})


def _client(auth: httpx.Auth, recorder: Recorder) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(recorder), auth=auth)


async def _open_gate_when_all_blocked(gate: threading.Event, recorder: Recorder) -> None:
    await anyio.wait_all_tasks_blocked()
    assert recorder.authorizations == []  # nobody got past auth while the refresh was pending
    gate.set()


# --- single-flight refresh ---------------------------------------------------------------------


async def test_thousand_concurrent_requests_with_expired_token_cause_one_refresh() -> None:
    gate = threading.Event()
    credentials = FakeCredentials(token=OLD, expires_in=-10, gate=gate)
    recorder = Recorder()
    async with _client(GoogleAuth(credentials), recorder) as client:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                for _ in range(1000):
                    group.start_soon(client.get, URL)
                group.start_soon(_open_gate_when_all_blocked, gate, recorder)
    assert credentials.refreshes == 1
    assert recorder.authorizations == ["Bearer ya29.token-1"] * 1000


async def test_refresh_failure_fails_every_waiting_call_without_hanging() -> None:
    gate = threading.Event()
    failure = _refresh_error("invalid_grant: Token has been expired or revoked.")
    credentials = FakeCredentials(token=OLD, expires_in=-10, gate=gate, failure=failure)
    recorder = Recorder()
    errors: list[CredentialsError] = []

    async def call(client: httpx.AsyncClient) -> None:
        try:
            await client.get(URL)
        except CredentialsError as exc:
            errors.append(exc)

    async with _client(GoogleAuth(credentials), recorder) as client:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                for _ in range(1000):
                    group.start_soon(call, client)
                group.start_soon(_open_gate_when_all_blocked, gate, recorder)
        assert len(errors) == 1000
        assert credentials.refreshes == 1
        assert all(isinstance(error.__cause__, google_exceptions.RefreshError) for error in errors)
        assert "Token has been expired or revoked" in str(errors[0])
        assert recorder.authorizations == []

        # A later call tries again, and succeeds once the credentials work again.
        credentials.failure = None
        response = await client.get(URL)
    assert response.status_code == 200
    assert credentials.refreshes == 2
    assert recorder.authorizations == ["Bearer ya29.token-2"]


async def test_refresh_runs_in_a_worker_thread() -> None:
    credentials = FakeCredentials(token=OLD, expires_in=-10)
    async with _client(GoogleAuth(credentials), Recorder()) as client:
        await client.get(URL)
    assert credentials.refresh_threads
    assert threading.get_ident() not in credentials.refresh_threads


async def test_valid_token_takes_no_lock_and_no_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    hops = _count_thread_hops_and_locks(monkeypatch)
    credentials = FakeCredentials(token="ya29.valid", expires_in=3600)
    recorder = Recorder()
    async with _client(GoogleAuth(credentials), recorder) as client:
        for _ in range(3):
            await client.get(URL)
    assert credentials.refreshes == 0
    assert hops == {"threads": 0, "locks": 0}
    assert recorder.authorizations == ["Bearer ya29.valid"] * 3


async def test_expired_token_does_hop_to_a_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # The counterpart of the test above: proves the counters see the slow path.
    hops = _count_thread_hops_and_locks(monkeypatch)
    credentials = FakeCredentials(token=OLD, expires_in=-10)
    async with _client(GoogleAuth(credentials), Recorder()) as client:
        await client.get(URL)
        await client.get(URL)
    assert hops == {"threads": 1, "locks": 1}


def _count_thread_hops_and_locks(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count worker threads started and waits set up (an anyio.Event per waiting caller)."""
    counts = {"threads": 0, "locks": 0}
    real_thread = threading.Thread
    real_event = anyio.Event

    class CountingThread(real_thread):  # type: ignore[valid-type,misc]
        def start(self) -> None:
            counts["threads"] += 1
            super().start()

    def event() -> anyio.Event:
        counts["locks"] += 1
        return real_event()

    monkeypatch.setattr(threading, "Thread", CountingThread)
    monkeypatch.setattr(anyio, "Event", event)
    return counts


async def test_token_inside_refresh_margin_keeps_serving_while_one_refresh_runs() -> None:
    gate = threading.Event()  # the refresh hangs until the test opens it
    credentials = FakeCredentials(token=OLD, expires_in=200, gate=gate)
    recorder = Recorder()
    auth = GoogleAuth(credentials, refresh_margin=300)
    async with _client(auth, recorder) as client:
        with anyio.fail_after(10):  # traffic paused by the refresh would hang here
            for _ in range(50):
                await client.get(URL)
        assert recorder.authorizations == [f"Bearer {OLD}"] * 50
        assert credentials.refreshes == 1  # one background refresh, not one per request
        gate.set()
        with anyio.fail_after(10):
            await auth.ensure_valid()  # joins the refresh in flight
        await client.get(URL)
    assert credentials.refreshes == 1
    assert recorder.authorizations[-1] == "Bearer ya29.token-1"


async def test_expired_token_waits_for_the_refresh() -> None:
    credentials = FakeCredentials(token=OLD, expires_in=5)  # inside the expiry skew
    recorder = Recorder()
    async with _client(GoogleAuth(credentials, refresh_margin=300), recorder) as client:
        await client.get(URL)
    assert credentials.refreshes == 1
    assert recorder.authorizations == ["Bearer ya29.token-1"]


async def test_token_outside_refresh_margin_is_used_as_is() -> None:
    credentials = FakeCredentials(token="ya29.valid", expires_in=200)
    recorder = Recorder()
    async with _client(GoogleAuth(credentials, refresh_margin=60), recorder) as client:
        await client.get(URL)
    assert credentials.refreshes == 0
    assert recorder.authorizations == ["Bearer ya29.valid"]


async def test_token_shorter_lived_than_the_margin_is_not_refreshed_per_request() -> None:
    credentials = FakeCredentials(lifetime=120)
    async with _client(GoogleAuth(credentials, refresh_margin=300), Recorder()) as client:
        for _ in range(5):
            await client.get(URL)
    assert credentials.refreshes == 1


async def test_token_without_expiry_is_never_refreshed() -> None:
    credentials = FakeCredentials(token="ya29.forever")
    async with _client(GoogleAuth(credentials), Recorder()) as client:
        await client.get(URL)
    assert credentials.refreshes == 0


# --- 401 ---------------------------------------------------------------------------------------


async def test_401_forces_one_refresh_and_one_retry() -> None:
    credentials = FakeCredentials(token="ya29.revoked", expires_in=3600)
    recorder = Recorder(rejected={"Bearer ya29.revoked"})
    async with _client(GoogleAuth(credentials), recorder) as client:
        response = await client.post(URL, json={"model": "google/gemini"})
    assert response.status_code == 200
    assert credentials.refreshes == 1
    assert recorder.authorizations == ["Bearer ya29.revoked", "Bearer ya29.token-1"]
    assert [r.status_code for r in response.history] == [401]


async def test_second_401_is_returned_not_looped() -> None:
    credentials = FakeCredentials(token="ya29.revoked", expires_in=3600)
    recorder = Recorder(rejected={"Bearer ya29.revoked", "Bearer ya29.token-1"})
    async with _client(GoogleAuth(credentials), recorder) as client:
        response = await client.get(URL)
    assert response.status_code == 401
    assert credentials.refreshes == 1
    assert len(recorder.authorizations) == 2


async def test_many_concurrent_401s_cause_one_forced_refresh() -> None:
    gate = threading.Event()
    credentials = FakeCredentials(token="ya29.revoked", expires_in=3600, gate=gate)
    recorder = Recorder(rejected={"Bearer ya29.revoked"})

    async def open_gate_after_all_401s() -> None:
        await anyio.wait_all_tasks_blocked()
        assert recorder.authorizations == ["Bearer ya29.revoked"] * 100
        gate.set()

    async with _client(GoogleAuth(credentials), recorder) as client:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                for _ in range(100):
                    group.start_soon(client.get, URL)
                group.start_soon(open_gate_after_all_401s)
    assert credentials.refreshes == 1
    assert recorder.authorizations[100:] == ["Bearer ya29.token-1"] * 100


async def test_401_whose_refresh_fails_raises_credentials_error() -> None:
    failure = _refresh_error("invalid_grant: account disabled")
    credentials = FakeCredentials(token="ya29.revoked", expires_in=3600, failure=failure)
    recorder = Recorder(rejected={"Bearer ya29.revoked"})
    async with _client(GoogleAuth(credentials), recorder) as client:
        with pytest.raises(CredentialsError, match="account disabled"):
            await client.get(URL)
    assert len(recorder.authorizations) == 1


async def test_force_refresh_and_ensure_valid() -> None:
    credentials = FakeCredentials(token="ya29.valid", expires_in=3600)
    auth = GoogleAuth(credentials)
    await auth.ensure_valid()
    assert credentials.refreshes == 0
    await auth.force_refresh()
    assert credentials.refreshes == 1
    recorder = Recorder()
    async with _client(auth, recorder) as client:
        await client.get(URL)
    assert recorder.authorizations == ["Bearer ya29.token-1"]


# --- headers, secrecy --------------------------------------------------------------------------


async def test_quota_project_header_is_sent() -> None:
    credentials = FakeCredentials(token="ya29.valid", expires_in=3600, quota_project="billing-1")
    recorder = Recorder()
    async with _client(GoogleAuth(credentials), recorder) as client:
        await client.get(URL)
    assert recorder.user_projects == ["billing-1"]


async def test_no_quota_project_header_without_quota_project() -> None:
    recorder = Recorder()
    credentials = FakeCredentials(token="ya29.valid", expires_in=3600)
    async with _client(GoogleAuth(credentials), recorder) as client:
        await client.get(URL)
    assert recorder.user_projects == [None]


async def test_no_token_in_reprs_messages_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "ya29.very-secret"
    failure = _refresh_error(f"No access token in response: {secret}", {"access_token": secret})
    credentials = FakeCredentials(token=secret, expires_in=-10, failure=failure)
    auth = GoogleAuth(credentials)
    async with _client(auth, Recorder()) as client:
        with pytest.raises(CredentialsError) as caught:
            await client.get(URL)
    texts = [repr(auth), str(auth), str(caught.value), repr(caught.value), caplog.text]
    assert caplog.records  # the refresh was logged, so the log check below means something
    assert not [text for text in texts if secret in text or "very-secret" in text]


def test_bearer_token_repr_hides_token() -> None:
    token = BearerToken("ya29.static-secret")
    assert repr(token) == "BearerToken('***')"
    assert "secret" not in str(token)


def test_bearer_token_sets_header() -> None:
    recorder = Recorder()
    with httpx.Client(transport=httpx.MockTransport(recorder), auth=BearerToken("abc")) as client:
        client.get(URL)
    assert recorder.authorizations == ["Bearer abc"]


@pytest.mark.parametrize("bad", ["", "   "])
def test_bearer_token_rejects_empty(bad: str) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        BearerToken(bad)


def test_sync_use_is_refused() -> None:
    auth = GoogleAuth(FakeCredentials(token="ya29.valid", expires_in=3600))
    with (
        httpx.Client(transport=httpx.MockTransport(Recorder()), auth=auth) as client,
        pytest.raises(RuntimeError, match="async-only"),
    ):
        client.get(URL)


# --- Application Default Credentials -----------------------------------------------------------


async def test_adc_is_loaded_lazily_in_a_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = FakeCredentials()
    calls: list[tuple[list[str], int]] = []

    def fake_default(scopes: list[str]) -> tuple[Credentials, str]:
        calls.append((scopes, threading.get_ident()))
        return loaded, "adc-project"

    monkeypatch.setattr(google.auth, "default", fake_default)
    auth = GoogleAuth()
    assert calls == []
    assert auth.credentials is None
    assert (
        repr(auth) == "GoogleAuth(ADC, scopes=['https://www.googleapis.com/auth/cloud-platform'])"
    )
    recorder = Recorder()
    async with _client(auth, recorder) as client:
        await client.get(URL)
        await client.get(URL)
    assert [scopes for scopes, _ in calls] == [["https://www.googleapis.com/auth/cloud-platform"]]
    assert calls[0][1] != threading.get_ident()
    assert auth.credentials is loaded
    assert auth.default_project == "adc-project"
    assert recorder.authorizations == ["Bearer ya29.token-1"] * 2


async def test_missing_adc_explains_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/vertexchat-test.json")
    async with _client(GoogleAuth(), Recorder()) as client:
        with pytest.raises(CredentialsError, match="gcloud auth application-default login") as e:
            await client.get(URL)
    assert isinstance(e.value.__cause__, google_exceptions.DefaultCredentialsError)
    assert "GOOGLE_APPLICATION_CREDENTIALS" in str(e.value)


def test_importing_auth_does_not_import_google_auth() -> None:
    code = (
        "import sys, vertexchat._auth as a; a.resolve_auth(a.ADC); a.resolve_auth('t');"
        "sys.exit(any(m == 'google.auth' or m.startswith('google.auth.') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_one_auth_works_across_event_loops_and_backends() -> None:
    credentials = FakeCredentials(token=OLD, expires_in=-10)
    auth = GoogleAuth(credentials)

    async def call() -> None:
        async with _client(auth, Recorder()) as client:
            await client.get(URL)
        await auth.force_refresh()

    anyio.run(call, backend="asyncio")
    anyio.run(call, backend="asyncio")
    anyio.run(call, backend="trio")
    assert credentials.refreshes == 4  # the first call's refresh, then one forced per run


# --- the token-endpoint transport (google-auth over a sync httpx.Client) -----------------------


def _user_credentials() -> google.oauth2.credentials.Credentials:
    return google.oauth2.credentials.Credentials(  # type: ignore[no-untyped-call]
        token=None,
        refresh_token="refresh-secret",
        client_id="client-id",
        client_secret="client-secret",
        token_uri="https://oauth2.example.test/token",
        quota_project_id="quota-7",
    )


async def test_refresh_through_httpx_token_endpoint() -> None:
    token_requests: list[httpx.Request] = []

    def token_endpoint(request: httpx.Request) -> httpx.Response:
        token_requests.append(request)
        body = {"access_token": "ya29.from-endpoint", "expires_in": 3599, "token_type": "Bearer"}
        return httpx.Response(200, json=body)

    recorder = Recorder()
    with httpx.Client(transport=httpx.MockTransport(token_endpoint)) as refresh_client:
        auth = GoogleAuth(_user_credentials(), refresh_client=refresh_client)
        async with _client(auth, recorder) as client:
            await client.get(URL)
            await client.get(URL)
        await auth.aclose()
        assert not refresh_client.is_closed  # borrowed, so not ours to close
    assert recorder.authorizations == ["Bearer ya29.from-endpoint"] * 2
    assert recorder.user_projects == ["quota-7"] * 2
    assert len(token_requests) == 1
    sent = token_requests[0]
    assert (sent.method, str(sent.url)) == ("POST", "https://oauth2.example.test/token")
    form = urllib.parse.parse_qs(sent.content.decode())
    assert form["grant_type"] == ["refresh_token"]
    assert form["refresh_token"] == ["refresh-secret"]


async def test_token_endpoint_rejection_is_a_credentials_error() -> None:
    def token_endpoint(request: httpx.Request) -> httpx.Response:
        body = {"error": "invalid_grant", "error_description": "Token has been revoked."}
        return httpx.Response(400, content=json.dumps(body).encode())

    with httpx.Client(transport=httpx.MockTransport(token_endpoint)) as refresh_client:
        auth = GoogleAuth(_user_credentials(), refresh_client=refresh_client)
        async with _client(auth, Recorder()) as client:
            with pytest.raises(CredentialsError, match="invalid_grant") as caught:
                await client.get(URL)
    assert isinstance(caught.value.__cause__, google_exceptions.RefreshError)
    assert "refresh-secret" not in str(caught.value)


async def test_token_endpoint_connection_error_is_a_credentials_error() -> None:
    def token_endpoint(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with httpx.Client(transport=httpx.MockTransport(token_endpoint)) as refresh_client:
        auth = GoogleAuth(_user_credentials(), refresh_client=refresh_client)
        async with _client(auth, Recorder()) as client:
            with pytest.raises(CredentialsError, match="could not reach Google") as caught:
                await client.get(URL)
    cause = caught.value.__cause__
    assert isinstance(cause, google_exceptions.TransportError)
    assert isinstance(cause.__cause__, httpx.ConnectError)


async def test_owned_refresh_client_is_closed_by_aclose(monkeypatch: pytest.MonkeyPatch) -> None:
    created: list[httpx.Client] = []
    real_client = httpx.Client

    def token_endpoint(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"access_token": "ya29.x", "expires_in": 3599})

    def make_client(**kwargs: Any) -> httpx.Client:
        client = real_client(transport=httpx.MockTransport(token_endpoint), **kwargs)
        created.append(client)
        return client

    monkeypatch.setattr(httpx, "Client", make_client)
    auth = GoogleAuth(_user_credentials())
    assert created == []  # created lazily, on the first refresh
    await auth.ensure_valid()
    assert len(created) == 1
    assert not created[0].is_closed
    await auth.aclose()
    assert created[0].is_closed


# --- resolve_auth ------------------------------------------------------------------------------


def test_resolve_auth_default_is_lazy_adc() -> None:
    auth = resolve_auth(ADC)
    assert isinstance(auth, GoogleAuth)
    assert auth.credentials is None
    assert repr(ADC) == "ADC"


def test_resolve_auth_string_is_static_bearer_token() -> None:
    assert isinstance(resolve_auth("token"), BearerToken)


def test_resolve_auth_none_disables_auth() -> None:
    assert resolve_auth(None) is None


def test_resolve_auth_keeps_httpx_auth() -> None:
    auth = httpx.BasicAuth("user", "pass")
    assert resolve_auth(auth) is auth


def test_resolve_auth_wraps_google_credentials() -> None:
    credentials = FakeCredentials(token="ya29.valid")
    auth = resolve_auth(credentials)
    assert isinstance(auth, GoogleAuth)
    assert auth.credentials is credentials


@pytest.mark.parametrize("bad", [42, b"bytes-token", object()])
def test_resolve_auth_rejects_other_types(bad: object) -> None:
    with pytest.raises(TypeError, match="auth must be"):
        resolve_auth(bad)


def test_google_auth_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match="credentials"):
        GoogleAuth("ya29.token")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="scopes"):
        GoogleAuth(scopes="https://www.googleapis.com/auth/cloud-platform")
    with pytest.raises(ValueError, match="refresh_margin"):
        GoogleAuth(refresh_margin=-1)
