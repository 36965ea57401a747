"""Pure: project, location, endpoint and API version → the base URL of chat completions.

URL forms: ``shared/vertex-api.md`` §1. Requests go to ``{base_url}/chat/completions``.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse

__all__ = [
    "API_VERSIONS",
    "DEFAULT_MODEL",
    "OPENAPI_ENDPOINT",
    "build_base_url",
    "chat_completions_url",
    "clear_text_host",
    "is_openapi_base_url",
]

API_VERSIONS = ("v1", "v1beta1")
DEFAULT_MODEL = "google/gemini-2.5-flash"
"""The model the command line and ``vertexchat doctor`` use when none is given."""

OPENAPI_ENDPOINT = "openapi"
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
_OPENAPI_PATH = re.compile(r"/v1(?:beta1)?/projects/[^/]+/locations/[^/]+/endpoints/openapi/?\Z")


def _check_segment(name: str, value: str) -> str:
    if not _SEGMENT.match(value):
        raise ValueError(f"{name}={value!r} is not a valid resource id")
    return value


def build_base_url(
    *,
    project: str,
    location: str,
    endpoint: str = OPENAPI_ENDPOINT,
    api_version: str = "v1",
    host: str | None = None,
) -> str:
    """``https://{host}/{api_version}/projects/{p}/locations/{l}/endpoints/{endpoint}``.

    The host is ``aiplatform.googleapis.com`` for ``location="global"`` and
    ``{location}-aiplatform.googleapis.com`` otherwise, unless ``host`` overrides it
    (a dedicated endpoint's DNS name, for example).
    """
    if api_version not in API_VERSIONS:
        raise ValueError(f"api_version={api_version!r} must be one of {API_VERSIONS}")
    _check_segment("project", project)
    _check_segment("location", location)
    _check_segment("endpoint", endpoint)
    if host is None:
        host = "aiplatform.googleapis.com"
        if location != "global":
            host = f"{location}-{host}"
    origin = host.rstrip("/") if "://" in host else f"https://{host.rstrip('/')}"
    return f"{origin}/{api_version}/projects/{project}/locations/{location}/endpoints/{endpoint}"


def chat_completions_url(base_url: str) -> str:
    """The chat completions URL under a base URL (a trailing slash is tolerated)."""
    return base_url.rstrip("/") + "/chat/completions"


def clear_text_host(url: str) -> str | None:
    """The host of a plain ``http://`` URL that is not loopback, else None.

    A bearer token sent there travels in clear text over a network; loopback (``localhost``,
    ``127.0.0.0/8``, ``::1``) never leaves the machine.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() != "http":
        return None
    host = (parts.hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host or "an unnamed host"
    return None if address.is_loopback else host


def is_openapi_base_url(base_url: str) -> bool:
    """Whether a base URL is Vertex's shared ``openapi`` path, on any host.

    The emulator, a dedicated DNS name or a proxy that keeps Vertex's path then get the same
    model rule as ``aiplatform.googleapis.com`` (``shared/vertex-api.md`` §1.2).
    """
    path = base_url.split("://", 1)[-1]
    path = path[path.find("/") :] if "/" in path else ""
    return _OPENAPI_PATH.search(path.split("?", 1)[0]) is not None
