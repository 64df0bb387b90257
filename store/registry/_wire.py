"""HTTP/1.1 under the registry client's httpx requests: pooled sockets, framing done here.

Private to ``imgpkg_pure.store.registry``; :mod:`imgpkg_pure.store.registry.transport`
builds it.  Why not httpx's own transport (httpcore over h11), nor ``http.client``:
measured on this machine kind (``docs/benchmarks.md``, "The transport"), h11 copies
each body chunk two or three times and costs ~0.3 ms of CPU per exchange more than
a plain reader, and ``http.client`` parses every answer's headers with the ``email``
package (a fifth of what an exchange costs the client).  The requests and answers
stay httpx values (the auth flow, ``--debug``, every error type the retry rules
read), so this module answers exactly what httpcore answered:

* **Connections** are kept alive per ``(scheme, host, port)`` and reused while idle
  less than ``keepalive_expiry`` seconds; one the server closed while idle (readable
  before a request is sent) is dropped, not used.  An answer not read to its end, or
  one that said ``Connection: close``, closes its connection.
* **Proxies**: an ``http://`` proxy gets plain-http requests in absolute form (with
  ``Proxy-Authorization`` from the proxy URL's user info) and https requests through
  a ``CONNECT`` tunnel, TLS inside it naming the registry.
* **TLS**: the :class:`ssl.SSLContext` given (the registry flags' trust).
* **Timeouts** (``request.extensions["timeout"]``): ``connect`` for the TCP connect,
  the tunnel and the TLS handshake, ``write`` while the request is sent, ``read`` for
  each read of the answer.
* **Errors** are httpx's: ``ConnectTimeout``/``ConnectError`` (refused, DNS, TLS, with
  the OS or ssl text, as httpcore put it), ``ProxyError`` (a tunnel refused),
  ``WriteTimeout``, ``ReadTimeout``/``ReadError``, ``LocalProtocolError`` (a header
  that would break the request), and ``RemoteProtocolError`` for a server that breaks
  HTTP (no answer, a bad status line or header, a body shorter than its
  ``Content-Length``, bad chunk framing).  An exception raised by the request body's
  own iterator passes through unchanged (the session's ``BodyFailed``).  As with
  httpcore, a server that stops reading the body to answer early (a 401, a 413) is
  still heard: the answer is read after a failed write.
* **Bodies**: sent as given (``Content-Length``) or chunk-framed when httpx set
  ``Transfer-Encoding: chunked``; a small body goes out with the headers in one send.
  Answers are framed by ``Content-Length``, chunked encoding or the connection's end,
  and read in pieces of up to :data:`READ_SIZE` bytes, each read straight into the
  ``bytes`` handed on.
"""

from __future__ import annotations

import base64
import io
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import BinaryIO, Final
from urllib.parse import unquote

import httpx

__all__ = ["READ_SIZE", "WireTransport"]

#: The most one read of an answer's body asks for (one chunk handed on).
READ_SIZE: Final = 1 << 20
#: A request body up to this size is sent in the same ``send`` as its headers.
_JOIN_BODY: Final = 64 << 10
#: Limits on an answer's head (``http.client``'s): line length and header count.
_MAX_LINE: Final = 65536
_MAX_HEADERS: Final = 100
#: How much the reader of a connection buffers (status lines, headers, chunk sizes).
_BUFFER: Final = 64 << 10

_Key = tuple[str, str, int]
_RawHeaders = list[tuple[bytes, bytes]]


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _readable(sock: socket.socket) -> bool:
    """Whether an idle socket has something to read: the server closed it (or broke HTTP)."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    try:
        ready, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(ready)


def _text(error: BaseException) -> str:
    return str(error) or type(error).__name__


class _Proxy:
    """An ``http://`` proxy: where it is and the ``Proxy-Authorization`` its URL carries."""

    def __init__(self, url: str) -> None:
        parsed = httpx.URL(url)
        self.host = parsed.host
        self.port = parsed.port or 80
        self.authorization: bytes | None = None
        if parsed.username or parsed.password:
            pair = f"{unquote(parsed.username)}:{unquote(parsed.password)}".encode()
            self.authorization = b"Basic " + base64.b64encode(pair)


