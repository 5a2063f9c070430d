"""A loopback HTTP server that speaks the parts of the Hugging Face Hub protocol lwz
uses: model info with siblings and LFS sha256, the tree listing, and `resolve` with
HEAD and Range. It serves real bytes and records every request."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class FakeHub:
    def __init__(self):
        self.repos: dict[str, dict[str, bytes]] = {}
        self.hashes: dict[tuple[str, str], str] = {}
        self.requests: list[dict] = []
        self.stall_after: int | None = None  # bytes into a body, then hang
        self.corrupt: bool = False  # flip a byte in what is served
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

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
                    return self._json(
                        {
                            "id": repo,
                            "modelId": repo,
                            "sha": COMMIT,
                            "private": False,
                            "siblings": [
                                {
                                    "rfilename": name,
                                    "size": len(data),
                                    "blobId": "f" * 40,
                                    "lfs": {
                                        "sha256": hub.hashes[(repo, name)],
                                        "size": len(data),
                                        "pointerSize": 134,
                                    },
                                }
                                for name, data in files.items()
                            ],
                        }
                    )
                self._resolve(head=False)

            def _resolve(self, head: bool):
                m = re.fullmatch(r"/([^/]+/[^/]+)/resolve/[^/]+/(.+)", self.path.split("?")[0])
                data = hub.repos.get(m.group(1), {}).get(m.group(2)) if m else None
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
                body = data[start:]
                if hub.corrupt and body:
                    body = bytes([body[0] ^ 0xFF]) + body[1:]
                self.send_response(206 if wanted else 200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{hub.hashes[(m.group(1), m.group(2))]}"')
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
