"""A fault-injecting HTTP proxy on 127.0.0.1 in front of an emulator.

It forwards requests unchanged, records them, and on demand corrupts upload or download bodies
(same length, so only a checksum can tell) or cuts an upload off half-way through its body.
"""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass
class Faults:
    """What the proxy does to the traffic; `marker` is replaced by `corrupted` when asked."""

    corrupt_uploads: bool = False
    corrupt_downloads: bool = False
    cut_uploads: int = 0  # how many upload requests to cut off half-way, from now on
    on_cut: Callable[[], None] | None = None  # called once a cut request has been hung up
    marker: bytes = b"PAYLOAD"
    corrupted: bytes = b"PAYLOAX"
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)


def is_upload(method: str, path: str) -> bool:
    return method in ("POST", "PUT") and "/upload/" in path


class FaultyProxy:
    """Run with `with FaultyProxy(upstream) as proxy:`; point a client at `proxy.endpoint`."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.faults = Faults()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy.faults.requests.append((self.command, self.path, body))
                upload = is_upload(self.command, self.path)
                if upload and proxy.faults.cut_uploads > 0:
                    proxy.faults.cut_uploads -= 1
                    proxy.send_partial(self.command, self.path, self.headers, body)
                    if proxy.faults.on_cut:
                        proxy.faults.on_cut()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if upload and proxy.faults.corrupt_uploads:
                    body = body.replace(proxy.faults.marker, proxy.faults.corrupted)
                status, headers, answer = proxy.forward(self.command, self.path, self.headers, body)
                if (
                    self.command == "GET"
                    and "alt=media" in self.path
                    and proxy.faults.corrupt_downloads
                ):
                    answer = answer.replace(proxy.faults.marker, proxy.faults.corrupted)
                self.send_response(status)
                for name, value in headers:
                    if name.lower() in HOP_HEADERS:
                        continue
                    if name.lower() == "location":
                        value = value.replace(proxy.upstream.netloc, proxy.netloc)
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _relay

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.netloc = f"127.0.0.1:{self.server.server_address[1]}"
        self.endpoint = f"http://{self.netloc}"

    def forward(self, method, path, headers, body) -> tuple[int, list, bytes]:
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=30)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in HOP_HEADERS}
            sent["Host"] = self.upstream.netloc
            sent["Content-Length"] = str(len(body))
            conn.request(method, path, body=body, headers=sent)
            answer = conn.getresponse()
            return answer.status, answer.getheaders(), answer.read()
        finally:
            conn.close()

    def send_partial(self, method, path, headers, body) -> None:
        """Send the request with its full length announced but only half the body, then hang up."""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.upstream.netloc}"]
        lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in HOP_HEADERS]
        lines += [f"Content-Length: {len(body)}", "", ""]
        with socket.create_connection((self.upstream.hostname, self.upstream.port)) as sock:
            sock.sendall("\r\n".join(lines).encode() + body[: len(body) // 2])

    def __enter__(self) -> FaultyProxy:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
