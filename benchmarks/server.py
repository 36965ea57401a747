"""The benchmark server: a private nginx on 127.0.0.1 serving the canned bodies.

nginx answers a POST to a static file with 405; ``error_page 405 =200 $uri`` turns that into the
file itself, so every ``POST …/chat/completions`` gets the canned body without any application
code on the server side. Three URL prefixes select the body:

* ``/json/…``  the non-streaming ``chat.completion`` (``application/json``);
* ``/sse/…``   the 200-chunk stream (``text/event-stream``);
* ``/slow/…``  the non-streaming body sent at ``limit_rate`` bytes/s, so requests stay in flight
  for about two seconds (used to measure memory per in-flight request).

Everything nginx writes lives under benchmarks/.work/ (gitignored). Without nginx the harness
falls back to vertexchat's emulator loopback server with the same canned answers
(benchmarks.fallback_server), warns loudly, and RESULTS.md says so.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from benchmarks import canned

WORK_DIR = Path(__file__).resolve().parent / ".work"
API_PATH = "/v1/projects/p/locations/us-central1/endpoints/openapi"
SLOW_BYTES_PER_SECOND = 512
NGINX_CANDIDATES = ("nginx", "/usr/sbin/nginx")

_CONFIG = """\
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 16384; }}
worker_rlimit_nofile 20000;
http {{
    access_log off;
    types {{ }}
    default_type application/json;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    client_body_temp_path {work}/tmp/body;
    proxy_temp_path {work}/tmp/proxy;
    fastcgi_temp_path {work}/tmp/fastcgi;
    uwsgi_temp_path {work}/tmp/uwsgi;
    scgi_temp_path {work}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {work}/www;
        error_page 405 =200 $uri;
        location /sse/ {{ default_type text/event-stream; }}
        location /slow/ {{ limit_rate {slow_rate}; }}
    }}
}}
"""


@dataclass(frozen=True)
class ServerInfo:
    """Where the benchmark server listens and what it is."""

    origin: str
    kind: str
    warning: str | None = None

    def base_url(self, prefix: str) -> str:
        """The client ``base_url`` for one body: prefix is ``json``, ``sse`` or ``slow``."""
        return f"{self.origin}/{prefix}{API_PATH}"


def find_nginx() -> str | None:
    """The nginx executable, or None when it is not installed."""
    for candidate in NGINX_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def free_port() -> int:
    """An unused TCP port on 127.0.0.1 (tiny race with other processes; fine for a benchmark)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_site(work: Path) -> None:
    """Write the canned bodies where nginx serves them."""
    bodies = {
        "json": canned.completion_body(),
        "sse": canned.stream_body(),
        "slow": canned.completion_body(),
    }
    for prefix, body in bodies.items():
        target = work / "www" / prefix / API_PATH.lstrip("/") / "chat" / "completions"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
    for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (work / "tmp" / temp).mkdir(parents=True, exist_ok=True)


def write_config(work: Path, port: int) -> Path:
    """Write the private nginx.conf and return its path."""
    path = work / "nginx.conf"
    text = _CONFIG.format(work=work, port=port, slow_rate=SLOW_BYTES_PER_SECOND)
    path.write_text(text)
    return path


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    """Block until something accepts connections on the port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"benchmark server did not start listening on port {port}")


class NginxServer:
    """Start and stop the private nginx (a context manager)."""

    def __init__(self, executable: str, work: Path = WORK_DIR) -> None:
        self._executable = executable
        self._work = work
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerInfo:
        write_site(self._work)
        port = free_port()
        config = write_config(self._work, port)
        command = [self._executable, "-p", str(self._work), "-c", str(config), "-e", "stderr"]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        try:
            wait_for_port(port)
        except RuntimeError:
            self.__exit__()
            raise
        return ServerInfo(origin=f"http://127.0.0.1:{port}", kind=nginx_version(self._executable))

    def __exit__(self, *exc_info: object) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None


def nginx_version(executable: str) -> str:
    """``nginx/1.22.1`` or similar (nginx prints its version on stderr)."""
    result = subprocess.run([executable, "-v"], capture_output=True, text=True, check=False)
    return result.stderr.strip().removeprefix("nginx version: ") or "nginx"


FALLBACK_WARNING = (
    "nginx not found: using vertexchat's emulator loopback server (Python, same machine). "
    "It competes with the client for CPU, so wall times and throughput are pessimistic; "
    "install nginx-light (apt-get install -y nginx-light) for real numbers."
)


class EmulatorFallback:
    """Run benchmarks.fallback_server in its own process (a context manager)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerInfo:
        port = free_port()
        command = [sys.executable, "-m", "benchmarks.fallback_server", str(port)]
        self._process = subprocess.Popen(command, cwd=Path(__file__).resolve().parent.parent)
        try:
            wait_for_port(port)
        except RuntimeError:
            self.__exit__()
            raise
        origin = f"http://127.0.0.1:{port}"
        return ServerInfo(origin, "vertexchat emulator loopback server", FALLBACK_WARNING)

    def __exit__(self, *exc_info: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None


def benchmark_server(force_emulator: bool = False) -> AbstractContextManager[ServerInfo]:
    """nginx when installed (and not overridden), else the emulator fallback."""
    executable = None if force_emulator else find_nginx()
    if executable is None:
        return EmulatorFallback()
    return NginxServer(executable)
