"""The protocol double's HTTP front: a threaded stdlib server on loopback."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional
from urllib.parse import parse_qs, urlparse

from .graphql_exec import execute
from .store import DoubleStore

#: apollo's ``APOLLO_API_BODY_LIMIT`` default, "5mb" as its body parser reads it (MiB)
REQUEST_BODY_LIMIT = 5 * 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def do_POST(self):  # noqa: N802 (stdlib name)
        length = int(self.headers.get("Content-Length") or 0)
        if length > REQUEST_BODY_LIMIT:
            # apollo's body parser refuses the request before GraphQL sees it
            self.rfile.read(length)
            self.server.refused.append((413, None, [{"message": "request entity too large"}]))
            return self._reply(413, {"errors": [{"message": "request entity too large"}]})
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self._reply(400, {"errors": [{"message": "request body is not JSON"}]})
        self._answer(body.get("query") or "", body.get("variables"))

    def do_GET(self):  # noqa: N802
        params = parse_qs(urlparse(self.path).query)
        query = (params.get("query") or [""])[0]
        if not query:
            return self._reply(200, {"status": "ok"})
        self._answer(query, (params.get("variables") or [None])[0])

    def _answer(self, query: str, variables):
        fault = self.server.take_fault(query)
        if fault is not None:
            status, body = fault
            if isinstance(body, bytes):  # a malformed reply: not JSON at all
                return self._reply_raw(status, body)
            return self._reply(status, body)
        store = self.server.store
        # one request at a time: resolvers and the relationships they return read
        # the same tables, as one database transaction would
        with store.lock:
            store.request_headers = {k.lower(): v for k, v in self.headers.items()
                                     if k.lower().startswith("x-prefect")}
            status, body = execute(self.server.resolvers, query, variables)
            if "errors" in body:
                self.server.refused.append((status, query, body["errors"]))
        self._reply(status, body)

    def _reply(self, status: int, payload: dict):
        data = json.dumps(payload, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _reply_raw(self, status: int, data: bytes):
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # quiet: tests read state, not access logs
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    resolvers: dict
    store: DoubleStore
    refused: list
    faults: list

    def take_fault(self, query: str):
        """The answer of a planned fault for this request, if one matches (used up once)."""
        with self.fault_lock:
            for fault in self.faults:
                if fault["field"] + "(" in query.replace(" (", "("):
                    fault["times"] -= 1
                    if fault["times"] <= 0:
                        self.faults.remove(fault)
                    fault["answered"].append(query)
                    return fault["status"], fault["body"]
        return None


class ProtocolDouble:
    """Serve the protocol double on ``127.0.0.1`` in a background thread.

    Args:
        port: the port; ``0`` picks a free one.
        path: the GraphQL path the URL names (any path is answered).

    Attributes:
        store: the double's state (:class:`DoubleStore`), for assertions.
        refused: ``(HTTP status, query, errors)`` of every answer that carried
            errors, in order: what a real server would have refused too.
        url: the GraphQL URL to point Prefect at.
    """

    def __init__(self, port: int = 0, path: str = "/graphql"):
        self.store = DoubleStore()
        self._httpd = _Server(("127.0.0.1", port), _Handler)
        self._httpd.resolvers = self.store.resolvers()
        self._httpd.store = self.store
        self.refused = self._httpd.refused = []
        self._httpd.faults = []
        self._httpd.fault_lock = threading.Lock()
        self.port = self._httpd.server_address[1]
        self.path = path
        self.url = f"http://127.0.0.1:{self.port}{path}"
        self._thread: Optional[threading.Thread] = None

    def fail(self, field: str, status: int = 500, body=None, times: int = 1) -> list:
        """Answer the next ``times`` requests naming the root field ``field`` with a fault.

        A test's way to meet what a real server does when it breaks: an HTTP 500
        with an error document, a ``body`` that is not the GraphQL answer asked
        for (a dict), or not JSON at all (bytes, such as a proxy's HTML page).
        The request is not executed.

        Returns:
            The queries answered with the fault, filled as they come.
        """
        answered: list = []
        default = {"errors": [{"message": "Internal Server Error", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]}
        with self._httpd.fault_lock:
            self._httpd.faults.append({"field": field, "status": status, "times": times, "answered": answered,
                                       "body": default if body is None else body})
        return answered

    def start(self) -> "ProtocolDouble":
        """Start serving; returns self."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
            name="prefect-protocol-double", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "ProtocolDouble":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
