"""``Client``: configuration and lifecycle; ``client.chat.completions`` lives in ``_resources``.

Edge module. One ``httpx.AsyncClient`` (the caller's, or one the client owns) is the only
injection point; auth is an ``httpx.Auth`` passed per request, so a borrowed client keeps
its own configuration. Every request goes through the client's ``Pipeline`` (``_call``).
"""

from __future__ import annotations

import copy
import os
from collections.abc import AsyncIterable, Callable, Generator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from . import __version__
from ._auth import ADC, AuthLike, resolve_auth
from ._call import Call, EventHook, Pipeline
from ._exceptions import InvalidRequestError
from ._http_client import LoopBoundHTTPClient
from ._limiter import AdaptiveLimiter
from ._limits import ResponseLimits
from ._observe import CallRecord, Observability
from ._options import DEFAULT_TIMEOUT, USE_CLIENT_DEFAULT, TimeoutLike, UseClientDefault
from ._resources import Chat, Completions
from ._retry import RetryPolicy
from ._urls import (
    OPENAPI_ENDPOINT,
    build_base_url,
    chat_completions_url,
    clear_text_host,
    is_openapi_base_url,
)
from ._usage import UsageTotals

if TYPE_CHECKING:
    from ._batch import BatchRun
    from ._progress import BatchStats
    from ._request_models import ChatCompletionRequest
    from ._tls import CertTypes, VerifyTypes

    BatchItem = ChatCompletionRequest | Mapping[str, Any]

__all__ = ["DEFAULT_TIMEOUT", "USE_CLIENT_DEFAULT", "Client", "Completions"]

_UNBOUNDED = 1_000_000  # the adaptive ceiling when only per-minute limits are set


