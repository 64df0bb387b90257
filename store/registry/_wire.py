"""HTTP/1.1 under ``httpx.Client``: pooled standard-library ``http.client`` connections.

Private to ``imgpkg_pure.store.registry``; :mod:`imgpkg_pure.store.registry.transport`
builds it.  Why not httpx's own transport (httpcore over h11): measured on this
machine kind (``docs/benchmarks.md``, "The transport"), h11 copies each body chunk two
or three times and costs ~0.3 ms of CPU per exchange more than ``http.client``, which
reads a body straight into the ``bytes`` it returns.  The client above stays httpx
(auth flow, redirects, ``--debug``, every error type the retry rules read), so this
module answers exactly what httpcore answered:

* **Connections** are kept alive per ``(scheme, host, port)`` and reused while idle
  less than ``keepalive_expiry`` seconds; one the server closed while idle (readable
  before a request is sent) is dropped, not used.  A response not read to its end
  closes its connection.
* **Proxies**: an ``http://`` proxy gets plain-http requests in absolute form (with
  ``Proxy-Authorization`` from the proxy URL's user info) and https requests through
  a ``CONNECT`` tunnel, TLS inside it naming the registry.
* **TLS**: the :class:`ssl.SSLContext` given (the registry flags' trust).
* **Timeouts** (``request.extensions["timeout"]``): ``connect`` for the TCP connect,
  the tunnel and the TLS handshake, ``write`` while the request is sent, ``read`` for
  each read of the answer.
* **Errors** are httpx's: ``ConnectTimeout``/``ConnectError`` (refused, DNS, TLS, with
  the OS or ssl text, as httpcore put it), ``ProxyError`` (a tunnel refused),
  ``WriteTimeout``, ``ReadTimeout``/``ReadError``, ``LocalProtocolError`` (a request
  ``http.client`` refuses to send), and
  ``RemoteProtocolError`` for a server that breaks HTTP (no answer, a body shorter
  than its ``Content-Length``).  An exception raised by the request body's own
  iterator passes through unchanged (the session's ``BodyFailed``).  As with
  httpcore, a server that stops reading the body to answer early (a 401, a 413) is
  still heard: the answer is read after a failed write.
* **Bodies**: sent as given (``Content-Length``) or chunk-framed when httpx set
  ``Transfer-Encoding: chunked``; a bytes body goes out with the headers in one
  send.  Answers are read in pieces of up to :data:`READ_SIZE` bytes, each read
  straight into its own ``bytes`` object.
"""

from __future__ import annotations

import base64
import http.client
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Final
from urllib.parse import unquote

import httpx

__all__ = ["READ_SIZE", "WireTransport"]

#: The most one read of an answer's body asks for (one chunk handed on).
READ_SIZE: Final = 1 << 20

_Key = tuple[str, str, int]


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


class _Proxy:
    """An ``http://`` proxy: where it is and the ``Proxy-Authorization`` its URL carries."""

    def __init__(self, url: str) -> None:
        parsed = httpx.URL(url)
        self.host = parsed.host
        self.port = parsed.port or 80
        self.authorization: str | None = None
        if parsed.username or parsed.password:
            pair = f"{unquote(parsed.username)}:{unquote(parsed.password)}".encode()
            self.authorization = "Basic " + base64.b64encode(pair).decode("ascii")


def _timeouts(request: httpx.Request) -> tuple[float | None, float | None, float | None]:
    told = request.extensions.get("timeout", {})
    return told.get("connect"), told.get("read"), told.get("write")