class _Broken(Exception):
    """The server broke HTTP framing (becomes ``RemoteProtocolError``)."""


class _NoAnswer(Exception):
    """The connection ended before an answer began."""


class _Head:
    """The status line and headers of one answer, and how its body is framed."""

    def __init__(self, status: int, reason: bytes, version: bytes, headers: _RawHeaders) -> None:
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers
        self.length: int | None = None
        self.chunked = False
        close = version == b"HTTP/1.0"
        lengths: set[bytes] = set()
        for name, value in headers:
            lowered = name.lower()
            if lowered == b"content-length":
                lengths.add(value.strip())
            elif lowered == b"transfer-encoding":
                self.chunked = self.chunked or b"chunked" in value.lower()
            elif lowered == b"connection":
                tokens = {token.strip() for token in value.lower().split(b",")}
                if b"close" in tokens:
                    close = True
                elif b"keep-alive" in tokens:
                    close = False
        if lengths and not self.chunked:
            if len(lengths) > 1 or not next(iter(lengths)).isdigit():
                raise _Broken(f"invalid Content-Length {b', '.join(sorted(lengths))!r}")
            self.length = int(next(iter(lengths)))
        self.close_asked = close
        self.will_close = close or (self.length is None and not self.chunked)

    def without_body(self) -> None:
        """An answer that has no body whatever its headers say (``HEAD``, 204, 304)."""
        self.length, self.chunked, self.will_close = 0, False, self.close_asked


def _read_line(reader: BinaryIO) -> bytes:
    line = reader.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE:
        raise _Broken("a header line too long")
    return line


