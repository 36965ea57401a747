"""Google authentication for httpx: ADC or given credentials, refreshed once for many callers.

Implements vertex-api.md §2. google-auth is synchronous and is imported only when first needed,
so ``import vertexchat`` stays cheap. Its blocking refresh runs as one "flight" in a worker
thread: a thousand callers holding an expired token cause one refresh and all wait for it, each
honouring its own cancellation and deadline, while the thread finishes in the background and its
token is kept for everyone. A token still valid but inside the refresh margin keeps being used
while one background refresh runs. A request whose token is fresh takes no lock and no thread.

Token requests never follow redirects (a JWT assertion, refresh token or client secret is never
re-sent to another origin), and secrets a token endpoint echoes are scrubbed from the error and
its whole cause chain.
"""

from __future__ import annotations

import datetime
import logging
import math
import sys
import threading
import time
from collections.abc import AsyncGenerator, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, TypeAlias, Union

import httpx

from vertexchat._exceptions import CredentialsError
from vertexchat._redact import redact_chain, redact_text
from vertexchat._refresh import Flight, TokenTransport

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

__all__ = [
    "ADC",
    "CLOUD_PLATFORM_SCOPE",
    "ApplicationDefault",
    "AuthLike",
    "BearerToken",
    "GoogleAuth",
    "resolve_auth",
]

CLOUD_PLATFORM_SCOPE: Final = "https://www.googleapis.com/auth/cloud-platform"

_log = logging.getLogger(__name__)
_MAX_DETAIL = 300
_EXPIRY_SKEW = 10.0  # a token is not sent in its last seconds: clocks and queues are not exact
_BACKGROUND_RETRY = 10.0  # after a failed background refresh, keep the valid token this long


