"""Where Application Default Credentials would come from, described without any secret.

Follows google-auth's search order (vertex-api.md §2): ``GOOGLE_APPLICATION_CREDENTIALS``,
then gcloud's ``application_default_credentials.json``, then the metadata server. Only the
``type`` of a credentials file and public identifiers (a service account's e-mail, a quota
project) are read out; keys, refresh tokens and client secrets never leave the file.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["AdcSource", "find_adc_source", "gcloud_adc_path"]

_KINDS = {
    "service_account": "service account key file",
    "authorized_user": "gcloud user credentials",
    "external_account": "workload identity federation config",
    "external_account_authorized_user": "workforce identity federation user credentials",
    "impersonated_service_account": "impersonated service account credentials",
    "gdch_service_account": "GDC-H service account key file",
}


@dataclass(frozen=True)
class AdcSource:
    """Where ADC would be loaded from: ``kind``, ``path`` (for files), and what is wrong."""

    origin: str  # "env", "gcloud", "metadata" or "none"
    kind: str | None = None
    path: Path | None = None
    account: str | None = None
    quota_project: str | None = None
    problem: str | None = None

    def describe(self) -> str:
        """One line for people: the kind, from where, and as whom."""
        if self.origin == "metadata":
            return "the metadata server (Compute Engine, Cloud Run, GKE …)"
        where = {"env": "GOOGLE_APPLICATION_CREDENTIALS", "gcloud": "gcloud"}.get(self.origin)
        text = f"{self.kind or 'credentials'} from {where}: {self.path}"
        return text + (f" ({self.account})" if self.account else "")


def gcloud_adc_path() -> Path:
    """The file ``gcloud auth application-default login`` writes."""
    config = os.environ.get("CLOUDSDK_CONFIG")
    if config:
        return Path(config) / "application_default_credentials.json"
    if sys.platform == "win32":  # pragma: no cover - the tests run on Linux
        return Path(os.environ.get("APPDATA", "")) / "gcloud/application_default_credentials.json"
    return Path.home() / ".config/gcloud/application_default_credentials.json"


def find_adc_source() -> AdcSource:
    """The first ADC source google-auth would use; ``origin="none"`` if no file is found.

    The metadata server is not contacted here (that takes a network round trip); when no file
    exists the caller learns whether the metadata server answers by loading the credentials.
    """
    named = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if named:
        return _from_file("env", Path(named))
    path = gcloud_adc_path()
    if path.is_file():
        return _from_file("gcloud", path)
    return AdcSource("none")


def _from_file(origin: str, path: Path) -> AdcSource:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return AdcSource(origin, path=path, problem=f"the file {path} does not exist")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not a JSON credentials file"
        return AdcSource(origin, path=path, problem=f"cannot read {path}: {reason}")
    if not isinstance(info, dict) or info.get("type") not in _KINDS:
        kind = info.get("type") if isinstance(info, dict) else None
        detail = f"unknown credentials type {kind!r}" if kind else "it has no credentials type"
        return AdcSource(origin, path=path, problem=f"{path}: {detail}")
    return AdcSource(
        origin,
        kind=_KINDS[info["type"]],
        path=path,
        account=_text(info.get("client_email")) or _impersonated(info),
        quota_project=_text(info.get("quota_project_id")),
    )


def _impersonated(info: dict[str, object]) -> str | None:
    url = _text(info.get("service_account_impersonation_url"))
    if url and "/serviceAccounts/" in url:
        return url.rsplit("/serviceAccounts/", 1)[1].split(":", 1)[0]
    return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
