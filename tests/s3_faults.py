"""S3 that fails on purpose: a fault-injecting HTTP proxy on loopback in front of moto's
server. The system cluster reaches S3 only through it (its Airflow connection's
``endpoint_url``), so a test can make any call path fail the way S3 and networks do:

* ``500``: ``InternalError``, the request not carried out;
* ``slowdown``: 503 ``SlowDown``, S3's throttling;
* ``reset``: the connection reset part-way through a body: the request's (an upload's
  half sent), else the response's (half of it received); an answer without a body is
  lost whole, after the request was carried out;
* ``stall``: the request carried out, then no answer until after the client's read
  timeout (the client cannot know whether it happened).

A :class:`Rule` picks requests by method, path and query (which call path they are), and
faults ``times`` of them (after letting ``after`` through), one kind after another
from its ``faults``. Requests
by other clients than Airflow's (a test's own boto3 client names no ``Airflow/`` in its
User-Agent, which providers-amazon's hooks add) pass untouched, so a test reads the
truth behind the faults.
"""

from __future__ import annotations

import http.client
import re
import socket
import socketserver
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

KINDS = ("500", "slowdown", "reset", "stall")
ERRORS = {
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "slowdown": (503, "SlowDown", "Please reduce your request rate."),
}
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection"}


@dataclass
class Rule:
    """Fault the first ``times`` requests of one call path: ``method`` and ``path``
    (a regular expression searched in ``/bucket/key``), with every query parameter of
    ``query`` present and none of ``without``. ``faults`` are used in turn."""

    name: str
    method: str
    path: str
    query: tuple[str, ...] = ()
    without: tuple[str, ...] = ()
    faults: tuple[str, ...] = KINDS
    times: int = len(KINDS)
    after: int = 0  # matching requests let through before the first fault
    hits: list[str] = field(default_factory=list)  # the fault each faulted request got
    seen: int = 0  # matching requests, faulted or not

    def matches(self, method: str, path: str, query: dict) -> bool:
        return (
            method == self.method
            and re.search(self.path, path) is not None
            and all(q in query for q in self.query)
            and not any(q in query for q in self.without)
        )


class FaultProxy:
    """The proxy: ``url`` for the clients, ``upstream`` for moto's server."""

    def __init__(self, upstream: str, stall_seconds: float, agent: str = "Airflow/"):
        self.upstream = upstream.rstrip("/")
        self.agent = agent  # only clients whose User-Agent holds this get faults
        self.stall_seconds = stall_seconds
        self.rules: list[Rule] = []
        self.lock = threading.Lock()
        parts = urlsplit(self.upstream)
        self._target = (parts.hostname, parts.port)
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def inject(self, *rules: Rule) -> list[Rule]:
        with self.lock:
            self.rules = list(rules)
        return self.rules

    def clear(self) -> None:
        with self.lock:
            self.rules = []

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _fault_for(self, method: str, path: str, query: dict, agent: str) -> str | None:
        if self.agent not in agent:
            return None
        with self.lock:
            for rule in self.rules:
                if rule.matches(method, path, query):
                    rule.seen += 1
                    if rule.seen > rule.after and len(rule.hits) < rule.times:
                        fault = rule.faults[len(rule.hits) % len(rule.faults)]
                        rule.hits.append(fault)
                        return fault
        return None


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: FaultProxy

    def log_message(self, *args) -> None:  # quiet: the tests' output is elsewhere
        pass

    def do_GET(self) -> None:
        self._handle()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    def _handle(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        agent = self.headers.get("User-Agent", "")
        fault = self.owner._fault_for(self.command, url.path, query, agent)
        if fault == "reset" and self._has_body():
            self._read_body(half=True)
            return self._reset()
        body = self._read_body()
        if fault in ERRORS:
            return self._error(*ERRORS[fault])
        status, headers, payload = self._forward(body)
        if fault == "stall":
            time.sleep(self.owner.stall_seconds)
            return self._reset()
        if fault == "reset" and (self.command == "HEAD" or not payload):
            return self._reset()  # done, but the answer is lost
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in HOP_BY_HOP | {"content-length", "server", "date"}:
                self.send_header(name, value)
        length = dict((k.lower(), v) for k, v in headers).get("content-length", "0")
        self.send_header("Content-Length", str(len(payload)) if payload else length)
        self.end_headers()
        if fault == "reset":
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            return self._reset()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _has_body(self) -> bool:
        return int(self.headers.get("Content-Length", 0) or 0) > 0 or self._chunked()

    def _chunked(self) -> bool:
        return "chunked" in self.headers.get("Transfer-Encoding", "").lower()

    def _read_body(self, half: bool = False) -> bytes:
        if self._chunked():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
                if half:
                    return b""
        length = int(self.headers.get("Content-Length", 0) or 0)
        return self.rfile.read(length // 2 if half else length)

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        upstream = http.client.HTTPConnection(*self.owner._target, timeout=120)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            headers["Content-Length"] = str(len(body))
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            payload = response.read()
            return response.status, response.getheaders(), payload
        finally:
            upstream.close()

    def _error(self, status: int, code: str, message: str) -> None:
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{message}</Message><RequestId>fault-proxy</RequestId></Error>"
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _reset(self) -> None:
        # SO_LINGER 0: close with a TCP RST, as a dropped connection looks to the client.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.connection.close()

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass  # the socket was reset on purpose