class ApplicationDefault:
    """Type of the ``ADC`` sentinel: load Application Default Credentials on first use."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ADC"


ADC: Final = ApplicationDefault()

AuthLike: TypeAlias = Union[str, httpx.Auth, "Credentials", ApplicationDefault, None]
"""What ``Client(auth=…)`` takes: ``ADC`` (the default), a static token, any ``httpx.Auth``
(``GoogleAuth``, ``BearerToken``, ``httpx.BasicAuth``, …), google-auth ``Credentials``, or
``None`` for no ``Authorization`` header."""


class BearerToken(httpx.Auth):
    """A static bearer token sent as ``Authorization: Bearer …``; never refreshed."""

    def __init__(self, token: str) -> None:
        if not isinstance(token, str) or not token.strip():
            raise ValueError("BearerToken needs a non-empty token string")
        self._header = f"Bearer {token.strip()}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the authorization header."""
        request.headers["authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return "BearerToken('***')"


@dataclass(frozen=True)
class _Token:
    """Headers carrying one access token; until when it is fresh, and until when it is valid.

    Past ``fresh_until`` a refresh starts; until ``valid_until`` the token is still sent while
    that refresh runs.
    """

    headers: Mapping[str, str]
    fresh_until: float
    valid_until: float

    def apply(self, request: httpx.Request) -> None:
        """Write the headers into the request (item by item: cheaper than Headers.update)."""
        for name, value in self.headers.items():
            request.headers[name] = value


class GoogleAuth(httpx.Auth):
    """httpx auth from google-auth credentials (Application Default Credentials by default).

    The token is refreshed ``refresh_margin`` seconds before it expires and once after a 401,
    in a worker thread, one refresh at a time. Async only: use it with ``httpx.AsyncClient``.
    """

    def __init__(
        self,
        credentials: Credentials | None = None,
        *,
        scopes: Sequence[str] = (CLOUD_PLATFORM_SCOPE,),
        refresh_margin: float = 300.0,
        refresh_client: httpx.Client | None = None,
    ) -> None:
        if isinstance(scopes, str):
            raise TypeError("scopes must be a sequence of scope strings, not one string")
        if not refresh_margin >= 0 or math.isinf(refresh_margin):
            raise ValueError("refresh_margin must be a finite number of seconds >= 0")
        self._scopes = tuple(scopes)
        self._margin = float(refresh_margin)
        self._credentials = None if credentials is None else _scoped(credentials, self._scopes)
        self._from_adc = credentials is None
        self._default_project: str | None = None
        self._transport = TokenTransport(refresh_client)
        self._token: _Token | None = None
        self._state = threading.Lock()  # guards _flight, _attempts, _failure across threads
        self._flight: Flight | None = None
        self._attempts = 0  # refresh attempts finished, successful or not
        self._failure: BaseException | None = None  # why the latest attempt failed
        self._background_after = 0.0  # monotonic time before which no background refresh starts

    @property
    def credentials(self) -> Credentials | None:
        """The google-auth credentials in use; ``None`` until ADC has been loaded."""
        return self._credentials

    @property
    def default_project(self) -> str | None:
        """The project ADC reported when it was loaded (``None`` before, or if it had none)."""
        return self._default_project

    def __repr__(self) -> str:
        source = "ADC" if self._credentials is None else type(self._credentials).__name__
        return f"GoogleAuth({source}, scopes={list(self._scopes)!r})"

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Add a fresh token; after a 401, refresh once and send the request once more."""
        token = self._token
        if token is None or time.monotonic() >= token.fresh_until:
            token = await self._usable_token()
        issued_after = self._attempts
        token.apply(request)
        response = yield request
        if response.status_code != httpx.codes.UNAUTHORIZED:
            return
        _log.debug("HTTP 401 from %s; refreshing the Google access token", request.url.host)
        await self._refresh(issued_after, force=True)
        self._current().apply(request)
        yield request

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Refuse: vertexchat is async-only, and a blocking refresh would stall the caller."""
        raise RuntimeError("GoogleAuth is async-only: use it with httpx.AsyncClient")

    async def ensure_valid(self) -> None:
        """Load credentials and refresh the token now if it is missing or about to expire."""
        token = self._token
        if token is None or time.monotonic() >= token.fresh_until:
            await self._refresh(self._attempts, force=False)

    async def force_refresh(self) -> None:
        """Refresh the token now, unless another task is refreshing it already."""
        await self._refresh(self._attempts, force=True)

    async def aclose(self) -> None:
        """Close the HTTP client used to reach Google's token endpoint, if this object owns it."""
        self._transport.close()  # closing idle sockets does not block, so no thread is needed

    def close(self) -> None:
        """Close the HTTP client used to reach Google's token endpoint, if this object owns it."""
        self._transport.close()

    async def _usable_token(self) -> _Token:
        """A token to send now: the current one while it is valid (refreshing behind it)."""
        seen = self._attempts
        token = self._adopt_current()
        now = time.monotonic()
        if token is not None and now < token.fresh_until:
            return token
        if token is not None and now < token.valid_until:
            if now >= self._background_after:
                self._join_or_start(seen, force=False)  # not awaited: traffic goes on
            return token
        await self._refresh(seen, force=False)
        return self._current()

    async def _refresh(self, seen: int, *, force: bool) -> None:
        """Refresh unless an attempt finished since ``seen``; share that attempt's outcome.

        Cancellation (or a caller's deadline) ends the wait, not the refresh.
        """
        flight = self._join_or_start(seen, force=force)
        if flight is None:
            return
        await flight.wait()
        if flight.failure is not None:
            raise self._credentials_error(flight.failure) from flight.failure

    def _join_or_start(self, seen: int, *, force: bool) -> Flight | None:
        """The refresh in flight, a new one, or None when one finished since ``seen``."""
        with self._state:
            if self._flight is not None:
                return self._flight
            if self._attempts != seen:
                if self._failure is not None:
                    raise self._credentials_error(self._failure) from self._failure
                return None
            token = None if force else self._adopt_current()
            if token is not None and time.monotonic() < token.fresh_until:
                return None
            flight = self._flight = Flight()
        _log.debug("refreshing the Google access token")
        worker = threading.Thread(
            target=self._fly, args=(flight,), name="vertexchat-token-refresh", daemon=True
        )
        worker.start()
        return flight

    def _fly(self, flight: Flight) -> None:
        """The worker thread: refresh, keep the outcome for everyone, wake the waiters."""
        token: _Token | None = None
        failure: BaseException | None = None
        try:
            token = self._refresh_blocking()
        except BaseException as exc:
            redact_chain(exc, self._secrets())
            failure = exc
            _log.debug("refreshing the Google access token failed: %s", type(exc).__name__)
        if token is not None:
            self._token = token
        # Waking the waiters returns once each event loop has run the wake-up, so callers that
        # were already scheduled there join this finished flight and share its outcome (one
        # refresh for callers arriving together, as under a lock); later callers start anew.
        flight.finish(failure)
        with self._state:
            if token is None:
                self._background_after = time.monotonic() + _BACKGROUND_RETRY
            self._failure = failure
            self._attempts += 1
            self._flight = None

    def _refresh_blocking(self) -> _Token:
        """Runs in a worker thread: load ADC if needed, refresh, read the new token."""
        credentials = self._credentials
        if credentials is None:
            credentials = self._credentials = self._load_default()
        credentials.refresh(self._transport)  # type: ignore[no-untyped-call]
        token = self._token_from(credentials, just_refreshed=True)
        if token is None:
            raise CredentialsError("Google credentials refreshed without returning a token")
        return token

    def _load_default(self) -> Credentials:
        import google.auth

        credentials, project = google.auth.default(scopes=list(self._scopes))
        self._default_project = project
        return credentials

    def _adopt_current(self) -> _Token | None:
        """Our token, or the credentials' own if valid and different (refreshed by their owner)."""
        credentials = self._credentials
        if credentials is None:
            return self._token
        current = self._token
        token = self._token_from(credentials, just_refreshed=False)
        if token is None or time.monotonic() >= token.valid_until:
            return current
        if current is None or token.headers != current.headers:
            self._token = current = token
        return current

    def _token_from(self, credentials: Credentials, *, just_refreshed: bool) -> _Token | None:
        if not credentials.token:
            return None
        headers: dict[str, str] = {}
        # authorization, plus x-goog-user-project when the credentials carry a quota project
        credentials.apply(headers)  # type: ignore[no-untyped-call]
        now = time.monotonic()
        remaining = _seconds_until(credentials.expiry)
        if remaining is None:
            return _Token(headers, math.inf, math.inf)
        if just_refreshed:
            valid_until = now + remaining - min(_EXPIRY_SKEW, remaining / 2)
            # A token that lives shorter than the margin is still used for half its life,
            # instead of being refreshed again on every request.
            return _Token(headers, now + max(remaining - self._margin, remaining / 2), valid_until)
        return _Token(headers, now + remaining - self._margin, now + remaining - _EXPIRY_SKEW)

    def _current(self) -> _Token:
        if self._token is None:  # only if a refresh attempt was interrupted before it finished
            raise CredentialsError(
                "no Google access token is available; the refresh was interrupted"
            )
        return self._token

    def _credentials_error(self, exc: BaseException) -> CredentialsError:
        message = _describe_failure(exc, from_adc=self._from_adc)
        return CredentialsError(redact_text(message, self._secrets()))

    def _secrets(self) -> list[str]:
        """What these credentials must never show: refresh token, client secret, tokens."""
        credentials = self._credentials
        names = ("refresh_token", "client_secret", "token", "_refresh_token", "_client_secret")
        values = [getattr(credentials, name, None) for name in names] if credentials else []
        return [value for value in values if isinstance(value, str)]


def resolve_auth(auth: object) -> httpx.Auth | None:
    """Turn the client's ``auth=`` argument into an ``httpx.Auth`` (``None``: no auth)."""
    if auth is ADC:
        return GoogleAuth()
    if auth is None:
        return None
    if isinstance(auth, httpx.Auth):
        return auth
    if isinstance(auth, str):
        return BearerToken(auth)
    if _is_google_credentials(auth):
        return GoogleAuth(auth)  # type: ignore[arg-type]
    raise TypeError(
        "auth must be ADC, None, a token string, an httpx.Auth or google-auth credentials, "
        f"not {type(auth).__name__}"
    )


def _is_google_credentials(value: object) -> bool:
    # Without google.auth imported, nothing can be one of its credentials: skip the import.
    module = sys.modules.get("google.auth.credentials")
    return module is not None and isinstance(value, module.Credentials)


def _scoped(credentials: Credentials, scopes: tuple[str, ...]) -> Credentials:
    from google.auth.credentials import Credentials, with_scopes_if_required

    if not isinstance(credentials, Credentials):
        raise TypeError(
            f"credentials must be google-auth Credentials, not {type(credentials).__name__}"
        )
    scoped: Credentials = with_scopes_if_required(credentials, scopes)  # type: ignore[no-untyped-call]
    return scoped


def _seconds_until(expiry: datetime.datetime | None) -> float | None:
    if expiry is None:
        return None
    if expiry.tzinfo is None:  # google-auth keeps expiry as naive UTC
        expiry = expiry.replace(tzinfo=datetime.timezone.utc)
    return expiry.timestamp() - time.time()


def _describe_failure(exc: BaseException, *, from_adc: bool) -> str:
    from google.auth import exceptions

    detail = _safe_detail(exc)
    if isinstance(exc, exceptions.DefaultCredentialsError):
        if from_adc:
            return (
                "Google Application Default Credentials were not found or could not be loaded "
                f"({detail}). Run `gcloud auth application-default login`, set "
                "GOOGLE_APPLICATION_CREDENTIALS to a credentials file, "
                "or pass auth= to the client."
            )
        return f"the Google credentials could not be loaded ({detail})"
    if isinstance(exc, exceptions.TransportError):
        return f"could not reach Google to refresh the access token ({detail})"
    if isinstance(exc, exceptions.RefreshError):
        hint = " Run `gcloud auth application-default login` again." if from_adc else ""
        return f"refreshing the Google access token failed ({detail}).{hint}"
    if isinstance(exc, CredentialsError):
        return str(exc)
    if not isinstance(exc, Exception):
        return "the Google access token refresh was interrupted"
    return f"refreshing the Google access token failed ({detail})"


def _safe_detail(exc: BaseException) -> str:
    """The error's first argument only: google-auth puts raw token-endpoint bodies after it."""
    first = exc.args[0] if exc.args else None
    if not isinstance(first, str) or not first:
        return type(exc).__name__
    text = redact_text(first)
    return text if len(text) <= _MAX_DETAIL else text[:_MAX_DETAIL] + "…"
