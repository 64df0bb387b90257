"""The local store in front of every command's registry client (``docs/cache.md``).

Where the store is (``--cache DIR``, else ``$IMGPKG_PURE_CACHE``, else
``$XDG_CACHE_HOME/imgpkg-pure/store``, else ``~/.cache/imgpkg-pure/store``),
whether there is one (``--no-cache``, ``IMGPKG_PURE_NO_CACHE=1``), its bound
(``--cache-max-size``, ``$IMGPKG_PURE_CACHE_MAX_SIZE``, 4 GiB), and
:func:`open_client`, which every command that talks to registries uses: a
``RegistryClient`` that reads through and writes through the store
(``imgpkg_pure.store.registry.mirror``), closing it with itself.

A store that cannot be opened does not stop a command that can do without
it: the command says so on one line and goes on uncached.  ``--offline``
cannot do without it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure, Result, Success
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.cache_policy import DEFAULT_MAX_SIZE, parse_size
from imgpkg_pure.push import UsageError
from imgpkg_pure.store.commands.options import CacheFlags
from imgpkg_pure.store.content.errors import StoreError
from imgpkg_pure.store.content.mirror import StoreMirror
from imgpkg_pure.store.content.staging import cache_root
from imgpkg_pure.store.registry import RegistryClient, RegistryError, RegistryOptions
from imgpkg_pure.store.ui.console import Ui

__all__ = ["cache_disabled", "cache_location", "max_cache_size", "open_client", "open_mirror"]

ClientError = UsageError | RegistryError | StoreError


def cache_location(cache_dir: str | None, environ: Mapping[str, str] | None = None) -> Path:
    """The store's directory: ``--cache``, else the environment's (``staging.cache_root``)."""
    if cache_dir:
        return Path(cache_dir)
    return cache_root(dict(os.environ if environ is None else environ))


def cache_disabled(flags: CacheFlags, environ: Mapping[str, str] | None = None) -> bool:
    """``--no-cache``, or ``IMGPKG_PURE_NO_CACHE`` set to anything but ``0``/``false``/empty."""
    env = os.environ if environ is None else environ
    value = env.get("IMGPKG_PURE_NO_CACHE", "").strip().lower()
    return flags.no_cache or value not in ("", "0", "false", "no")


def max_cache_size(
    flags: CacheFlags, environ: Mapping[str, str] | None = None
) -> Result[int, UsageError]:
    """The bound: ``--cache-max-size``, else ``$IMGPKG_PURE_CACHE_MAX_SIZE``, else 4 GiB."""
    env = os.environ if environ is None else environ
    if flags.cache_max_size:
        return parse_size(flags.cache_max_size, "--cache-max-size")
    if env.get("IMGPKG_PURE_CACHE_MAX_SIZE"):
        return parse_size(env["IMGPKG_PURE_CACHE_MAX_SIZE"], "IMGPKG_PURE_CACHE_MAX_SIZE")
    return Success(DEFAULT_MAX_SIZE)


def open_mirror(
    flags: CacheFlags, ui: Ui, *, offline: bool = False
) -> IOResult[StoreMirror | None, ClientError]:
    """The run's mirror, or None when there is to be none (or, online, when the store cannot
    be opened: one warning line, and the command goes on without it)."""
    if cache_disabled(flags):
        if offline:
            return IOFailure(
                UsageError(reason="--offline reads from the local store: drop --no-cache")
            )
        return IOSuccess(None)
    bound = max_cache_size(flags)
    if isinstance(bound, Failure):
        return IOFailure(bound.failure())
    root = cache_location(flags.cache_dir)
    opened = StoreMirror.open(root, offline=offline, max_size=bound.unwrap(), note=ui.log)
    if isinstance(opened, IOFailure):
        error: StoreError = unsafe_perform_io(opened.failure())
        if offline:
            return IOFailure(error)
        ui.log(f"Warning: not using the local store: {error.message}")
        return IOSuccess(None)
    return IOSuccess(unsafe_perform_io(opened.unwrap()))


def open_client(
    registry: RegistryOptions, flags: CacheFlags, ui: Ui, *, offline: bool = False
) -> IOResult[RegistryClient, ClientError]:
    """A registry client with the local store in front (it closes the store with itself)."""
    mirror = open_mirror(flags, ui, offline=offline)
    if isinstance(mirror, IOFailure):
        return IOFailure(unsafe_perform_io(mirror.failure()))
    held = unsafe_perform_io(mirror.unwrap())
    opened = RegistryClient.open(registry, mirror=held)
    if isinstance(opened, IOFailure):
        if held is not None:
            held.close()
        return IOFailure(unsafe_perform_io(opened.failure()))
    return IOSuccess(unsafe_perform_io(opened.unwrap()))
