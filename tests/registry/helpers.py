"""Shared helpers for the registry client tests: clean environments, unwrapping, blobs."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, TypeVar

from returns.io import IOResult
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.digest import Digest, digest_of
from imgpkg_pure.media_types import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST
from imgpkg_pure.oci import Descriptor
from imgpkg_pure.reference import Repository
from imgpkg_pure.store.registry import RegistryClient, RegistryOptions
from tests.registry_fixtures import RegistryServer

T = TypeVar("T")
E = TypeVar("E")

#: Every network call in these tests gives up after this many seconds.
TIMEOUT = 10.0


def clean_environ(home: Path, **extra: str) -> dict[str, str]:
    """An environment with nothing of the caller's: PATH, an empty HOME, and ``extra``."""
    home.mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(home)}
    env.update(extra)
    return env


def make_client(
    home: Path,
    options: RegistryOptions | None = None,
    environ: dict[str, str] | None = None,
    **kwargs: Any,
) -> RegistryClient:
    opts = options if options is not None else RegistryOptions()
    opts = RegistryOptions(
        ca_cert_paths=opts.ca_cert_paths,
        verify_certs=opts.verify_certs,
        insecure=opts.insecure,
        username=opts.username,
        password=opts.password,
        token=opts.token,
        anon=opts.anon,
        response_header_timeout=min(opts.response_header_timeout, TIMEOUT),
        retry_count=opts.retry_count,
        debug=opts.debug,
    )
    env = environ if environ is not None else clean_environ(home)
    sleep = kwargs.pop("sleep", lambda _s: None)
    jitter = kwargs.pop("jitter", lambda ceiling: ceiling)  # pauses at their ceilings: countable
    return RegistryClient(opts, environ=env, sleep=sleep, jitter=jitter, **kwargs)


def ok(result: IOResult[T, E]) -> T:
    """The success value; fails the test with the error's message otherwise."""
    if not is_successful(result):
        error = unsafe_perform_io(result.failure())
        raise AssertionError(f"expected success, got {error!r}: {getattr(error, 'message', '')}")
    return unsafe_perform_io(result.unwrap())


def err(result: IOResult[T, E]) -> E:
    """The failure value; fails the test if the operation succeeded."""
    if is_successful(result):
        raise AssertionError(f"expected a failure, got {unsafe_perform_io(result.unwrap())!r}")
    return unsafe_perform_io(result.failure())


def repository(server: RegistryServer, name: str, host: str | None = None) -> Repository:
    return Repository(registry=host or server.host, repository=name)


def blob(data: bytes, media_type: str = OCI_LAYER) -> Descriptor:
    return Descriptor(media_type=media_type, digest=digest_of(data), size=len(data))


def pattern_bytes(size: int, seed: int = 0) -> bytes:
    """Deterministic, incompressible-looking test content."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def chunks_of(data: bytes, size: int = 1 << 20) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


def tiny_manifest(config: Descriptor, layers: list[Descriptor]) -> bytes:
    """A canonical OCI manifest for the given config and layers."""

    def desc(d: Descriptor) -> dict[str, object]:
        return {"mediaType": d.media_type, "digest": str(d.digest), "size": d.size}

    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": desc(config),
        "layers": [desc(layer) for layer in layers],
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def push_image(
    client: RegistryClient, repo: Repository, tag: str, seed: int = 0
) -> tuple[bytes, Digest]:
    """Push a config, one layer and a manifest tagged ``tag``; the manifest bytes and digest."""
    config_bytes = json.dumps({"seed": seed, "architecture": "amd64", "os": "linux"}).encode()
    layer_bytes = pattern_bytes(1000 + seed, seed)
    config = blob(config_bytes, OCI_CONFIG)
    layer = blob(layer_bytes)
    ok(client.push_blob(repo, config, lambda: [config_bytes]))
    ok(client.push_blob(repo, layer, lambda: [layer_bytes]))
    raw = tiny_manifest(config, [layer])
    digest = ok(client.put_manifest(repo, tag, raw, OCI_MANIFEST))
    return raw, digest
