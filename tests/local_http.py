"""A threaded HTTP server on 127.0.0.1 for the stand-ins of remote APIs (venues, Yahoo)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LocalServer:
    """Subclasses implement `_handle(request)`; `start()` serves on a free port until `stop()`."""

    _server: ThreadingHTTPServer | None = None

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    def start(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                owner._handle(self)

            do_POST = do_GET

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"


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
