"""Pure: the Vertex emulator — request in (method, path, headers, body bytes), Script out.

No I/O happens here; ``transport()`` and ``serve()`` are the thin adapters that play the
scripts over httpx or a loopback socket.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ._errors import ErrorReply, RequestRejected, error_info, not_found
from ._faults import Fault, FaultPicker, Faults
from ._reply import build_reply, prompt_tokens
from ._script import Script, body_script, error_script, fault_error, reset_script, stream_script
from ._text import response_id
from ._validate import (
    CONTEXT_WINDOWS,
    ChatRequest,
    check_context_window,
    parse_body,
    validate,
)
from ._variants import WireVariant
from ._wire import Envelope, chunks, completion, encode, sse_event

if TYPE_CHECKING:
    from ._transport import EmulatorTransport

_ROUTE = re.compile(
    r"/(?P<version>v1|v1beta1)/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
    r"/endpoints/(?P<endpoint>openapi|[0-9]+)/chat/completions"
)
_SEE = "See https://developers.google.com/identity/sign-in/web/devconsole-project."
_MISSING_CREDENTIALS = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, "
    "login cookie or other valid authentication credential. " + _SEE
)
_INVALID_CREDENTIALS = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, "
    "login cookie or other valid authentication credential. " + _SEE
)
_HeaderItems = Mapping[str, str] | Iterable[tuple[str, str]]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the emulator saw it; the bearer token is redacted."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: Any
    time: float


class Emulator:
    """A credential-free Vertex AI OpenAI-compatible endpoint, deterministic and fault-injectable.

    ``tokens`` restricts the accepted bearer tokens (default: any non-empty one);
    ``require_auth=False`` accepts requests without ``Authorization``; ``remote_media=True``
    accepts ``https://`` media URLs (Vertex was seen rejecting them); ``models`` restricts the
    known models (others get 404); ``clock`` gives ``created`` and the log's times; ``wire``
    picks how to answer where Vertex's behaviour is unknown (``WireVariant``);
    ``context_windows`` (``(name part, input tokens)`` pairs, first match wins) replaces the
    per-model prompt limits (``CONTEXT_WINDOWS``): a longer prompt gets Vertex's 400.
    ``on_request`` is called with each ``RecordedRequest`` as it arrives (``vertexchat
    emulator --request-log`` writes them to a file).
    """

    def __init__(
        self,
        *,
        tokens: Iterable[str] | None = None,
        require_auth: bool = True,
        faults: Faults | None = None,
        remote_media: bool = False,
        models: Iterable[str] | None = None,
        clock: Callable[[], float] = time.time,
        wire: WireVariant | None = None,
        context_windows: Iterable[tuple[str, int]] = CONTEXT_WINDOWS,
        on_request: Callable[[RecordedRequest], None] | None = None,
    ) -> None:
        self.tokens = frozenset(tokens) if tokens is not None else None
        self.require_auth = require_auth
        self.faults = faults or Faults()
        self.remote_media = remote_media
        self.models = frozenset(models) if models is not None else None
        self.clock = clock
        self.wire = wire or WireVariant()
        self.context_windows = tuple(context_windows)
        self.requests: list[RecordedRequest] = []
        self.on_request = on_request
        self.in_flight = 0
        self.peak_in_flight = 0
        self.open_connections = 0  # TCP connections the loopback server holds open now
        self._picker = FaultPicker(self.faults)
        self._sequence = 0

    def transport(self) -> EmulatorTransport:
        """An httpx transport that answers from this emulator without sockets."""
        from ._transport import EmulatorTransport

        return EmulatorTransport(self)

    def schedule(self, *faults: str) -> None:
        """Queue faults (``x-emulator-fault`` grammar) for the next valid requests, in order."""
        self._picker.extend(faults)

    def begin(self, method: str, path: str, headers: _HeaderItems, body: bytes) -> Script:
        """Answer one request; it counts as in flight until ``finish()`` is called."""
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            return self._answer(method, path, _lower(headers), body)
        except BaseException:
            self.finish()
            raise

    def finish(self) -> None:
        """Mark the request started by the matching ``begin()`` as finished."""
        self.in_flight -= 1

    def respond(self, method: str, path: str, headers: _HeaderItems, body: bytes) -> Script:
        """``begin()`` and ``finish()`` in one call, for pure tests."""
        try:
            return self.begin(method, path, headers, body)
        finally:
            self.finish()

    def clear(self) -> None:
        """Forget recorded requests and the peak concurrency seen so far."""
        self.requests.clear()
        self.peak_in_flight = self.in_flight

    def _answer(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Script:
        self._record(method, path, headers, raw)
        return self.wire.shape(self._script(method, path, headers, raw), len(self.requests))

    def _script(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Script:
        route = _ROUTE.fullmatch(path.partition("?")[0])
        if route is None:
            return error_script(not_found(f"The requested URL {path} was not found."))
        if method.upper() != "POST":
            return error_script(not_found("Method not found."))
        rejected = self._check_auth(headers)
        if rejected is not None:
            return error_script(rejected)
        try:
            request = self._validate(raw, route.group("endpoint"), route.group("location"))
            fault = self._picker.next(headers.get("x-emulator-fault"))
        except RequestRejected as exc:
            return error_script(exc.reply)
        except ValueError as exc:
            return error_script(ErrorReply(400, f"Invalid x-emulator-fault header: {exc}."))
        if fault.reset:
            return reset_script(fault)
        if fault.status is not None:
            return error_script(fault_error(fault), fault)
        limit = self.faults.max_concurrency
        if limit is not None and self.in_flight > limit:
            return error_script(fault_error(replace(fault, status=429)), fault)
        return self._reply(request, fault)

    def _reply(self, request: ChatRequest, fault: Fault) -> Script:
        seed = _seed(request.body)
        request = self.wire.effective(request)
        self._sequence += 1
        envelope = Envelope(response_id(seed, self._sequence), int(self.clock()), request.model)
        reply = build_reply(request, seed)
        if not request.stream:
            return body_script(encode(completion(reply, envelope)), fault)
        stream_arguments = request.google.get("stream_function_call_arguments") is True
        events = chunks(
            reply,
            envelope,
            stream_arguments=stream_arguments,
            split_tags=self.wire.split_thought_tags,
        )
        self.wire.place_usage(events, request)
        return stream_script([sse_event(event) for event in events], fault)

    def _validate(self, raw: bytes, endpoint: str, location: str) -> ChatRequest:
        request = validate(parse_body(raw), endpoint, remote_media=self.remote_media)
        if self.models is not None and request.model and request.model not in self.models:
            publisher, _, model = request.model.partition("/")
            raise RequestRejected(
                not_found(
                    f"Publisher Model `projects/emulator/locations/{location}/publishers/"
                    f"{publisher}/models/{model}` was not found or your project does not have "
                    "access to it."
                )
            )
        check_context_window(prompt_tokens(request), request.model, self.context_windows)
        return request

    def _check_auth(self, headers: Mapping[str, str]) -> ErrorReply | None:
        if not self.require_auth:
            return None
        scheme, _, token = headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return ErrorReply(401, _MISSING_CREDENTIALS, (error_info("CREDENTIALS_MISSING"),))
        if self.tokens is not None and token not in self.tokens:
            detail = error_info("ACCESS_TOKEN_TYPE_UNSUPPORTED")
            return ErrorReply(401, _INVALID_CREDENTIALS, (detail,))
        return None

    def _record(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> None:
        try:
            body = json.loads(raw) if raw else None
        except (UnicodeDecodeError, ValueError):
            body = None
        shown = dict(headers)
        if "authorization" in shown:
            scheme = shown["authorization"].partition(" ")[0]
            shown["authorization"] = f"{scheme} <redacted>"
        recorded = RecordedRequest(method, path, shown, body, self.clock())
        self.requests.append(recorded)
        if self.on_request is not None:
            self.on_request(recorded)


def _lower(headers: _HeaderItems) -> dict[str, str]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    result: dict[str, str] = {}
    for key, value in items:
        key = key.lower()
        result[key] = f"{result[key]}, {value}" if key in result else value
    return result


def _seed(body: Mapping[str, Any]) -> bytes:
    # Streaming and non-streaming requests get the same answer, so tests can compare them.
    stable = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
    return hashlib.sha256(encode(stable)).digest()
