"""``vertexchat doctor``: check a setup step by step and say what to fix.

Edge module. The steps run in order — credentials, token, identity, endpoint, network,
request — and a step whose prerequisite failed is skipped. Each gives one line of result and,
when it fails, one line of what to do (causes in ``_diagnosis``). No secret is ever printed:
credentials files are described by type and public account name only.
"""

from __future__ import annotations

import os
import ssl
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import anyio.abc
import anyio.streams.tls
import anyio.to_thread

from ._adc_source import AdcSource, find_adc_source
from ._auth import ADC, CLOUD_PLATFORM_SCOPE, AuthLike, GoogleAuth
from ._diagnosis import Diagnosis, diagnose_credentials, diagnose_error, diagnose_refresh
from ._exceptions import CredentialsError, VertexChatError

__all__ = ["Check", "DoctorTarget", "run_doctor"]

Status = Literal["ok", "fail", "warn", "skip"]
_PROBE_PROMPT = "Reply with the single word OK."
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


@dataclass
class Check:
    """One step's outcome: ``status``, a one-line ``summary`` and, on failure, a ``fix``."""

    name: str
    status: Status
    summary: str
    fix: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class DoctorTarget:
    """What to check: where requests go, how they authenticate, which model answers."""

    project: str | None
    location: str | None
    model: str
    client_options: dict[str, Any]
    auth: AuthLike = ADC
    auth_label: str = "Application Default Credentials"
    timeout: float = 60.0


@dataclass
class _State:
    target: DoctorTarget
    checks: list[Check] = field(default_factory=list)
    google_auth: GoogleAuth | None = None
    adc_source: AdcSource | None = None
    project: str | None = None
    url: str | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def add(self, check: Check) -> Check:
        self.checks.append(check)
        return check

    def failed(self) -> bool:
        return any(check.status == "fail" for check in self.checks)


async def run_doctor(target: DoctorTarget) -> list[Check]:
    """Run every step in order; the request step passes only if a call succeeded."""
    state = _State(target, project=target.project or os.environ.get("GOOGLE_CLOUD_PROJECT"))
    steps: list[tuple[str, Callable[[_State], Awaitable[Check]]]] = [
        ("credentials", _credentials),
        ("token", _token),
        ("identity", _identity),
        ("endpoint", _endpoint),
        ("network", _network),
        ("request", _request),
    ]
    try:
        for name, step in steps:
            if state.failed():
                state.add(Check(name, "skip", "skipped: an earlier step failed"))
            else:
                state.add(await step(state))
    finally:
        if state.google_auth is not None:
            await state.google_auth.aclose()
    return state.checks


# --- credentials and token ----------------------------------------------------------------------


async def _credentials(state: _State) -> Check:
    target = state.target
    if target.auth is not ADC:
        return Check("credentials", "ok", target.auth_label)
    source = state.adc_source = find_adc_source()
    if source.problem:
        return _failed("credentials", diagnose_credentials(source.problem))
    try:
        credentials, project = await anyio.to_thread.run_sync(_load_adc)
    except CredentialsError:
        return _failed("credentials", diagnose_credentials(None))
    state.google_auth = GoogleAuth(credentials)
    state.project = state.project or project
    summary = source.describe() if source.origin != "none" else AdcSource("metadata").describe()
    return Check("credentials", "ok", summary, data={"source": source.origin})


def _load_adc() -> tuple[Any, str | None]:
    import google.auth
    import google.auth.exceptions

    try:
        return google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    except google.auth.exceptions.DefaultCredentialsError as exc:
        raise CredentialsError("no Application Default Credentials") from exc


