"""A minimal barapi on loopback for the per-request benchmark, run as its own process.

It answers the password grant with a fixed fake token and ``GET /v1/me`` with 200 only when
that token is in the ``Authorization`` header, so both measured clients are shown to
authenticate. It is deliberately cheap per request (the reference server validates every
token with oauthlib, which would dilute the client-side difference being measured) and runs
in a separate process, so it does not compete with the client for the GIL.

Prints ``PORT <n>`` on stdout once it listens; stops when stdin closes.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ACCESS_TOKEN = "fake-bench-access-token-Bt3nQ"
TOKEN = json.dumps(
    {"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600}
).encode()
ME = json.dumps({"user": "alice@example.test", "scopes": []}).encode()
DENIED = json.dumps({"error": "invalid_token"}).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: both sessions reuse their connection
    # Headers and body go out as separate writes; with Nagle on, each answer would wait for
    # the client's delayed ACK (~40 ms) and the benchmark would measure only that.
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/oauth/token":
            self._answer(200, TOKEN)
        else:
            self._answer(404, b"{}")

    def do_GET(self) -> None:
        if self.path != "/v1/me":
            self._answer(404, b"{}")
        elif self.headers.get("Authorization") == f"Bearer {ACCESS_TOKEN}":
            self._answer(200, ME)
        else:
            self._answer(401, DENIED)

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"PORT {server.server_address[1]}", flush=True)
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
