"""Loopback servers that misbehave on purpose, below what an HTTP framework lets one do.

:class:`RawServer` hands each connection's socket to a behaviour (trickle the answer, stall
the headers, close without a word, speak another protocol); :class:`ForwardProxy` is the
smallest HTTP forward proxy, counting what it forwards; :func:`certificate_authority` makes a
CA and a certificate for an https server. All listen on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import datetime
import http.client
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

Behaviour = Callable[[socket.socket, threading.Event], None]


class RawServer:
    """A TCP server on 127.0.0.1 that runs ``behaviour(connection, stopping)`` per connection."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.connections = 0
        self.stopping = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._threads: list[threading.Thread] = []
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    @contextlib.contextmanager
    def running(self) -> Iterator[RawServer]:
        acceptor = threading.Thread(target=self._accept, daemon=True)
        acceptor.start()
        try:
            yield self
        finally:
            self.stopping.set()
            self._listener.close()
            for thread in [acceptor, *self._threads]:
                thread.join(timeout=5)

    def _accept(self) -> None:
        # Closing a socket does not wake a thread blocked accepting on it: look up now and then.
        self._listener.settimeout(0.05)
        while not self.stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection.settimeout(None)
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):
            self.behaviour(connection, self.stopping)


def read_request(connection: socket.socket) -> bytes:
    """The whole request (headers, and a body as long as its Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


# A dripping server gives up after this long, and closes: a client that was not cut off by its
# own deadline by then gets a truncated answer, whose failure says so instead of "timed out".
DRIP_FOR = 20.0


def drip(connection: socket.socket, stopping: threading.Event, every: float = 0.2) -> None:
    """One byte every ``every`` seconds, until the client goes, the server stops, or
    :data:`DRIP_FOR` seconds have passed."""
    for _ in range(int(DRIP_FOR / every)):
        if stopping.wait(every):
            return
        connection.sendall(b" ")


def trickled_answer(connection: socket.socket, stopping: threading.Event) -> None:
    """Headers at once, then a body that never finishes arriving."""
    read_request(connection)
    connection.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
    )
    drip(connection, stopping)


def slow_headers(connection: socket.socket, stopping: threading.Event) -> None:
    """A status line, then headers that never end."""
    read_request(connection)
    connection.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    drip(connection, stopping)


def answer_of(megabytes: int) -> Behaviour:
    """Reads the request, answers 200 with a body of ``megabytes`` MiB (sent from one buffer,
    so the server itself holds almost nothing)."""
    chunk = b" " * 65536

    def answer(connection: socket.socket, stopping: threading.Event) -> None:
        read_request(connection)
        length = megabytes * 1024 * 1024
        connection.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % length
        )
        for _ in range(length // len(chunk)):
            connection.sendall(chunk)

    return answer


def no_answer(connection: socket.socket, stopping: threading.Event) -> None:
    """Reads the request and closes the connection."""
    read_request(connection)


def answers_with(text: bytes) -> Behaviour:
    """Reads the request, answers ``text`` and closes."""

    def answer(connection: socket.socket, stopping: threading.Event) -> None:
        read_request(connection)
        connection.sendall(text)

    return answer


class ForwardProxy:
    """An HTTP forward proxy on 127.0.0.1 (POSTs to absolute URIs, no CONNECT) that keeps the
    URL of every request it forwards."""

    def __init__(self) -> None:
        self.forwarded: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                target = urlsplit(self.path)
                proxy.forwarded.append(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                upstream = http.client.HTTPConnection(target.hostname or "", target.port)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                upstream.request("POST", target.path, body, headers)
                answer = upstream.getresponse()
                content = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)
                upstream.close()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    @contextlib.contextmanager
    def running(self) -> Iterator[ForwardProxy]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(timeout=5)


def certificate_authority(directory: Path) -> tuple[Path, ssl.SSLContext]:
    """A throwaway CA (its PEM file in ``directory``) and a server context for 127.0.0.1
    signed by it: what a company's own CA and its internal barapi look like."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "barapi test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .add_extension(x509.ExtendedKeyUsage([x509.OID_SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file, key_file = directory / "server.pem", directory / "server.key"
    cert_file.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return ca_file, context