class _Body(httpx.SyncByteStream):
    """An answer's body, read in :data:`READ_SIZE` pieces; closing releases the connection."""

    def __init__(
        self,
        transport: WireTransport,
        key: _Key,
        connection: http.client.HTTPConnection,
        response: http.client.HTTPResponse,
    ) -> None:
        self._transport = transport
        self._key = key
        self._connection: http.client.HTTPConnection | None = connection
        self._response = response
        self._read = 0

    def __iter__(self) -> Iterator[bytes]:
        response = self._response
        while True:
            expected = response.length
            try:
                chunk = response.read(READ_SIZE)
            except TimeoutError as error:
                self._discard()
                raise httpx.ReadTimeout(str(error) or "The read operation timed out") from error
            except http.client.IncompleteRead as error:
                self._discard()
                raise httpx.RemoteProtocolError(
                    "peer closed connection without sending complete message body: "
                    f"incomplete chunked read ({error!r})"
                ) from error
            except (http.client.HTTPException, ValueError) as error:
                self._discard()
                raise httpx.RemoteProtocolError(str(error) or type(error).__name__) from error
            except OSError as error:
                self._discard()
                raise httpx.ReadError(str(error) or type(error).__name__) from error
            if not chunk:
                if expected:
                    self._discard()
                    raise httpx.RemoteProtocolError(
                        "peer closed connection without sending complete message body: "
                        f"received {self._read} bytes, expected {self._read + expected}"
                    )
                return
            self._read += len(chunk)
            yield chunk

    def _discard(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        response = self._response
        if connection.sock is not None and (response.isclosed() or response.length == 0):
            response.close()
            self._transport._release(self._key, connection)  # read to its end: reusable
        else:
            connection.close()


class WireTransport(httpx.BaseTransport):
    """HTTP/1.1 over pooled ``http.client`` connections, directly or via an http proxy."""

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
        self._idle: dict[_Key, list[tuple[http.client.HTTPConnection, float]]] = {}
        self._lock = threading.Lock()
        self._closed = False

    # -- the pool ------------------------------------------------------------------------

    def _checkout(self, key: _Key) -> http.client.HTTPConnection | None:
        now = time.monotonic()
        while True:
            with self._lock:
                idle = self._idle.get(key)
                if not idle:
                    return None
                connection, since = idle.pop()
            sock = connection.sock
            if sock is not None and now - since < self._expiry and not _readable(sock):
                return connection
            connection.close()

    def _release(self, key: _Key, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if not self._closed:
                self._idle.setdefault(key, []).append((connection, time.monotonic()))
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection, _ in connections:
                connection.close()

    # -- connecting ----------------------------------------------------------------------

    def _connect(self, scheme: str, host: str, port: int, timeout: float | None) -> socket.socket:
        proxy = self._proxy
        where = (proxy.host, proxy.port) if proxy is not None else (host, port)
        try:
            sock = socket.create_connection(where, timeout)
        except TimeoutError as error:
            raise httpx.ConnectTimeout(str(error) or "timed out") from error
        except OSError as error:
            raise httpx.ConnectError(str(error) or type(error).__name__) from error
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme != "https":
                return sock
            if proxy is not None:
                self._tunnel(sock, host, port, proxy)
            try:
                return self._context.wrap_socket(sock, server_hostname=host)
            except TimeoutError as error:
                raise httpx.ConnectTimeout(str(error) or "timed out") from error
            except (ssl.SSLError, ssl.CertificateError, OSError) as error:
                raise httpx.ConnectError(str(error) or type(error).__name__) from error
        except BaseException:
            sock.close()
            raise

    @staticmethod
    def _tunnel(sock: socket.socket, host: str, port: int, proxy: _Proxy) -> None:
        """``CONNECT host:port`` through the proxy; raises ``ProxyError`` when refused."""
        target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
        if proxy.authorization is not None:
            lines.append(f"Proxy-Authorization: {proxy.authorization}")
        try:
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            answer = http.client.HTTPResponse(sock, method="CONNECT")
            try:
                answer.begin()
            finally:
                answer.close()
        except TimeoutError as error:
            raise httpx.ConnectTimeout(str(error) or "timed out") from error
        except (http.client.HTTPException, OSError) as error:
            raise httpx.ProxyError(str(error) or type(error).__name__) from error
        if not 200 <= answer.status < 300:
            raise httpx.ProxyError(f"{answer.status} {answer.reason}")

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
        connect_timeout, read_timeout, write_timeout = _timeouts(request)
        connection = self._checkout(key)
        if connection is None:
            connection = http.client.HTTPConnection(host, port)
            connection.auto_open = 0  # never a silent reconnect: the pool decides
            connection.sock = self._connect(scheme, host, port, connect_timeout)
        sock = connection.sock
        assert sock is not None
        try:
            self._send(connection, sock, request, scheme, write_timeout)
            sock.settimeout(read_timeout)
            try:
                response = connection.getresponse()
            except TimeoutError as error:
                raise httpx.ReadTimeout(str(error) or "timed out") from error
            except http.client.RemoteDisconnected as error:
                raise httpx.RemoteProtocolError(
                    "Server disconnected without sending a response."
                ) from error
            except (http.client.HTTPException, ValueError) as error:
                raise httpx.RemoteProtocolError(str(error) or type(error).__name__) from error
            except OSError as error:
                raise httpx.ReadError(str(error) or type(error).__name__) from error
        except BaseException:
            connection.close()
            raise
        return httpx.Response(
            response.status,
            headers=[
                (name.encode("latin-1"), value.encode("latin-1"))
                for name, value in response.msg.raw_items()
            ],
            stream=_Body(self, key, connection, response),
            extensions={
                "http_version": b"HTTP/1.1" if response.version == 11 else b"HTTP/1.0",
                "reason_phrase": response.reason.encode("latin-1", "replace"),
            },
        )

    def _send(
        self,
        connection: http.client.HTTPConnection,
        sock: socket.socket,
        request: httpx.Request,
        scheme: str,
        timeout: float | None,
    ) -> None:
        """Send the request.  A failed write is let go (as httpcore does): the server may
        have stopped reading to answer, and the answer (or its absence) says what happened."""
        url = request.url
        if self._proxy is not None and scheme == "http":
            target = str(url)
        else:
            target = url.raw_path.decode("ascii")
        sock.settimeout(timeout)
        headers = request.headers.raw
        chunked = False
        try:
            connection.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                if name.lower() == b"transfer-encoding" and value.lower() == b"chunked":
                    chunked = True
                connection.putheader(name, value)
            proxy = self._proxy
            if proxy is not None and scheme == "http" and proxy.authorization is not None:
                connection.putheader("Proxy-Authorization", proxy.authorization)
            stream = request.stream
            if isinstance(stream, httpx.ByteStream):
                body = request.content
                if chunked and body:
                    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
                elif chunked:
                    body = b"0\r\n\r\n"
                connection.endheaders(body)
                return
            connection.endheaders()
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
            raise httpx.WriteTimeout(str(error) or "timed out") from error
        except OSError:
            pass
        except (http.client.HTTPException, ValueError) as error:
            raise httpx.LocalProtocolError(str(error) or type(error).__name__) from error