class Client:
    """Async client for Vertex AI's OpenAI-compatible Chat Completions API.

    ::

        async with vertexchat.Client(project="my-project", location="global") as client:
            completion = await client.chat.completions.create(
                model="google/gemini-2.5-flash",
                messages=[{"role": "user", "content": "Hello"}],
            )

    ``event_hooks={"request": [...], "response": [...]}``: async functions called with each
    attempt's ``httpx.Request`` before it is sent and its ``httpx.Response`` once the head
    arrived (httpx's hooks). ``client.usage`` keeps running totals by model.
    """

    def __init__(
        self,
        project: str | None = None,
        location: str | None = None,
        *,
        endpoint: str | None = None,
        api_version: str = "v1",
        base_url: str | httpx.URL | None = None,
        host: str | None = None,
        auth: AuthLike = ADC,
        timeout: TimeoutLike = DEFAULT_TIMEOUT,
        deadline: float | None = None,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
        headers: Mapping[str, str] | None = None,
        max_concurrency: int | None = None,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        event_hooks: Mapping[str, Sequence[EventHook]] | None = None,
        verify: VerifyTypes = True,
        cert: CertTypes | None = None,
        response_limits: ResponseLimits | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        self.endpoint = endpoint or OPENAPI_ENDPOINT
        self.base_url = (
            str(base_url).rstrip("/")
            if base_url
            else self._default_base_url(project, location, api_version, host)
        )
        # The shared endpoint's model rule, also behind the emulator or a dedicated DNS name.
        self._publisher_model = is_openapi_base_url(self.base_url)
        self._auth = resolve_auth(auth)
        self._allow_insecure_http = allow_insecure_http
        if not allow_insecure_http:
            _refuse_clear_text(self.base_url, _sends_credentials(self._auth, http_client, headers))
        self._api_key = auth if isinstance(auth, str) else None
        self._owns_pool = True
        self.timeout = timeout
        self.deadline = deadline
        policy = retry_policy or RetryPolicy()
        self.retry_policy = policy if max_retries is None else policy.with_max_retries(max_retries)
        self._headers = {
            "content-type": "application/json",
            "accept": "application/json",
            "user-agent": f"vertexchat/{__version__}",
            **(headers or {}),
        }
        self._http = LoopBoundHTTPClient(http_client, timeout=timeout, verify=verify, cert=cert)
        url = chat_completions_url(self.base_url)
        self.response_limits = response_limits or ResponseLimits()
        self._pipeline = Pipeline(url, self._headers, self._http, self._auth, self.response_limits)
        self._observability = Observability(event_hooks=event_hooks)
        self._observe_url = str(self._pipeline.url)
        self._pipeline.observe = self._observe
        self._pipeline.request_hooks = self._observability.request_hooks
        self._pipeline.response_hooks = self._observability.response_hooks
        self.limiter = _limiter_for(max_concurrency, requests_per_minute, tokens_per_minute)
        self.chat = Chat(self)
        self.beta = _Beta(self.chat)

    def _default_base_url(
        self, project: str | None, location: str | None, api_version: str, host: str | None
    ) -> str:
        project = project or os.environ.get("GOOGLE_CLOUD_PROJECT")
        if not project:
            raise ValueError(
                "project is required: pass project=… or set GOOGLE_CLOUD_PROJECT "
                "(or pass base_url=… for another server)"
            )
        location = location or os.environ.get("GOOGLE_CLOUD_LOCATION") or "global"
        return build_base_url(
            project=project,
            location=location,
            endpoint=self.endpoint,
            api_version=api_version,
            host=host,
        )

    def __repr__(self) -> str:
        return f"<vertexchat.Client {self.base_url}>"

    @property
    def usage(self) -> UsageTotals:
        """Running totals of every call on this client, by model (``by_model()``, ``cost()``)."""
        return self._observability.usage

    def _observe(self, request: ChatCompletionRequest, call: Call) -> CallRecord:
        model = request.model or (
            f"endpoints/{self.endpoint}" if self.endpoint != OPENAPI_ENDPOINT else "(default)"
        )
        return self._observability.start(
            request, url=self._observe_url, max_attempts=call.policy.max_attempts, model=model
        )

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections this client owns (a borrowed ``http_client`` stays open).

        A client made by ``with_options``/``copy`` shares its parent's pool and leaves it open.
        """
        if not self._owns_pool:
            return
        await self._http.aclose()
        closer = getattr(self._auth, "aclose", None)
        if closer is not None:
            await closer()

    def close(self) -> _Closed:
        """Close without an event loop: for ``__del__``, ``atexit`` or an actor's shutdown.

        Prefer ``aclose()`` (or ``async with``) inside the loop. ``close()`` awaits nothing:
        the client is marked closed (later calls raise ``RuntimeError``), the connections it
        owns are dropped and their sockets closed by their finalizers, and the token endpoint's
        HTTP client is closed. A borrowed ``http_client`` stays open. Safe to call twice.
        The result may be awaited, so the OpenAI SDK's ``await client.close()`` works too.
        A client made by ``with_options``/``copy`` leaves its parent's pool open.
        """
        if self._owns_pool:
            self._http.close()
            closer = getattr(self._auth, "close", None)
            if closer is not None:
                closer()
        return _CLOSED

    @property
    def max_retries(self) -> int:
        """Retries after the first attempt (the retry policy's ``max_attempts - 1``)."""
        return self.retry_policy.max_retries

    @property
    def api_key(self) -> str | None:
        """The static bearer token, if the client was given one; setting it switches to it."""
        return self._api_key

    @api_key.setter
    def api_key(self, value: str | None) -> None:
        if value is not None and not isinstance(value, str):
            raise TypeError(f"api_key must be a token string or None, not {type(value).__name__}")
        self._set_auth(value)

    def _set_auth(self, auth: AuthLike) -> None:
        resolved = resolve_auth(auth)
        if not self._allow_insecure_http:
            _refuse_clear_text(self.base_url, resolved is not None)
        self._auth = resolved
        self._api_key = auth if isinstance(auth, str) else None
        self._pipeline.auth = self._auth

    def with_options(
        self,
        *,
        timeout: TimeoutLike | UseClientDefault = USE_CLIENT_DEFAULT,
        max_retries: int | UseClientDefault = USE_CLIENT_DEFAULT,
        deadline: float | UseClientDefault | None = USE_CLIENT_DEFAULT,
        retry_policy: RetryPolicy | None = None,
        default_headers: Mapping[str, str] | None = None,
        api_key: str | None = None,
        auth: AuthLike | UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> Client:
        """A client with other defaults that shares this one's connection pool and limiter.

        ``client.with_options(timeout=5, max_retries=0).chat.completions.create(…)``, as in
        the OpenAI SDK; ``copy`` is the same method. ``default_headers`` are added to the
        client's headers; ``api_key`` (a static token) or ``auth`` replace its credentials.
        """
        new = copy.copy(self)
        new._owns_pool = False
        if not isinstance(timeout, UseClientDefault):
            new.timeout = timeout
        if not isinstance(deadline, UseClientDefault):
            new.deadline = deadline
        policy = retry_policy or self.retry_policy
        if not isinstance(max_retries, UseClientDefault):
            policy = policy.with_max_retries(max_retries)
        new.retry_policy = policy
        new._headers = {**self._headers, **(default_headers or {})}
        new._pipeline = Pipeline(
            chat_completions_url(self.base_url), new._headers, self._http, self._auth
        )
        new._pipeline.observe = self._pipeline.observe
        if api_key is not None:
            new._set_auth(api_key)
        elif not isinstance(auth, UseClientDefault):
            new._set_auth(auth)
        new.chat = Chat(new)
        new.beta = _Beta(new.chat)
        return new

    copy = with_options

    def batch(
        self,
        requests: Iterable[BatchItem] | AsyncIterable[BatchItem],
        *,
        concurrency: int = 64,
        max_retries: int | None = None,
        limiter: AdaptiveLimiter | None = None,
        on_progress: Callable[[BatchStats], None] | None = None,
        buffer: int | None = None,
        timeout: TimeoutLike | UseClientDefault = USE_CLIENT_DEFAULT,
        deadline: float | UseClientDefault | None = USE_CLIENT_DEFAULT,
        extra_headers: Mapping[str, str] | None = None,
    ) -> BatchRun:
        """Run many requests concurrently; iterate the result for ``BatchResult``s as they end.

        Each item is a dict of ``create()`` parameters (per-item ``timeout``, ``deadline``,
        ``extra_headers`` and ``max_retries`` allowed) or a ``ChatCompletionRequest``.
        """
        from ._batch import BatchRun

        options: dict[str, Any] = {"timeout": timeout, "deadline": deadline}
        if extra_headers is not None:
            options["extra_headers"] = extra_headers
        return BatchRun(
            self,
            requests,
            concurrency=concurrency,
            max_retries=max_retries,
            limiter=limiter,
            on_progress=on_progress,
            buffer=buffer,
            **options,
        )


def _sends_credentials(
    auth: object, http_client: httpx.AsyncClient | None, headers: Mapping[str, str] | None
) -> bool:
    """Whether requests would carry credentials: our auth, a borrowed client's, or a header."""
    named = {name.lower() for name in headers or {}}
    if http_client is not None:
        named |= {name.lower() for name in http_client.headers}
        if http_client.auth is not None:
            return True
    return auth is not None or bool(named & {"authorization", "x-goog-api-key"})


def _refuse_clear_text(base_url: str, credentials: bool) -> None:
    """Raise if credentials would cross a network in clear text (``allow_insecure_http`` off)."""
    host = clear_text_host(base_url)
    if host is None or not credentials:
        return
    raise InvalidRequestError(
        f"base_url is plain http:// to {host}, which is not loopback: the credentials would "
        "travel in clear text. Use https://, auth=None, or pass allow_insecure_http=True if "
        "the network between you and that host is trusted."
    )


class _Closed:
    """What ``Client.close()`` returns: already done, and awaitable (``await client.close()``)."""

    def __await__(self) -> Generator[None, None, None]:
        return
        yield  # a generator that finishes at once


_CLOSED = _Closed()


class _Beta:
    """``client.beta.chat.completions.parse``: where the OpenAI SDK kept ``parse``."""

    def __init__(self, chat: Chat) -> None:
        self.chat = chat


def _limiter_for(
    max_concurrency: int | None, requests_per_minute: float | None, tokens_per_minute: float | None
) -> AdaptiveLimiter | None:
    """The client-wide adaptive limiter, when any limit is asked for."""
    if max_concurrency is None and requests_per_minute is None and tokens_per_minute is None:
        return None
    return AdaptiveLimiter(
        max_concurrency if max_concurrency is not None else _UNBOUNDED,
        requests_per_minute=requests_per_minute,
        tokens_per_minute=tokens_per_minute,
    )
