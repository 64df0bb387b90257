"""``inventory``: what one place holds, as an inventory document (``docs/formats/inventory.md``).

parse (exactly one of ``--repo``, ``--tar``, ``--lock``) → observe the place
read-only (``inventories``: a registry repository's tags walked, a tarball's
``manifest.json`` and entries, a layout's roots, a lock file's images in their
registry) → the canonical bytes (``imgpkg_pure.inventory``) on stdout, or
written atomically to ``-o FILE``.  Run on the side that holds the content (an
air gap) and carry the file out: ``copy … --since FILE`` then leaves out what
it lists.
"""

from __future__ import annotations

from returns.io import IOFailure, IOResult
from returns.result import Failure
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.copy import ARCHIVE_PREFIX
from imgpkg_pure.inventory import Inventory, encode_inventory, inventory_digest
from imgpkg_pure.push import LAYOUT_PREFIX, UsageError
from imgpkg_pure.reference import parse_repository
from imgpkg_pure.store.commands.inventories import (
    inventory_of_layout,
    inventory_of_lock,
    inventory_of_repository,
    inventory_of_tarball,
)
from imgpkg_pure.store.commands.mirroring import open_client
from imgpkg_pure.store.commands.options import InventoryOptions
from imgpkg_pure.store.content.atomic import write_atomically
from imgpkg_pure.store.ui.console import Ui


def _observe(options: InventoryOptions, ui: Ui) -> IOResult[Inventory, object]:
    if options.tar:
        return inventory_of_tarball(options.tar).alt(lambda e: e)
    repo = options.repo or ""
    if repo.startswith((LAYOUT_PREFIX, ARCHIVE_PREFIX)):
        return inventory_of_layout(repo).alt(lambda e: e)
    opened = open_client(options.registry, options.cache, ui)
    if isinstance(opened, IOFailure):
        return IOFailure(unsafe_perform_io(opened.failure()))
    with unsafe_perform_io(opened.unwrap()) as client:
        if options.lock:
            return inventory_of_lock(options.lock, client, options.concurrency)
        parsed = parse_repository(repo)
        if isinstance(parsed, Failure):
            reason = f"--repo '{repo}': {parsed.failure().reason}"
            return IOFailure(UsageError(reason=reason))
        found = inventory_of_repository(client, parsed.unwrap(), options.concurrency)
        return found.alt(lambda e: e)


def run_inventory(options: InventoryOptions, ui: Ui) -> int:
    """The inventory command; returns the exit code."""
    given = [flag for flag, value in (("--repo", options.repo), ("--tar", options.tar),
                                      ("--lock", options.lock)) if value]  # fmt: skip
    if len(given) != 1:
        return ui.fail(UsageError(reason="Expected exactly one of --repo, --tar or --lock"))
    if options.concurrency < 1:
        reason = f"--concurrency must be at least 1, got {options.concurrency}"
        return ui.fail(UsageError(reason=reason))
    observed = _observe(options, ui)
    if isinstance(observed, IOFailure):
        return ui.fail(unsafe_perform_io(observed.failure()))
    inventory = unsafe_perform_io(observed.unwrap())
    data = encode_inventory(inventory)
    if options.output is None:
        ui.block(data.decode("ascii"))
        ui.succeeded()
        return 0
    written = write_atomically(options.output, data, new_mode=0o644)
    if isinstance(written, IOFailure):
        return ui.fail(unsafe_perform_io(written.failure()))
    ui.result(
        f"Wrote inventory '{options.output}' of {inventory.source}: {len(inventory.blobs)} blobs "
        f"({inventory.total_bytes} bytes), {len(inventory.manifests)} manifests "
        f"({inventory_digest(inventory)})"
    )
    ui.succeeded()
    return 0


__all__ = ["run_inventory"]
