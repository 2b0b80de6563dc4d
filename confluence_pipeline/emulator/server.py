"""The emulator's HTTP server: werkzeug's threaded server, keeping each connection open for the
next request as Confluence Cloud does (its recorded answers carry `connection: keep-alive`).

werkzeug's own handler closes the connection after every answer, so each call paid a new TCP
connection and a new server thread, which real Cloud does not charge: 1.5-2 ms a call with four
downloads at once (README, Performance). This handler answers with the body's length,
reads what the application left of the request body, and keeps the connection until the client
closes it, a fault closes it (`CONNECTION_CLOSED`), or it sits idle for `IDLE_TIMEOUT_S`.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wsgi import LimitedStream

IDLE_TIMEOUT_S = 30.0  # an idle connection is closed after this, as a load balancer would
CONNECTION_CLOSED = "emulator.connection_closed"  # set in the environ by an app that closed the socket itself
_NO_BODY = (204, 304)


class EmulatorServer(ThreadedWSGIServer):
    """Tracks open connections so that `close_connections` can end them at stop: a stopped
    emulator must not go on answering on a kept-alive connection."""

    block_on_close = False  # stop does not wait for idle kept-alive connections to time out

    def __init__(self, host: str, port: int, app: Any) -> None:
        super().__init__(host, port, app, handler=KeepAliveHandler)
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def close_connections(self) -> None:
        with self.connections_lock:
            open_now = list(self.connections)
        for sock in open_now:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class KeepAliveHandler(WSGIRequestHandler):
    server: EmulatorServer
    server_version = "AtlassianEdge"
    sys_version = ""
    timeout = IDLE_TIMEOUT_S

    def setup(self) -> None:
        super().setup()
        # the head and the body go in two writes: with Nagle's algorithm on, the body waited for
        # the client's delayed ACK of the head (40 ms) on every kept-alive call
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def log_request(self, *args: object, **kwargs: object) -> None:  # no access log on stderr
        pass

    def log_error(self, format: str, *args: object) -> None:
        if not format.startswith("Request timed out"):  # an idle connection closing is routine
            super().log_error(format, *args)

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        environ = self.make_environ()
        request_body = None
        if environ.get("wsgi.input_terminated"):  # a chunked request body: its end is not ours to find
            self.close_connection = True
        else:
            length = environ.get("CONTENT_LENGTH") or "0"
            request_body = LimitedStream(environ["wsgi.input"], int(length) if length.isdigit() else 0)
            environ["wsgi.input"] = request_body
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [status, headers]
            return None

        try:
            answer = self.server.app(environ, start_response)
            try:
                body = b"".join(answer)
            finally:
                getattr(answer, "close", lambda: None)()
            if environ.get(CONNECTION_CLOSED):
                self.close_connection = True
                return
            status, headers = started
            code, _, reason = status.partition(" ")
            self.send_response(int(code), reason)
            for key, value in headers:
                self.send_header(key, value)
            if int(code) not in _NO_BODY and not any(key.lower() == "content-length" for key, _ in headers):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if environ["REQUEST_METHOD"] != "HEAD":
                self.wfile.write(body)
            self.wfile.flush()
            if request_body is not None:
                request_body.exhaust()  # unread, it would be taken for the next request
        except OSError:  # the client went away
            self.close_connection = True
