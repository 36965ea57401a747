"""``vertexchat doctor``: every failing setup gives its one-line cause and its fix.

Real pieces only: the CLI's ``main()`` or a subprocess, the emulator on a loopback socket, a
real service-account key signed by google-auth and sent to a loopback token endpoint, and a
network namespace without any route for the DNS failure. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import start_blocking_portal
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests._token_endpoint import token_endpoint as serve_token_endpoint
from vertexchat._cli import main
from vertexchat.testing import Emulator, Faults, serve

SA_EMAIL = "doctor-test@proj-7.iam.gserviceaccount.com"


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real ADC, no metadata server, no proxy: only what each test sets up."""
    for name in (
        "GOOGLE_APPLICATION_CREDENTIALS",
        "GOOGLE_CLOUD_PROJECT",
        "GOOGLE_CLOUD_LOCATION",
    ):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")


@contextmanager
def emulator_url(emulator: Emulator) -> Iterator[str]:
    """A loopback emulator served from a background event loop; yields its base URL."""
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(serve(emulator, host="127.0.0.1", port=0)) as server,
    ):
        yield server.base_url()


def doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    """Run ``vertexchat doctor --json ARGS``; the exit code and the checks by name."""
    code = main(["doctor", "--json", "--timeout", "10", *args])
    report = json.loads(capsys.readouterr().out)
    report["by_name"] = {check["name"]: check for check in report["checks"]}
    return code, report


def failure(report: dict[str, Any]) -> dict[str, Any]:
    failed = [check for check in report["checks"] if check["status"] == "fail"]
    assert len(failed) == 1, report["checks"]
    return dict(failed[0])


# --- the happy paths ----------------------------------------------------------------------------


def test_doctor_on_the_emulator_passes_every_check() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vertexchat", "doctor", "--emulator"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    names = ["credentials", "token", "identity", "endpoint", "network", "request"]
    for name in names:
        assert any(line.split()[:2] == ["ok", name] for line in lines), done.stdout
    assert "All checks passed" in done.stdout


def test_service_account_key_refreshes_through_its_token_uri(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with token_endpoint(access_token="ya29.doctor-token") as (token_uri, seen):
        key = write_service_account_key(tmp_path, token_uri)
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
        with emulator_url(Emulator(tokens={"ya29.doctor-token"})) as base_url:
            code, report = doctor(capsys, "--base-url", base_url)
    assert code == 0, report["checks"]
    checks = report["by_name"]
    assert "service account key file" in checks["credentials"]["summary"]
    assert SA_EMAIL in checks["identity"]["summary"]
    assert "project proj-7" in checks["identity"]["summary"]  # from the key file
    assert seen
    assert b"assertion=" in seen[0]
    rendered = json.dumps(report)
    assert "PRIVATE KEY" not in rendered
    assert "ya29.doctor-token" not in rendered


# --- each failing setup: one cause, one fix -----------------------------------------------------


def test_no_adc_says_how_to_log_in(capsys: pytest.CaptureFixture[str]) -> None:
    code, report = doctor(capsys, "--project", "p")
    assert code == 1
    check = failure(report)
    assert check["name"] == "credentials"
    assert "no Application Default Credentials found" in check["summary"]
    assert "gcloud auth application-default login" in check["fix"]
    assert report["by_name"]["request"]["status"] == "skip"


def test_credentials_file_that_does_not_exist(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "gone.json"))
    code, report = doctor(capsys, "--project", "p")
    check = failure(report)
    assert (code, check["name"]) == (1, "credentials")
    assert "gone.json does not exist" in check["summary"]
    assert "GOOGLE_APPLICATION_CREDENTIALS" in check["fix"]


