"""Real servers for the conformance suite, started on 127.0.0.1 on first use, stopped at exit.

nginx and tinyproxy come from the system (``apt-get install nginx-light tinyproxy``); uvicorn
(with h11 and with httptools) and hypercorn from the dev dependencies, serving ``app.py``.
A missing executable skips the tests that need it locally, with the reason; under ``CI`` it
fails them, so CI can never pass by not running a server.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme

from tests.conformance import app

HERE = Path(__file__).resolve().parent
IDLE_TIMEOUT = 1  # seconds, for the servers the idle-close races run against
KEEPALIVE_REQUESTS = 3  # nginx closes a connection after this many requests under /keepalive3/


def require(executable: str, package: str) -> str:
    """The path of ``executable``; skip (locally) or fail (``CI`` set) when it is missing."""
    for candidate in (executable, f"/usr/sbin/{executable}", f"/usr/bin/{executable}"):
        found = shutil.which(candidate)
        if found:
            return found
    reason = f"{executable} is not installed (apt-get install -y {package})"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must install it")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{name} did not listen on {port} within 30 s")


NGINX_CONFIG = """\
worker_processes 1;
daemon off;
user root;
pid {work}/nginx.pid;
error_log {work}/error.log error;
events {{ worker_connections 8192; }}
worker_rlimit_nofile 16384;
http {{
    access_log off;
    types {{ text/event-stream sse; application/json json; }}
    default_type application/octet-stream;
    client_body_temp_path {work}/tmp/body;
    proxy_temp_path {work}/tmp/proxy;
    fastcgi_temp_path {work}/tmp/fastcgi;
    uwsgi_temp_path {work}/tmp/uwsgi;
    scgi_temp_path {work}/tmp/scgi;
    client_max_body_size 32m;
    keepalive_timeout 60s;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {work}/www;
        error_page 405 =200 $uri;
        location /gzip/ {{ gzip on; gzip_types *; gzip_min_length 0; }}
        location /keepalive3/ {{ keepalive_requests {keepalive_requests}; }}
        location = /status/204 {{ return 204; }}
        location = /close {{ keepalive_timeout 0; }}
    }}
    server {{
        listen 127.0.0.1:{race_port};
        root {work}/www;
        error_page 405 =200 $uri;
        keepalive_timeout {idle}s;
    }}
    server {{
        listen 127.0.0.1:{tls_port} ssl;
        ssl_certificate {work}/server.pem;
        ssl_certificate_key {work}/server.key;
        root {work}/www;
        error_page 405 =200 $uri;
    }}
}}
"""

TINYPROXY_CONFIG = """\
Port {port}
Listen 127.0.0.1
Timeout 60
MaxClients 200
Allow 127.0.0.1
LogLevel Error
"""


@dataclass
class Servers:
    """Starts each server once per test session; ``url(name)`` gives its base URL."""

    authority: trustme.CA = field(default_factory=trustme.CA)
    work: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="vx-conformance-")))
    urls: dict[str, str] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.work.chmod(0o755)  # nginx's worker reads the site as another user
        self.ca_path = str(self.work / "ca.pem")
        self.authority.cert_pem.write_to_path(self.ca_path)
        issued = self.authority.issue_cert("127.0.0.1", "localhost")
        issued.cert_chain_pems[0].write_to_path(str(self.work / "server.pem"))
        for extra in issued.cert_chain_pems[1:]:
            extra.write_to_path(str(self.work / "server.pem"), append=True)
        issued.private_key_pem.write_to_path(str(self.work / "server.key"))

    def url(self, name: str) -> str:
        if name not in self.urls:
            starter = getattr(self, "_start_" + name.replace("-", "_").replace("/", "_"))
            starter()
        return self.urls[name]

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.work, ignore_errors=True)

    def _spawn(self, name: str, port: int, command: list[str], cwd: Path = HERE) -> None:
        with open(self.work / f"{name.replace('/', '-')}.log", "wb") as log:
            process = subprocess.Popen(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        wait_for_port(port, process, name)

    # -- uvicorn (h11, httptools) and hypercorn serving app.py --

    def _asgi(self, name: str, server: str, idle: float, tls: bool = False) -> None:
        port = free_port()
        scheme = "https" if tls else "http"
        if server == "hypercorn":
            command = [sys.executable, "-m", "hypercorn", "app:app", "--bind"]
            command += [f"127.0.0.1:{port}", "--keep-alive", str(idle)]
        else:
            command = [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1"]
            command += ["--port", str(port), "--http", server, "--no-access-log"]
            command += ["--timeout-keep-alive", str(idle), "--log-level", "warning"]
            if tls:
                command += ["--ssl-certfile", str(self.work / "server.pem")]
                command += ["--ssl-keyfile", str(self.work / "server.key")]
        self._spawn(name, port, command)
        self.urls[name] = f"{scheme}://127.0.0.1:{port}"

    def _start_uvicorn_h11(self) -> None:
        self._asgi("uvicorn-h11", "h11", 30)

    def _start_uvicorn_httptools(self) -> None:
        self._asgi("uvicorn-httptools", "httptools", 30)

    def _start_hypercorn(self) -> None:
        self._asgi("hypercorn", "hypercorn", 30)

    def _start_uvicorn_h11_race(self) -> None:
        self._asgi("uvicorn-h11/race", "h11", IDLE_TIMEOUT)

    def _start_uvicorn_httptools_race(self) -> None:
        self._asgi("uvicorn-httptools/race", "httptools", IDLE_TIMEOUT)

    def _start_hypercorn_race(self) -> None:
        self._asgi("hypercorn/race", "hypercorn", IDLE_TIMEOUT)

    def _start_uvicorn_h11_tls(self) -> None:
        self._asgi("uvicorn-h11/tls", "h11", 30, tls=True)

    # -- nginx: plain, idle-race and TLS server blocks in one process --

    def _start_nginx(self) -> None:
        executable = require("nginx", "nginx-light")
        www = self.work / "www"
        for path, content in {
            "big": app.big_body(),
            "sse": app.sse_body(),
            "gzip/completion.json": app.GZIP_PLAIN,
            "keepalive3/ok": b"ok",
            "close": b"bye",
            "echo": b"static",
        }.items():
            (www / path).parent.mkdir(parents=True, exist_ok=True)
            (www / path).write_bytes(content)
        for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.work / "tmp" / temp).mkdir(parents=True, exist_ok=True)
        port, race_port, tls_port = free_port(), free_port(), free_port()
        config = self.work / "nginx.conf"
        config.write_text(
            NGINX_CONFIG.format(
                work=self.work,
                port=port,
                race_port=race_port,
                tls_port=tls_port,
                idle=IDLE_TIMEOUT,
                keepalive_requests=KEEPALIVE_REQUESTS,
            )
        )
        command = [executable, "-c", str(config), "-p", str(self.work), "-e", "stderr"]
        self._spawn("nginx", port, command)
        wait_for_port(race_port, self.processes[-1], "nginx")
        wait_for_port(tls_port, self.processes[-1], "nginx")
        self.urls["nginx"] = f"http://127.0.0.1:{port}"
        self.urls["nginx/race"] = f"http://127.0.0.1:{race_port}"
        self.urls["nginx/tls"] = f"https://127.0.0.1:{tls_port}"

    def _start_nginx_race(self) -> None:
        self._start_nginx()

    def _start_nginx_tls(self) -> None:
        self._start_nginx()

    # -- a forward proxy --

    def _start_tinyproxy(self) -> None:
        executable = require("tinyproxy", "tinyproxy")
        port = free_port()
        config = self.work / "tinyproxy.conf"
        config.write_text(TINYPROXY_CONFIG.format(port=port))
        self._spawn("tinyproxy", port, [executable, "-d", "-c", str(config)])
        self.urls["tinyproxy"] = f"http://127.0.0.1:{port}"
