"""The HTTP transport under the registry client (reference §6.6).

* **TLS**: the system trust store (``ssl.create_default_context()``; certifi's
  bundle when the system has none) plus every ``--registry-ca-cert-path``
  file; ``verify_certs=False`` turns verification off.  The first client's system
  store is loaded on a thread started when this module is imported (``_AheadContext``).
* **HTTP/1.1 only**, one connection pool per route, keep-alive: pooled sockets with
  the framing done in ``_wire`` under httpx's request and response values (1 MiB
  reads, one copy fewer per chunk and ~0.3 ms less CPU per exchange than httpcore,
  measured in ``docs/benchmarks.md``).  A proxy that is not ``http://`` goes through httpcore,
  its read size raised to 1 MiB (python-measurements.md §httpx: 1.7x faster
  downloads), a process-wide class attribute set once.
* **Proxies** follow Go's ``http.ProxyFromEnvironment`` (which imgpkg uses),
  read from the environment mapping the client was given, not by httpx:

  - ``HTTPS_PROXY``/``https_proxy`` for https URLs, ``HTTP_PROXY``/``http_proxy``
    for http URLs (upper case first); a value without a scheme means ``http://``;
  - ``localhost`` and loopback IP addresses are **never** proxied, whatever
    ``NO_PROXY`` says, so a proxy in the environment never breaks a local
    registry (and ``NO_PROXY`` need not list it);
  - ``NO_PROXY``/``no_proxy``: comma-separated; ``*`` disables proxying; an IP
    or CIDR matches addresses; ``name``, ``.name`` and ``*.name`` match the
    host and its subdomains (``.name`` only subdomains); an entry may carry
    ``:port``.

* **Debug**: :class:`LoggingTransport` writes one ``-->``/``<--`` line per
  exchange plus the headers, with ``Authorization``/cookies redacted and
  query values hidden (``imgpkg_pure.registry_wire``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from typing import Final, final

import httpx
from attrs import frozen
from returns.io import IOFailure, IOResult, IOSuccess

from imgpkg_pure.http_dump import (
    MAX_SHOWN_BODY,
    dump_failure,
    dump_request,
    dump_response,
    shown_body,
)
from imgpkg_pure.store.registry._wire import WireTransport
from imgpkg_pure.store.registry.errors import CaCertFailure
from imgpkg_pure.store.registry.options import RegistryOptions

__all__ = [
    "MAX_REDIRECTS",
    "READ_SIZE",
    "LoggingTransport",
    "ProxyRules",
    "RoutingTransport",
    "build_ssl_context",
    "build_transport",
    "describe_transport_error",
    "raise_read_size",
]

#: Redirects followed for one GET or HEAD (Go's http.Client's limit).
MAX_REDIRECTS: Final = 10
#: httpcore's per-``recv`` read size once :func:`raise_read_size` ran.
READ_SIZE: Final = 1 << 20
#: How long an idle connection is kept for the next request.
KEEPALIVE_SECONDS: Final = 90.0


def raise_read_size() -> None:
    """Make httpcore read up to 1 MiB per ``recv`` (its default is 64 KiB)."""
    import httpcore  # noqa: PLC0415 (only the proxies WireTransport does not speak)

    connection = httpcore._sync.http11.HTTP11Connection
    if getattr(connection, "READ_NUM_BYTES", READ_SIZE) < READ_SIZE:
        connection.READ_NUM_BYTES = READ_SIZE


# --- TLS ------------------------------------------------------------------------------------


class _AheadContext:
    """One system-trust context, made on a thread from the moment this module is imported.

    Loading the system CA store takes 20-40 ms here, mostly with the GIL released, and
    a command creates its client only after importing the rest of itself: made ahead,
    the store loads while those imports run.  The first :func:`build_ssl_context` takes
    it (each context is its caller's to change); later ones make their own.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._context: ssl.SSLContext | None = None
        self._taken = False
        self._paths = self._verify_paths()
        self._thread = threading.Thread(target=self._make, name="tls-trust", daemon=True)
        self._thread.start()

    @staticmethod
    def _verify_paths() -> tuple[str | None, str | None]:
        """What OpenSSL reads the system store from (a change after import is honoured)."""
        return os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")

    def _make(self) -> None:
        with contextlib.suppress(ssl.SSLError, OSError):
            self._context = ssl.create_default_context()

    def take(self) -> ssl.SSLContext:
        with self._lock:
            if not self._taken:
                self._taken = True
                self._thread.join()
                if self._context is not None and self._paths == self._verify_paths():
                    return self._context
        return ssl.create_default_context()


_AHEAD: Final = _AheadContext()


def build_ssl_context(options: RegistryOptions) -> IOResult[ssl.SSLContext, CaCertFailure]:
    """System trust plus ``options.ca_cert_paths``; no verification if ``verify_certs`` is off."""
    context = _AHEAD.take()
    if not options.verify_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return IOSuccess(context)
    if context.cert_store_stats().get("x509_ca", 0) == 0:
        import certifi  # noqa: PLC0415 (httpx's dependency: when the system has no CAs)

        context.load_verify_locations(cafile=certifi.where())
    for path in options.ca_cert_paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                pem = handle.read()
        except OSError as error:
            reason = f"open {path}: {(error.strerror or str(error)).lower()}"
            return IOFailure(CaCertFailure(path=path, stage="Reading", reason=reason))
        if "-----BEGIN CERTIFICATE-----" not in pem:
            return IOFailure(CaCertFailure(path=path, stage="Adding", reason="failed"))
        try:
            context.load_verify_locations(cadata=pem)
        except (ssl.SSLError, ValueError):
            return IOFailure(CaCertFailure(path=path, stage="Adding", reason="failed"))
    return IOSuccess(context)


# --- proxies --------------------------------------------------------------------------------


def _env_any(environ: Mapping[str, str], *names: str) -> str:
    for name in names:
        value = environ.get(name, "")
        if value:
            return value
    return ""


def _proxy_url(value: str) -> str | None:
    if not value:
        return None
    return value if "://" in value else f"http://{value}"


@frozen
class _IpRule:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    port: str


@frozen
class _DomainRule:
    suffix: str  # always starts with "."
    match_host: bool
    port: str


def _split_port(entry: str) -> tuple[str, str]:
    if entry.startswith("["):
        close = entry.find("]")
        if close > 0 and entry[close + 1 : close + 2] == ":":
            return entry[1:close], entry[close + 2 :]
        return entry.strip("[]"), ""
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return host, port
    return entry, ""


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


@final
@frozen(kw_only=True)
class ProxyRules:
    """Go ``httpproxy.Config`` semantics over an environment mapping (see the module doc)."""

    http_proxy: str | None = None
    https_proxy: str | None = None
    everything_direct: bool = False
    ip_rules: tuple[_IpRule, ...] = ()
    domain_rules: tuple[_DomainRule, ...] = ()

    @staticmethod
    def from_environ(environ: Mapping[str, str]) -> ProxyRules:
        no_proxy = _env_any(environ, "NO_PROXY", "no_proxy")
        ip_rules: list[_IpRule] = []
        domain_rules: list[_DomainRule] = []
        everything_direct = False
        for raw in no_proxy.split(","):
            entry = raw.strip().lower()
            if not entry:
                continue
            if entry == "*":
                everything_direct = True
                break
            if "/" in entry:
                with contextlib.suppress(ValueError):
                    ip_rules.append(_IpRule(ipaddress.ip_network(entry, strict=False), ""))
                continue
            host, port = _split_port(entry)
            address = _ip(host)
            if address is not None:
                ip_rules.append(_IpRule(ipaddress.ip_network(address), port))
                continue
            if not host:
                continue
            if host.startswith("*."):
                host = host[1:]
            match_host = not host.startswith(".")
            suffix = host if host.startswith(".") else "." + host
            domain_rules.append(_DomainRule(suffix, match_host, port))
        return ProxyRules(
            http_proxy=_proxy_url(_env_any(environ, "HTTP_PROXY", "http_proxy")),
            https_proxy=_proxy_url(_env_any(environ, "HTTPS_PROXY", "https_proxy")),
            everything_direct=everything_direct,
            ip_rules=tuple(ip_rules),
            domain_rules=tuple(domain_rules),
        )

    def proxy_for(self, url: httpx.URL) -> str | None:
        """The proxy URL for a request to ``url``, or None to connect directly."""
        proxy = self.https_proxy if url.scheme == "https" else self.http_proxy
        if proxy is None or self.everything_direct:
            return None
        host = url.host.lower()
        port = str(url.port or (443 if url.scheme == "https" else 80))
        if host == "localhost":
            return None
        address = _ip(host)
        if address is not None:
            if address.is_loopback:
                return None
            for rule in self.ip_rules:
                if address in rule.network and rule.port in ("", port):
                    return None
        for domain in self.domain_rules:
            if (
                host.endswith(domain.suffix) or (domain.match_host and host == domain.suffix[1:])
            ) and domain.port in ("", port):
                return None
        return proxy


# --- transports -----------------------------------------------------------------------------


class RoutingTransport(httpx.BaseTransport):
    """Sends each request directly or through the proxy :class:`ProxyRules` picks."""

    def __init__(
        self, rules: ProxyRules, make: Callable[[str | None], httpx.BaseTransport]
    ) -> None:
        self._rules = rules
        self._direct = make(None)
        self._proxied: dict[str, httpx.BaseTransport] = {}
        for proxy in (rules.http_proxy, rules.https_proxy):
            if proxy is not None and proxy not in self._proxied:
                self._proxied[proxy] = make(proxy)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        proxy = self._rules.proxy_for(request.url)
        transport = self._direct if proxy is None else self._proxied[proxy]
        return transport.handle_request(request)

    def close(self) -> None:
        self._direct.close()
        for transport in self._proxied.values():
            transport.close()


class LoggingTransport(httpx.BaseTransport):
    """Logs each exchange as imgpkg's ``--debug`` does (``imgpkg_pure.http_dump``): the
    request and the response with their headers, small JSON bodies, secrets redacted."""

    def __init__(self, inner: httpx.BaseTransport, write: Callable[[str], None]) -> None:
        self._inner = inner
        self._write = write

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        try:
            sent: bytes | None = request.content
        except httpx.RequestNotRead:
            sent = None
        content_type = request.headers.get("content-type", "")
        body = shown_body(content_type, sent)
        if sent is None and request.headers.get("content-length") not in (None, "0"):
            body = "[streamed body not shown]"
        self._write(dump_request(request.method, url, request.headers.multi_items(), body))
        started = time.monotonic()
        try:
            response = self._inner.handle_request(request)
        except httpx.TransportError as error:
            elapsed = time.monotonic() - started
            self._write(dump_failure(url, elapsed, describe_transport_error(error)[0]))
            raise
        elapsed = time.monotonic() - started
        answer, shown = _small_json(response, request)
        self._write(
            dump_response(answer.status_code, url, elapsed, answer.headers.multi_items(), shown)
        )
        return answer

    def close(self) -> None:
        self._inner.close()


def _small_json(
    response: httpx.Response, request: httpx.Request
) -> tuple[httpx.Response, str | None]:
    """A small JSON answer read (and replayed to the caller) so the log can show it."""
    length = response.headers.get("content-length", "")
    content_type = response.headers.get("content-type", "")
    small = length.isdigit() and 0 < int(length) <= MAX_SHOWN_BODY
    if request.method == "HEAD" or not (small and "json" in content_type):
        return response, None if length in ("", "0") else f"[{length} bytes not shown]"
    data = response.read()
    response.close()
    replay = httpx.Response(
        response.status_code,
        headers=response.headers,
        stream=httpx.ByteStream(data),  # unread: the caller streams it as it would the original
        extensions=response.extensions,
        request=request,
    )
    return replay, shown_body(content_type, data)


def build_transport(
    environ: Mapping[str, str],
    context: ssl.SSLContext,
    write_debug: Callable[[str], None] | None,
) -> httpx.BaseTransport:
    """The transport stack: proxy routing over HTTP/1.1 pools, logging on top when debugging.

    Direct and ``http://``-proxied routes use :class:`WireTransport` (pooled sockets,
    framing of its own; ``docs/benchmarks.md`` says why); a proxy of another scheme
    (``https://``, ``socks5://``) goes through httpx's own transport.
    """

    def make(proxy: str | None) -> httpx.BaseTransport:
        if proxy is None or proxy.lower().startswith("http://"):
            return WireTransport(context, proxy, keepalive_expiry=KEEPALIVE_SECONDS)
        raise_read_size()
        limits = httpx.Limits(
            max_connections=100, max_keepalive_connections=100, keepalive_expiry=KEEPALIVE_SECONDS
        )
        return httpx.HTTPTransport(
            verify=context,
            http1=True,
            http2=False,
            limits=limits,
            proxy=proxy,
            trust_env=False,
            retries=0,
        )

    transport: httpx.BaseTransport = RoutingTransport(ProxyRules.from_environ(environ), make)
    if write_debug is not None:
        transport = LoggingTransport(transport, write_debug)
    return transport


# --- transport errors -----------------------------------------------------------------------

_CA_HINT: Final = (
    "add the registry's CA with --registry-ca-cert-path "
    "(or, unsafely, --registry-verify-certs=false)"
)


def describe_transport_error(
    error: httpx.TransportError | httpx.TooManyRedirects,
) -> tuple[str, bool]:
    """A one-line reason for an httpx transport error and whether it is worth retrying."""
    text = str(error) or type(error).__name__
    lowered = text.lower()
    if isinstance(error, httpx.TooManyRedirects):
        return f"more than {MAX_REDIRECTS} redirects (the server redirects in a loop)", False
    if "certificate_verify_failed" in lowered or "certificate verify failed" in lowered:
        detail = text.split("certificate verify failed:", 1)[-1].split("(_ssl")[0].strip()
        return f"TLS certificate verification failed ({detail}); {_CA_HINT}", False
    if isinstance(error, httpx.ProxyError):
        return f"proxy error: {text}", True
    if isinstance(error, httpx.ConnectTimeout):
        return f"timed out connecting ({text})", True
    if isinstance(error, httpx.ReadTimeout):
        return (
            "timeout awaiting response headers or data (see --registry-response-header-timeout)",
            True,
        )
    if isinstance(error, httpx.WriteTimeout):
        return "timed out sending the request body", True
    if isinstance(error, httpx.PoolTimeout):
        return "timed out waiting for a free connection", True
    if isinstance(error, httpx.ConnectError):
        if "connection refused" in lowered:
            return "connection refused", True
        if (
            "name or service not known" in lowered
            or "nodename nor servname" in lowered
            or "name resolution" in lowered
        ):
            return f"cannot resolve the host name ({text})", False
        if "ssl" in lowered or "tls" in lowered:
            return f"TLS handshake failed ({text})", False
        return text, True
    if isinstance(error, httpx.RemoteProtocolError):
        return f"the server broke the connection ({text})", True
    if isinstance(error, httpx.ReadError | httpx.WriteError):
        return f"connection error ({text})", True
    if isinstance(error, httpx.LocalProtocolError):
        return f"request could not be sent ({text})", False
    return text, False
