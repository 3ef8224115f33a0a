"""A threaded HTTP server on 127.0.0.1 for the stand-ins of remote APIs (venues, Yahoo), and the faults
they can inject."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Fault:
    """Answer requests whose path contains `path` (and whose query contains `query`) with `status` and
    `body`, `times` times (None: forever). `truncate`: announce the whole body, send half of it and close.
    `hang_seconds`: wait that long before answering (a hung endpoint)."""

    path: str
    status: int = 500
    body: str = '{"error": "internal error"}'
    times: int | None = 1
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    truncate: bool = False
    hang_seconds: float = 0.0
    query: str = ""
    served: int = 0  # how many requests this fault answered

    def matches(self, path: str, query: str) -> bool:
        return self.path in path and self.query in query and (self.times is None or self.times > 0)


class LocalServer:
    """Subclasses implement `_handle(request)`; `start()` serves on a free port until `stop()`."""

    _server: ThreadingHTTPServer | None = None
    _stopping: threading.Event | None = None

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    def start(self):
        owner = self
        self._stopping = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                try:
                    owner._handle(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout under test): nothing to answer

            do_POST = do_GET

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._stopping.set()
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def serve_fault(self, request: BaseHTTPRequestHandler, faults: list[Fault], path: str, query: str) -> bool:
        """Answer with the first matching fault; False when none matches."""
        for fault in faults:
            if fault.matches(path, query):
                if fault.times is not None:
                    fault.times -= 1
                fault.served += 1
                if fault.hang_seconds:
                    self._stopping.wait(fault.hang_seconds)
                if fault.truncate:
                    data = fault.body.encode()
                    request.send_response(fault.status)
                    request.send_header("Content-Type", fault.content_type)
                    request.send_header("Content-Length", str(len(data)))
                    request.end_headers()
                    request.wfile.write(data[: len(data) // 2])
                    request.wfile.flush()
                    request.close_connection = True
                    return True
                send(request, fault.status, fault.body, fault.content_type, fault.headers)
                return True
        return False


def send(request: BaseHTTPRequestHandler, status: int, body: str, content_type: str = "application/json",
         headers: dict[str, str] | None = None) -> None:
    data = body.encode()
    request.send_response(status)
    request.send_header("Content-Type", content_type)
    request.send_header("Content-Length", str(len(data)))
    for name, value in (headers or {}).items():
        request.send_header(name, value)
    request.end_headers()
    request.wfile.write(data)
