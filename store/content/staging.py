"""Where commands stage content: the local cache store and throw-away stores.

The cache store is an OCI image layout at ``$IMGPKG_PURE_CACHE`` (default
``$XDG_CACHE_HOME/imgpkg-pure/store``, else ``~/.cache/imgpkg-pure/store``);
plans written for later keep the blobs they staged there.  A temporary store
lives in a fresh directory and is removed with it; one that a killed run left
is removed by the next run (``leftovers``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from returns.io import IOResult
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.store.content.blobstore import BlobStore
from imgpkg_pure.store.content.errors import StoreError
from imgpkg_pure.store.content.leftovers import claim, release, sweep
from imgpkg_pure.store.content.local import LocalStore

__all__ = ["cache_root", "cache_store", "open_layout", "temporary_store"]


def cache_root(environ: dict[str, str] | None = None) -> Path:
    """Where the local cache store lives (see the module doc)."""
    env = dict(os.environ) if environ is None else environ
    if env.get("IMGPKG_PURE_CACHE"):
        return Path(env["IMGPKG_PURE_CACHE"])
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "imgpkg-pure" / "store"


def cache_store(root: Path | None = None) -> IOResult[BlobStore, StoreError]:
    """The local cache store at ``root`` (default :func:`cache_root`), created on first use."""
    root = cache_root() if root is None else root
    with contextlib.suppress(OSError):
        root.parent.mkdir(parents=True, exist_ok=True)
    return LocalStore.at(root)


def open_layout(path: str) -> IOResult[BlobStore, StoreError]:
    """Open the OCI image layout at ``path``, creating it when missing."""
    return LocalStore.at(Path(path))


STAGING_PREFIX = "imgpkg-pure-staging-"


@contextmanager
def temporary_store() -> Iterator[BlobStore]:
    """A local store in a temporary directory, removed on exit.

    The directory is held (``leftovers.claim``) while the run lives; staging
    directories that killed runs left in the temp dir are removed first.
    """
    temp = Path(tempfile.gettempdir())
    sweep(temp, STAGING_PREFIX)
    root, lock = claim(temp, STAGING_PREFIX)
    try:
        yield unsafe_perform_io(LocalStore.at(root / "store").unwrap())
    finally:
        shutil.rmtree(root, ignore_errors=True)
        release(lock)
