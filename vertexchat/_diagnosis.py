"""Pure: a failed doctor step → one line of cause and one line of what fixes it.

Causes follow vertex-api.md §7.2 (status codes) and §2 (credentials); the fixes name the
``gcloud`` command or console page that mends each one.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CredentialsError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)

__all__ = ["Diagnosis", "diagnose_credentials", "diagnose_error", "diagnose_refresh"]

_CONSOLE = "https://console.cloud.google.com"
_LOGIN = "run `gcloud auth application-default login`"


@dataclass(frozen=True)
class Diagnosis:
    """What went wrong (``cause``) and the one thing to do about it (``fix``)."""

    cause: str
    fix: str


def diagnose_credentials(problem: str | None) -> Diagnosis:
    """No usable Application Default Credentials (``problem`` from the file check, if any)."""
    if problem:
        return Diagnosis(
            f"Application Default Credentials are unusable: {problem}",
            "fix or unset GOOGLE_APPLICATION_CREDENTIALS, or " + _LOGIN,
        )
    return Diagnosis(
        "no Application Default Credentials found (no GOOGLE_APPLICATION_CREDENTIALS, no gcloud "
        "credentials file, no metadata server)",
        _LOGIN + ", or set GOOGLE_APPLICATION_CREDENTIALS to a service account key file",
    )


def diagnose_refresh(error: CredentialsError) -> Diagnosis:
    """A token refresh that failed."""
    text = str(error)
    if "invalid_grant" in text or "invalid_client" in text:
        return Diagnosis(
            "Google rejected the credentials: the refresh token or key is expired, revoked or "
            "deleted (invalid_grant)",
            _LOGIN + " again, or create a new key for the service account",
        )
    if "could not reach" in text or "connect" in text.lower():
        return Diagnosis(
            f"the token endpoint could not be reached: {text}",
            "check the network route to oauth2.googleapis.com (proxy: HTTPS_PROXY)",
        )
    return Diagnosis(f"refreshing the token failed: {text}", _LOGIN + " again")


def diagnose_error(error: BaseException, *, project: str | None, model: str) -> Diagnosis:
    """The cause and fix of a failed test request, most specific error first."""
    project_arg = f" --project {project}" if project else ""
    query = f"?project={project}" if project else ""
    if isinstance(error, CredentialsError):
        return diagnose_refresh(error)
    if isinstance(error, AuthenticationError):
        return Diagnosis(
            "the access token was rejected (401 UNAUTHENTICATED)", _LOGIN + ", or check --token"
        )
    if isinstance(error, PermissionDeniedError):
        return _permission(error, project, project_arg, query)
    if isinstance(error, NotFoundError):
        return Diagnosis(
            f"model {model} was not found here, or the project does not exist (404 NOT_FOUND)",
            "check --model (publisher/model) and --project, or try --location global; models: "
            f"{_CONSOLE}/vertex-ai/model-garden{query}",
        )
    if isinstance(error, BadRequestError):
        return _bad_request(error, model)
    if isinstance(error, RateLimitError):
        return Diagnosis(
            "no capacity for this model right now (429 RESOURCE_EXHAUSTED)",
            "retry later, or use --location global; quotas: "
            f"{_CONSOLE}/iam-admin/quotas{query}; see "
            "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429",
        )
    if isinstance(error, APIStatusError):
        return Diagnosis(
            f"Vertex answered {error.status_code}: {_first_line(error)}",
            "retry later; service health: https://status.cloud.google.com",
        )
    return _transport(error)


def _permission(
    error: PermissionDeniedError, project: str | None, project_arg: str, query: str
) -> Diagnosis:
    reason = _reason(error)
    message = _first_line(error)
    if reason == "SERVICE_DISABLED" or "has not been used in project" in message:
        return Diagnosis(
            f"the Vertex AI API is not enabled in project {project or '(unknown)'}",
            f"gcloud services enable aiplatform.googleapis.com{project_arg}  (or "
            f"{_CONSOLE}/apis/library/aiplatform.googleapis.com{query})",
        )
    if reason == "API_KEY_SERVICE_BLOCKED":
        return Diagnosis(
            "an API key was sent where Vertex wants an OAuth token", _LOGIN + " and drop --token"
        )
    return Diagnosis(
        "permission denied: the account lacks aiplatform.endpoints.predict on this project, or "
        "the project does not exist (403 PERMISSION_DENIED)",
        f"gcloud projects add-iam-policy-binding {project or 'PROJECT'} --member=ACCOUNT "
        "--role=roles/aiplatform.user  (and check --project)",
    )


def _bad_request(error: BadRequestError, model: str) -> Diagnosis:
    message = _first_line(error)
    if "publisher model" in message.lower():
        return Diagnosis(
            f"the model id {model!r} is not of the form publisher/model (400)",
            f"pass --model google/{model.rsplit('/', 1)[-1]}",
        )
    return Diagnosis(f"the request was rejected (400): {message}", "check --model and --endpoint")


def _transport(error: BaseException) -> Diagnosis:
    if isinstance(error, APITimeoutError):
        return Diagnosis(
            "no answer in time", "check the network route and proxy, or raise --timeout"
        )
    if isinstance(error, APIConnectionError):
        return Diagnosis(
            f"could not talk to the endpoint: {_first_line(error)}",
            "check the network, the proxy (HTTPS_PROXY) and SSL_CERT_FILE",
        )
    if isinstance(error, APIError):
        return Diagnosis(f"{type(error).__name__}: {_first_line(error)}", "see the message")
    return Diagnosis(f"{type(error).__name__}: {error}", "see the message")


def _reason(error: APIStatusError) -> str | None:
    google = getattr(error, "error", None)
    reason = getattr(google, "reason", None)
    return reason if isinstance(reason, str) else None


def _first_line(error: BaseException) -> str:
    text = getattr(error, "message", None) or str(error)
    line = str(text).strip().splitlines()[0] if str(text).strip() else type(error).__name__
    return line if len(line) <= 200 else line[:199] + "…"
