"""A loopback HTTP server that speaks the parts of the Hugging Face Hub protocol lwz
uses: model info with siblings and LFS sha256, the tree listing, and `resolve` with
HEAD and Range. It serves real bytes and records every request.

Hostile modes (each off by default) make it lie the way a server behind a bad
HF_ENDPOINT could: any commit, any listed name, sha256 or size for a file, thousands
of filler files, a model-info body of its choosing (garbage, or endless), more bytes
than listed, and a 206 that does not start where it was asked to."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class FakeHub:
    def __init__(self):
        self.repos: dict[str, dict[str, bytes]] = {}
        self.hashes: dict[tuple[str, str], str] = {}
        self.requests: list[dict] = []
        self.stall_after: int | None = None  # bytes into a body, then hang
        self.corrupt: bool = False  # flip a byte in what is served
        # hostile modes
        self.commit: object = COMMIT  # the commit model info names
        self.listed: dict[str, dict[str, object]] = {}  # file -> rfilename/size/sha256 to list
        self.filler_files: int = 0  # small files listed besides the real ones
        self.info_body: bytes | Iterator[bytes] | None = None  # sent as model info instead
        self.extra_bytes: bytes = b""  # sent after a file's bytes
        self.short_by: int = 0  # bytes left off the end of a file (with an honest length)
        self.range_from_zero: bool = False  # answer a Range with 206 from byte 0
        self.no_length: bool = False  # send a file without Content-Length, then close
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()  # a short poll: close() returns at once

    def add(self, repo: str, filename: str, data: bytes) -> str:
        self.repos.setdefault(repo, {})[filename] = data
        digest = hashlib.sha256(data).hexdigest()
        self.hashes[(repo, filename)] = digest
        return digest

    def close(self):
        self._server.shutdown()
        self._server.server_close()

    def _handler(hub):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _json(self, data, status=200):
                body = json.dumps(data).encode()
                self.send_response(status)
                if status == 404:
                    self.send_header("X-Error-Code", "RepoNotFound")  # as the Hub does
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _raw(self, body: bytes | Iterator[bytes]):
                """A 200 JSON body: bytes with their length, or chunks until the client
                hangs up (no length, the connection closes at the end)."""
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if isinstance(body, bytes):
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                try:
                    for chunk in body:
                        self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _record(self):
                hub.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "range": self.headers.get("Range"),
                        "auth": self.headers.get("Authorization"),
                    }
                )

            def do_HEAD(self):
                self._record()
                self._resolve(head=True)

            def do_GET(self):
                self._record()
                path = self.path.split("?")[0]
                info = re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/[^/]+)?", path)
                tree = re.fullmatch(r"/api/models/([^/]+/[^/]+)/tree/[^/]+", path)
                if info or tree:
                    repo = (info or tree).group(1)
                    if repo not in hub.repos:
                        return self._json({"error": "Repository not found"}, 404)
                    if info and hub.info_body is not None:
                        return self._raw(hub.info_body)
                    files = hub.repos[repo]
                    if tree:
                        return self._json(
                            [
                                {
                                    "type": "file",
                                    "path": name,
                                    "size": len(data),
                                    "oid": "f" * 40,
                                    "lfs": {
                                        "oid": hub.hashes[(repo, name)],
                                        "size": len(data),
                                        "pointerSize": 134,
                                    },
                                }
                                for name, data in files.items()
                            ]
                        )
                    siblings = []
                    for name, data in files.items():
                        listed = {
                            "rfilename": name,
                            "size": len(data),
                            "sha256": hub.hashes[(repo, name)],
                            **hub.listed.get(name, {}),
                        }
                        siblings.append(
                            {
                                "rfilename": listed["rfilename"],
                                "size": listed["size"],
                                "blobId": "f" * 40,
                                "lfs": {
                                    "sha256": listed["sha256"],
                                    "size": listed["size"],
                                    "pointerSize": 134,
                                },
                            }
                        )
                    body = json.dumps(
                        {
                            "id": repo,
                            "modelId": repo,
                            "sha": hub.commit,
                            "private": False,
                            "siblings": siblings,  # last: filler files go in before `]}`
                        }
                    ).encode()
                    if hub.filler_files:
                        comma = b", " if siblings else b""
                        body = body[:-2] + comma + _filler(hub.filler_files) + b"]}"
                    return self._raw(body)
                self._resolve(head=False)

            def _resolve(self, head: bool):
                m = re.fullmatch(r"/([^/]+/[^/]+)/resolve/[^/]+/(.+)", self.path.split("?")[0])
                name = unquote(m.group(2)) if m else ""
                for real, listed in hub.listed.items():  # a file listed under another name
                    if listed.get("rfilename") == name:
                        name = real
                data = hub.repos.get(m.group(1), {}).get(name) if m else None
                if data is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start = 0
                wanted = self.headers.get("Range")
                if wanted:
                    start = int(re.match(r"bytes=(\d+)-", wanted).group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                if hub.range_from_zero:
                    start = 0
                body = data[start : len(data) - hub.short_by] + hub.extra_bytes
                if hub.corrupt and body:
                    body = bytes([body[0] ^ 0xFF]) + body[1:]
                self.send_response(206 if wanted else 200)
                if hub.no_length:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                else:
                    self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{hub.hashes[(m.group(1), name)]}"')
                if wanted:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                if head:
                    return
                sent = 0
                step = 1 << 16
                try:
                    while sent < len(body):
                        if hub.stall_after is not None and start + sent >= hub.stall_after:
                            time.sleep(3600)  # hang: the client must be killed
                        chunk = body[sent : sent + step]
                        self.wfile.write(chunk)
                        sent += len(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler


@cache
def _filler(count: int) -> bytes:
    """`count` small LFS files as listing entries, joined: built once per count (by
    formatting, which is several times faster than json.dumps for 100,000 of them)."""
    return ", ".join(
        f'{{"rfilename": "data/part-{i:06d}.bin", "size": {1000 + i}, "blobId": "{"f" * 40}", '
        f'"lfs": {{"sha256": "{i:064x}", "size": {1000 + i}, "pointerSize": 134}}}}'
        for i in range(count)
    ).encode()