def _read_head(reader: BinaryIO, method: str) -> _Head:
    """Status line and headers (informational ``1xx`` answers skipped)."""
    while True:
        line = _read_line(reader)
        if not line:
            raise _NoAnswer
        version, _, rest = line.rstrip(b"\r\n").partition(b" ")
        code, _, reason = rest.partition(b" ")
        if not version.startswith(b"HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise _Broken(f"invalid status line {line[:80]!r}")
        headers: _RawHeaders = []
        while True:
            field = _read_line(reader)
            if field in (b"\r\n", b"\n", b""):
                break
            if len(headers) >= _MAX_HEADERS:
                raise _Broken(f"more than {_MAX_HEADERS} headers")
            name, colon, value = field.partition(b":")
            if not colon or not name or name != name.strip():
                raise _Broken(f"invalid header line {field[:80]!r}")
            headers.append((name, value.strip()))
        status = int(code)
        if 100 <= status < 200 and status != 101:
            continue
        head = _Head(status, reason, version, headers)
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            head.without_body()
        return head


class _Connection:
    """One socket and the buffered reader of its answers."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = io.BufferedReader(socket.SocketIO(sock, "rb"), _BUFFER)
        self.idle_since = 0.0

    def take(self, count: int) -> bytes:
        """The next ``count`` body bytes (at most :data:`READ_SIZE`; fewer only at the end),
        read from the socket straight into the ``bytes`` returned."""
        return self.reader.read(min(count, READ_SIZE))

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


class _Body(httpx.SyncByteStream):
    """An answer's body, read in :data:`READ_SIZE` pieces; closing releases the connection."""

    def __init__(
        self, transport: WireTransport, key: _Key, connection: _Connection, head: _Head
    ) -> None:
        self._transport = transport
        self._key = key
        self._connection: _Connection | None = connection
        self._head = head
        self._read = 0
        self._done = head.length == 0

    def __iter__(self) -> Iterator[bytes]:
        connection = self._connection
        if connection is None or self._done:
            return
        try:
            if self._head.chunked:
                yield from self._chunks(connection)
            else:
                yield from self._plain(connection, self._head.length)
        except TimeoutError as error:
            self._discard()
            raise httpx.ReadTimeout(_text(error)) from error
        except (_Broken, ValueError) as error:
            self._discard()
            raise httpx.RemoteProtocolError(_text(error)) from error
        except OSError as error:
            self._discard()
            raise httpx.ReadError(_text(error)) from error
        self._done = True

    def _plain(self, connection: _Connection, length: int | None) -> Iterator[bytes]:
        while length is None or self._read < length:
            want = READ_SIZE if length is None else min(READ_SIZE, length - self._read)
            chunk = connection.take(want)
            if not chunk:
                if length is None:
                    return
                raise _Broken(
                    "peer closed connection without sending complete message body: "
                    f"received {self._read} bytes, expected {length}"
                )
            self._read += len(chunk)
            yield chunk

    def _chunks(self, connection: _Connection) -> Iterator[bytes]:
        reader = connection.reader
        while True:
            line = _read_line(reader)
            if not line:
                raise _Broken(
                    "peer closed connection without sending complete message body: "
                    "incomplete chunked read"
                )
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _Broken(f"invalid chunk size {line[:40]!r}") from None
            if size == 0:
                while _read_line(reader) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return
            while size:
                chunk = connection.take(size)
                if not chunk:
                    raise _Broken(
                        "peer closed connection without sending complete message body: "
                        "incomplete chunked read"
                    )
                size -= len(chunk)
                self._read += len(chunk)
                yield chunk
            if _read_line(reader) not in (b"\r\n", b"\n"):
                raise _Broken("a chunk not followed by CRLF")

    def _discard(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if self._done and not self._head.will_close:
            self._transport._release(self._key, connection)  # read to its end: reusable
        else:
            connection.close()


class WireTransport(httpx.BaseTransport):
    """HTTP/1.1 over pooled sockets, directly or via an ``http://`` proxy."""

    def __init__(
        self,
        context: ssl.SSLContext,
        proxy: str | None = None,
        *,
        keepalive_expiry: float = 90.0,
    ) -> None:
        self._context = context
        self._proxy = _Proxy(proxy) if proxy is not None else None
        self._expiry = keepalive_expiry
        self._idle: dict[_Key, list[_Connection]] = {}
        self._lock = threading.Lock()
        self._closed = False

    # -- the pool ------------------------------------------------------------------------

    def _checkout(self, key: _Key) -> _Connection | None:
        now = time.monotonic()
        while True:
            with self._lock:
                idle = self._idle.get(key)
                if not idle:
                    return None
                connection = idle.pop()
            if now - connection.idle_since < self._expiry and not _readable(connection.sock):
                return connection
            connection.close()

    def _release(self, key: _Key, connection: _Connection) -> None:
        connection.idle_since = time.monotonic()
        with self._lock:
            if not self._closed:
                self._idle.setdefault(key, []).append(connection)
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    # -- connecting ----------------------------------------------------------------------

    def _connect(self, scheme: str, host: str, port: int, timeout: float | None) -> _Connection:
        proxy = self._proxy
        where = (proxy.host, proxy.port) if proxy is not None else (host, port)
        try:
            sock = socket.create_connection(where, timeout)
        except TimeoutError as error:
            raise httpx.ConnectTimeout(_text(error)) from error
        except OSError as error:
            raise httpx.ConnectError(_text(error)) from error
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme != "https":
                return _Connection(sock)
            if proxy is not None:
                self._tunnel(sock, host, port, proxy)
            try:
                return _Connection(self._context.wrap_socket(sock, server_hostname=host))
            except TimeoutError as error:
                raise httpx.ConnectTimeout(_text(error)) from error
            except (ssl.SSLError, ssl.CertificateError, OSError) as error:
                raise httpx.ConnectError(_text(error)) from error
        except BaseException:
            sock.close()
            raise

    @staticmethod
    def _tunnel(sock: socket.socket, host: str, port: int, proxy: _Proxy) -> None:
        """``CONNECT host:port`` through the proxy; raises ``ProxyError`` when refused."""
        target = (f"[{host}]:{port}" if ":" in host else f"{host}:{port}").encode("ascii")
        lines = [b"CONNECT " + target + b" HTTP/1.1", b"Host: " + target]
        if proxy.authorization is not None:
            lines.append(b"Proxy-Authorization: " + proxy.authorization)
        try:
            sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n")
            # Unbuffered: not one byte past the answer's head may be taken from the socket.
            with socket.SocketIO(sock, "rb") as raw:
                head = _read_head(io.BufferedReader(_OneByte(raw), buffer_size=1), "CONNECT")
        except TimeoutError as error:
            raise httpx.ConnectTimeout(_text(error)) from error
        except (_Broken, _NoAnswer, OSError) as error:
            raise httpx.ProxyError(_text(error)) from error
        if not 200 <= head.status < 300:
            reason = head.reason.decode("latin-1")
            raise httpx.ProxyError(f"{head.status} {reason}".rstrip())

    # -- one exchange --------------------------------------------------------------------

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            if not scheme:
                raise httpx.UnsupportedProtocol(
                    "Request URL is missing an 'http://' or 'https://' protocol."
                )
            raise httpx.UnsupportedProtocol(
                f"Request URL has an unsupported protocol '{scheme}://'."
            )
        host = url.host
        port = url.port or _default_port(scheme)
        key = (scheme, host, port)
        told = request.extensions.get("timeout", {})
        connection = self._checkout(key)
        if connection is None:
            connection = self._connect(scheme, host, port, told.get("connect"))
        try:
            self._send(connection.sock, request, scheme, told.get("write"))
            connection.sock.settimeout(told.get("read"))
            try:
                head = _read_head(connection.reader, request.method)
            except TimeoutError as error:
                raise httpx.ReadTimeout(_text(error)) from error
            except _NoAnswer as error:
                raise httpx.RemoteProtocolError(
                    "Server disconnected without sending a response."
                ) from error
            except (_Broken, ValueError) as error:
                raise httpx.RemoteProtocolError(_text(error)) from error
            except OSError as error:
                raise httpx.ReadError(_text(error)) from error
        except BaseException:
            connection.close()
            raise
        body = _Body(self, key, connection, head)
        if head.length == 0:
            body.close()  # nothing to read: the connection is free again now
        return httpx.Response(
            head.status,
            headers=head.headers,
            stream=body,
            extensions={"http_version": head.version, "reason_phrase": head.reason},
        )

    def _send(
        self, sock: socket.socket, request: httpx.Request, scheme: str, timeout: float | None
    ) -> None:
        """Send the request.  A failed write is let go (as httpcore does): the server may
        have stopped reading to answer, and the answer (or its absence) says what happened."""
        url = request.url
        proxy = self._proxy
        absolute = proxy is not None and scheme == "http"
        target = str(url).encode("ascii") if absolute else url.raw_path
        lines = [request.method.encode("ascii") + b" " + target + b" HTTP/1.1"]
        chunked = False
        for name, value in request.headers.raw:
            if b"\r" in value or b"\n" in value or b"\r" in name or b"\n" in name:
                raise httpx.LocalProtocolError(f"Illegal header value {value!r}")
            if name.lower() == b"transfer-encoding" and value.lower() == b"chunked":
                chunked = True
            lines.append(name + b": " + value)
        if absolute and proxy is not None and proxy.authorization is not None:
            lines.append(b"Proxy-Authorization: " + proxy.authorization)
        head = b"\r\n".join(lines) + b"\r\n\r\n"
        stream = request.stream
        sock.settimeout(timeout)
        try:
            if isinstance(stream, httpx.ByteStream):
                body = request.content
                if chunked:
                    body = (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
                if len(body) <= _JOIN_BODY:
                    sock.sendall(head + body)
                else:
                    sock.sendall(head)
                    sock.sendall(body)
                return
            sock.sendall(head)
            assert isinstance(stream, httpx.SyncByteStream)
            for chunk in stream:
                if not chunk:
                    continue
                if chunked:
                    sock.sendall(b"%x\r\n" % len(chunk))
                    sock.sendall(chunk)
                    sock.sendall(b"\r\n")
                else:
                    sock.sendall(chunk)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except TimeoutError as error:
            raise httpx.WriteTimeout(_text(error)) from error
        except OSError:
            pass


class _OneByte(io.RawIOBase):
    """A raw reader that hands out one byte per read (a proxy's answer head, read without
    taking any of the TLS bytes that follow it)."""

    def __init__(self, raw: io.RawIOBase) -> None:
        self._raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._raw.read(1)
        if not data:
            return 0
        buffer[0] = data[0]
        return 1
