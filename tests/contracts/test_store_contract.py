"""The blob store contract, run against ``LocalStore`` (on ``tmp_path``) and ``MemoryStore``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from imgpkg_pure.digest import Digest
from imgpkg_pure.store.content.local import LocalStore
from imgpkg_pure.store.content.memory import MemoryStore
from tests.contracts.store_contract import StoreCase, StoreContract, ok


def flip_first_byte(store: LocalStore, digest: Digest) -> None:
    """Damage a stored blob in place, as bit rot or a careless tool would."""
    path = store.blob_path(digest)
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        first = f.read(1)
        f.seek(0)
        f.write(bytes([first[0] ^ 0xFF]))
    os.chmod(path, 0o444)


def local_case(root: Path) -> StoreCase:
    store = ok(LocalStore.at(root))
    return StoreCase(
        name="LocalStore",
        store=store,
        large_blob_size=64 << 20,
        bounded_memory=True,
        corrupt=lambda digest: flip_first_byte(store, digest),
    )


def replace_content(store: MemoryStore, digest: Digest) -> None:
    """Damage a blob held in memory (only a test reaches inside like this)."""
    store._blobs[digest] = store._blobs[digest][::-1] + b"!"


def memory_case() -> StoreCase:
    store = MemoryStore()
    return StoreCase(
        name="MemoryStore",
        store=store,
        large_blob_size=4 << 20,
        bounded_memory=False,  # it holds blobs in memory by design
        corrupt=lambda digest: replace_content(store, digest),
    )


@pytest.fixture(params=["local", "memory"])
def case(request: pytest.FixtureRequest, tmp_path: Path) -> StoreCase:
    if request.param == "local":
        return local_case(tmp_path / "layout")
    return memory_case()


class TestStoreContract(StoreContract):
    """Every contract test, once per implementation."""