def test_expired_or_revoked_grant_says_log_in_again(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rejection = {
        "error": "invalid_grant",
        "error_description": "Token has been expired or revoked.",
    }
    with token_endpoint(status=400, body=rejection) as (token_uri, _):
        monkeypatch.setenv(
            "GOOGLE_APPLICATION_CREDENTIALS", str(write_service_account_key(tmp_path, token_uri))
        )
        code, report = doctor(capsys, "--project", "p")
    check = failure(report)
    assert (code, check["name"]) == (1, "token")
    assert "expired, revoked or deleted" in check["summary"]
    assert "gcloud auth application-default login" in check["fix"]


def test_no_project_anywhere(capsys: pytest.CaptureFixture[str]) -> None:
    code, report = doctor(capsys, "--token", "ya29.static")
    check = failure(report)
    assert (code, check["name"]) == (1, "identity")
    assert "--project" in check["fix"]
    assert "GOOGLE_CLOUD_PROJECT" in check["fix"]


@pytest.mark.parametrize(
    ("fault", "cause", "fix"),
    [
        (
            "service-disabled",
            "the Vertex AI API is not enabled in project my-proj",
            "gcloud services enable aiplatform.googleapis.com --project my-proj",
        ),
        (
            "403",
            "permission denied",
            "gcloud projects add-iam-policy-binding my-proj",
        ),
        ("429", "no capacity for this model right now", "--location global"),
        ("503", "Vertex answered 503", "status.cloud.google.com"),
    ],
)
def test_request_errors_name_their_cause_and_fix(
    capsys: pytest.CaptureFixture[str], fault: str, cause: str, fix: str
) -> None:
    emulator = Emulator(faults=Faults(schedule=(fault,)))
    with emulator_url(emulator) as base_url:
        code, report = doctor(
            capsys, "--base-url", base_url, "--project", "my-proj", "--token", "t"
        )
    check = failure(report)
    assert (code, check["name"]) == (1, "request")
    assert cause in check["summary"]
    assert fix in check["fix"]
    assert len(emulator.requests) == 1  # the doctor never retries: one request, one answer


def test_model_not_served_here(capsys: pytest.CaptureFixture[str]) -> None:
    emulator = Emulator(models={"google/gemini-2.5-flash"})
    with emulator_url(emulator) as base_url:
        code, report = doctor(
            capsys, "--base-url", base_url, "--token", "t", "--model", "google/gemini-9-ultra"
        )
    check = failure(report)
    assert (code, check["name"]) == (1, "request")
    assert "google/gemini-9-ultra was not found" in check["summary"]
    assert "--location global" in check["fix"]


def test_rejected_token(capsys: pytest.CaptureFixture[str]) -> None:
    with emulator_url(Emulator(tokens={"good"})) as base_url:
        code, report = doctor(capsys, "--base-url", base_url, "--token", "bad")
    check = failure(report)
    assert (code, check["name"]) == (1, "request")
    assert "401" in check["summary"]
    assert "bad" not in json.dumps(report["checks"])


def test_nothing_listening(capsys: pytest.CaptureFixture[str]) -> None:
    code, report = doctor(capsys, "--base-url", "http://127.0.0.1:9/v1", "--no-auth")
    check = failure(report)
    assert (code, check["name"]) == (1, "network")
    assert "cannot connect to 127.0.0.1:9" in check["summary"]


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux)")
def test_dns_failure_in_a_namespace_without_network(tmp_path: Path) -> None:
    """A network namespace with no route: the resolver's query can't leave the machine."""
    command = [
        "unshare",
        "--net",
        sys.executable,
        "-m",
        "vertexchat",
        "doctor",
        "--project",
        "p",
        "--location",
        "us-central1",
        "--token",
        "t",
        "--timeout",
        "10",
    ]
    env = {**os.environ, "CLOUDSDK_CONFIG": str(tmp_path)}
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=60, env=env, check=False
    )
    if done.returncode != 1 and "unshare failed" in done.stderr and not os.environ.get("CI"):
        pytest.skip(f"cannot create a network namespace here: {done.stderr.strip()}")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "cannot resolve us-central1-aiplatform.googleapis.com" in done.stdout
    assert "fix: check DNS and the network" in done.stdout


# --- helpers: a key file and a loopback token endpoint ------------------------------------------


def write_service_account_key(directory: Path, token_uri: str) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "proj-7",
        "private_key_id": "key-1",
        "private_key": pem,
        "client_email": SA_EMAIL,
        "client_id": "1234567890",
        "token_uri": token_uri,
    }
    path = directory / "key.json"
    path.write_text(json.dumps(info))
    return path


@contextmanager
def token_endpoint(
    *, access_token: str = "ya29.x", status: int = 200, body: dict[str, Any] | None = None
) -> Iterator[tuple[str, list[bytes]]]:
    """A loopback OAuth token endpoint answering every POST alike; yields its URL and bodies."""
    answer = json.dumps(
        body or {"access_token": access_token, "expires_in": 3600, "token_type": "Bearer"}
    ).encode()

    def reply(handler: http.server.BaseHTTPRequestHandler, _: bytes) -> None:
        handler.send_response(status)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(answer)))
        handler.end_headers()
        handler.wfile.write(answer)

    with serve_token_endpoint(reply) as served:
        yield served