async def _token(state: _State) -> Check:
    auth = state.google_auth
    if auth is None:
        return Check("token", "ok", "no refresh needed")
    try:
        await auth.ensure_valid()
    except CredentialsError as exc:
        return _failed("token", diagnose_refresh(exc))
    expiry = getattr(auth.credentials, "expiry", None)
    if expiry is None:
        return Check("token", "ok", "access token obtained")
    minutes = int((expiry.timestamp() - time.time()) // 60)
    return Check("token", "ok", f"access token obtained, valid for {minutes} more minutes")


async def _identity(state: _State) -> Check:
    credentials = state.google_auth.credentials if state.google_auth else None
    account = getattr(credentials, "service_account_email", None)
    if not isinstance(account, str) or account == "default":
        account = state.adc_source.account if state.adc_source is not None else None
    quota = getattr(credentials, "quota_project_id", None)
    parts = []
    if credentials is not None:
        parts.append(f"account {account or '(a user account; its e-mail is not in the file)'}")
        parts.append(f"quota project {quota or '(none: billed to the project)'}")
    endpoint_given = bool(state.target.client_options.get("base_url"))
    if not state.project and not endpoint_given:
        return Check(
            "identity",
            "fail",
            "no project: none given and none in the credentials",
            "pass --project PROJECT, set GOOGLE_CLOUD_PROJECT, or run "
            "`gcloud config set project PROJECT` before `gcloud auth application-default login`",
        )
    parts.append(f"project {state.project}" if state.project else "no project needed (base URL)")
    data = {"account": account, "quota_project": quota, "project": state.project}
    return Check("identity", "ok", "; ".join(parts), data=data)


# --- endpoint and network -----------------------------------------------------------------------


async def _endpoint(state: _State) -> Check:
    from ._client import Client

    options = dict(state.target.client_options)
    try:
        client = Client(state.project, state.target.location, auth=None, **options)
    except ValueError as exc:
        return Check("endpoint", "fail", str(exc), "check --project, --location and --endpoint")
    await client.aclose()
    state.url = client.base_url + "/chat/completions"
    return Check("endpoint", "ok", state.url, data={"url": state.url})


async def _network(state: _State) -> Check:
    parts = urllib.parse.urlsplit(state.url or "")
    host, secure = parts.hostname or "", parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    proxy = next((os.environ[name] for name in _PROXY_VARIABLES if os.environ.get(name)), None)
    if proxy and secure:
        shown = urllib.parse.urlsplit(proxy).hostname or "the proxy"
        return Check("network", "warn", f"not checked: requests go through a proxy ({shown})")
    timings = state.timings
    try:
        with anyio.fail_after(state.target.timeout):
            started = time.perf_counter()
            await anyio.getaddrinfo(host, port)
            timings["dns"] = time.perf_counter() - started
            stream = await anyio.connect_tcp(host, port)
            timings["connect"] = time.perf_counter() - started - timings["dns"]
            async with stream:
                if secure:
                    await _tls_handshake(stream, host)
                    timings["tls"] = time.perf_counter() - started - sum(timings.values())
    except TimeoutError:
        return _network_failed(f"no answer from {host}:{port} in {state.target.timeout:g}s")
    except OSError as exc:
        return _network_failed(_describe_os_error(exc, host, port, timings))
    shown = ", ".join(f"{step} {seconds * 1000:.0f} ms" for step, seconds in timings.items())
    return Check("network", "ok", f"{host}:{port}: {shown}", data={"ms": _ms(timings)})


async def _tls_handshake(stream: anyio.abc.SocketStream, host: str) -> None:
    context = ssl.create_default_context()
    wrapped = await anyio.streams.tls.TLSStream.wrap(
        stream, hostname=host, ssl_context=context, standard_compatible=False
    )
    await wrapped.aclose()


def _describe_os_error(exc: OSError, host: str, port: int, timings: dict[str, float]) -> str:
    if "dns" not in timings:
        return f"cannot resolve {host}: {exc.strerror or exc}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS to {host} failed: the certificate is not trusted ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS to {host} failed: {exc.reason or exc}"
    return f"cannot connect to {host}:{port}: {exc.strerror or exc}"


def _network_failed(summary: str) -> Check:
    if summary.startswith("TLS"):
        fix = "set SSL_CERT_FILE to your CA bundle if a proxy re-signs TLS"
    elif summary.startswith("cannot resolve"):
        fix = "check DNS and the network; check --location (the host name follows it)"
    else:
        fix = "check the network route and firewall; behind a proxy set HTTPS_PROXY"
    return Check("network", "fail", summary, fix)


# --- the request --------------------------------------------------------------------------------


async def _request(state: _State) -> Check:
    from ._client import Client

    target = state.target
    auth = state.google_auth if state.google_auth is not None else target.auth
    options = {**target.client_options, "max_retries": 0, "timeout": target.timeout}
    started = time.perf_counter()
    try:
        async with Client(state.project, target.location, auth=auth, **options) as client:
            stream = await client.chat.completions.create(
                model=target.model,
                messages=[{"role": "user", "content": _PROBE_PROMPT}],
                max_tokens=64,
                stream=True,
            )
            first_byte = time.perf_counter() - started
            async with stream:
                completion = await stream.get_final_completion()
    except VertexChatError as exc:
        return _failed("request", diagnose_error(exc, project=state.project, model=target.model))
    total = time.perf_counter() - started
    usage = completion.usage
    tokens = f", {usage.prompt_tokens}+{usage.output_tokens} tokens" if usage else ""
    summary = (
        f"{completion.model or target.model} answered: first byte {first_byte * 1000:.0f} ms, "
        f"complete {total * 1000:.0f} ms{tokens}"
    )
    data = {"ms": _ms({"first_byte": first_byte, "total": total}), "model": completion.model}
    return Check("request", "ok", summary, data=data)


def _failed(name: str, diagnosis: Diagnosis) -> Check:
    return Check(name, "fail", diagnosis.cause, diagnosis.fix)


def _ms(timings: dict[str, float]) -> dict[str, float]:
    return {step: round(seconds * 1000, 1) for step, seconds in timings.items()}
