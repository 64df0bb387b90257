"""Streams stay streams: pushing a big file does not hold it in memory."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from returns.unsafe import unsafe_perform_io

from imgpkg_pure.push import parse_push_request
from imgpkg_pure.store.commands.push import build_push_plan

SIZE = 96 * 1024 * 1024


def test_push_memory_does_not_grow_with_file_size(tmp_path: Path) -> None:
    big = tmp_path / "in" / "big.bin"
    big.parent.mkdir()
    with big.open("wb") as handle:  # a sparse file: cheap to make, 96 MiB to read
        handle.truncate(SIZE)
    request = parse_push_request(
        image=f"oci:{tmp_path}/out:v1",
        bundle=None,
        files=(str(big.parent),),
        exclusions=None,
        preserve_permissions=False,
        labels=(),
        lock_output=None,
    ).unwrap()
    tracemalloc.start()
    try:
        plan = unsafe_perform_io(build_push_plan(request).unwrap())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert plan.result is not None
    assert peak < 16 * 1024 * 1024, f"peak {peak} bytes while pushing a {SIZE}-byte file"
