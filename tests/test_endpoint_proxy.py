"""Endpoint runs through proxies and custom CA bundles (issue 14, item 3): the
settings come from the environment (HTTP_PROXY, HTTPS_PROXY, NO_PROXY,
SSL_CERT_FILE, REQUESTS_CA_BUNDLE), as for any other tool. A loopback proxy
forwards plain HTTP requests and tunnels CONNECT; a loopback https endpoint has a
certificate from a throwaway CA made with the openssl command."""

from __future__ import annotations

import select
import shutil
import socket
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from hostile_server import HostileServer
from llama_server import free_port

PROXY_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
)


@pytest.fixture(autouse=True)
def _no_proxy_settings(monkeypatch):
    """Only what a test sets: none of the machine's own proxy or CA variables."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def _pipe(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until one side closes."""
    sockets = [a, b]
    while True:
        readable, _, _ = select.select(sockets, [], [], 5)
        if not readable:
            return
        for sock in readable:
            data = sock.recv(1 << 16)
            if not data:
                return
            (b if sock is a else a).sendall(data)


class LoopbackProxy:
    """An HTTP proxy on 127.0.0.1: absolute-form GET/POST are forwarded, CONNECT is
    tunnelled. `seen` records (method, target) of each request it got."""

    def __init__(self):
        self.seen: list[tuple[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(proxy):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_CONNECT(self):
                proxy.seen.append(("CONNECT", self.path))
                host, _, port = self.path.rpartition(":")
                with socket.create_connection((host, int(port)), timeout=5) as upstream:
                    self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    self.wfile.flush()
                    _pipe(self.connection, upstream)
                self.close_connection = True

            def _forward(self):
                proxy.seen.append((self.command, self.path))
                target = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                lines = [f"{self.command} {target.path or '/'} HTTP/1.1"]
                for name, value in self.headers.items():
                    if name.lower() not in ("connection", "proxy-connection", "keep-alive"):
                        lines.append(f"{name}: {value}")
                lines.append("Connection: close")
                head = ("\r\n".join(lines) + "\r\n\r\n").encode()
                with socket.create_connection((target.hostname, target.port), timeout=5) as up:
                    up.sendall(head + body)
                    while data := up.recv(1 << 16):  # the whole answer, as it streams
                        self.wfile.write(data)
                        self.wfile.flush()
                self.close_connection = True

            do_GET = do_POST = _forward

        return Handler


@pytest.fixture()
def proxy():
    p = LoopbackProxy()
    yield p
    p.close()


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> tuple[Path, ssl.SSLContext]:
    """A throwaway CA (ca.pem) and the server context of a certificate it signed
    for 127.0.0.1."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    folder = tmp_path_factory.mktemp("tls")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=lwz test CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)  # fmt: skip
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=127.0.0.1", cwd=folder)  # fmt: skip
    (folder / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1\nauthorityKeyIdentifier=keyid\n"
        "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
    )
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf",
             cwd=folder)  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.pem", folder / "server.key")
    return folder / "ca.pem", context


def write(lwz, url: str, env: dict[str, str], *extra: str):
    return lwz(
        "write",
        "Write a note about tea.",
        "--endpoint",
        url,
        "--strategy",
        "single",
        "-o",
        "tea.md",
        *extra,
        env={"LWZ_ENDPOINT_RETRIES": "0", **env},
    )


def test_an_http_endpoint_is_reached_through_http_proxy(proxy, lwz, tmp_path):
    with HostileServer() as server:
        result = write(lwz, server.url, {"HTTP_PROXY": proxy.url})
    assert result.returncode == 0, result.stderr
    assert ("GET", server.url + "/v1/models") in proxy.seen
    assert ("POST", server.url + "/v1/completions") in proxy.seen
    assert (tmp_path / "tea.md").read_text().startswith("# Tea")


def test_no_proxy_sends_the_endpoint_around_the_proxy(proxy, lwz):
    with HostileServer() as server:
        result = write(lwz, server.url, {"HTTP_PROXY": proxy.url, "NO_PROXY": "127.0.0.1"})
    assert result.returncode == 0, result.stderr
    assert proxy.seen == [] and len(server.requests) >= 2


@pytest.mark.parametrize("ca_variable", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"])
def test_an_https_endpoint_through_a_connect_proxy_with_its_own_ca(
    ca_variable, certificates, proxy, lwz, tmp_path
):
    ca, context = certificates
    with HostileServer(tls=context) as server:
        env = {"HTTPS_PROXY": proxy.url, ca_variable: str(ca)}
        result = write(lwz, server.url, env, "--json")
    assert result.returncode == 0, result.stderr
    port = urlsplit(server.url).port
    assert ("CONNECT", f"127.0.0.1:{port}") in proxy.seen
    assert all(method == "CONNECT" for method, _ in proxy.seen)  # no plain text through it
    assert (tmp_path / "tea.md").read_text().startswith("# Tea")


def test_an_untrusted_certificate_is_one_line_naming_the_fix(certificates, lwz):
    _ca, context = certificates
    with HostileServer(tls=context) as server:
        result = write(lwz, server.url, {})
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "internal error" not in result.stderr
    assert "certificate is not trusted" in result.stderr and "SSL_CERT_FILE" in result.stderr


def test_an_unreadable_ca_bundle_is_a_usage_error(lwz, tmp_path):
    result = write(lwz, "http://127.0.0.1:9", {"REQUESTS_CA_BUNDLE": str(tmp_path / "none.pem")})
    assert result.returncode == 2
    assert "$REQUESTS_CA_BUNDLE names" in result.stderr and result.stderr.count("\n") == 1


def test_a_dead_proxy_is_one_line_error(lwz):
    dead = f"http://127.0.0.1:{free_port()}"
    with HostileServer() as server:
        result = write(lwz, server.url, {"HTTP_PROXY": dead})
    assert result.returncode == 1 and "internal error" not in result.stderr
    assert (
        result.stderr.startswith("lwz: error: the endpoint ") and "not reachable" in result.stderr
    )
    assert server.requests == []


def test_proxy_settings_httpx2_cannot_use_are_a_usage_error(lwz):
    with HostileServer() as server:
        result = write(lwz, server.url, {"HTTP_PROXY": "ftp://127.0.0.1:1"})
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "the proxy settings in the environment cannot be used" in result.stderr
    assert "HTTP_PROXY" in result.stderr and server.requests == []
