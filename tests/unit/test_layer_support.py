"""Helpers shared by the layer tests (no tests here): build layers from disk, copy trees.

Git keeps only 0644/0755, so every test that needs particular modes copies its
tree to a temporary directory and chmods it there.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from returns.unsafe import unsafe_perform_io

from imgpkg_pure.errors import InputError
from imgpkg_pure.layer import InputTree, LayerOptions, LayerRecipe, plan_layer
from imgpkg_pure.store.files.tree import observe_inputs, write_layer_tar

DEFAULT = LayerOptions()
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def observe(paths: Sequence[str | Path]) -> tuple[InputTree, ...]:
    """Observe inputs, failing the test on an error."""
    return unsafe_perform_io(observe_inputs([str(path) for path in paths]).unwrap())


def observe_error(paths: Sequence[str | Path]) -> InputError:
    """The error observing these inputs gives."""
    return unsafe_perform_io(observe_inputs([str(path) for path in paths]).failure())


def plan(paths: Sequence[str | Path], options: LayerOptions = DEFAULT) -> LayerRecipe:
    """Observe and plan, failing the test on an error."""
    return plan_layer(observe(paths), options).unwrap()


def build_tar(paths: Sequence[str | Path], options: LayerOptions = DEFAULT) -> bytes:
    """The whole layer tar for these inputs."""
    inputs = observe(paths)
    recipe = plan_layer(inputs, options).unwrap()
    out = bytearray()
    written = unsafe_perform_io(write_layer_tar(recipe, inputs, out.extend).unwrap())
    assert written == len(out)
    return bytes(out)


def layer_diff_id(
    paths: Sequence[str | Path], options: LayerOptions = DEFAULT
) -> tuple[str, int]:
    """``sha256:<hex>`` of the layer tar and its size, streamed (never held whole)."""
    inputs = observe(paths)
    recipe = plan_layer(inputs, options).unwrap()
    digest = hashlib.sha256()
    written = unsafe_perform_io(write_layer_tar(recipe, inputs, digest.update).unwrap())
    return f"sha256:{digest.hexdigest()}", written


def copy_with_modes(
    source: Path,
    target: Path,
    *,
    file_mode: Callable[[str], int] = lambda _rel: 0o644,
    dir_mode: int = 0o755,
) -> Path:
    """Copy ``source`` to ``target`` and chmod every entry (``file_mode`` gets the rel path)."""
    shutil.copytree(source, target)
    for root, _dirs, files in os.walk(target):
        os.chmod(root, dir_mode)
        for name in files:
            full = Path(root) / name
            os.chmod(full, file_mode(full.relative_to(target).as_posix()))
    return target
