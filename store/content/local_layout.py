"""The OCI image layout on disk (image-spec ``image-layout.md``): its names, and setting one up.

It owns the file names of a layout (``oci-layout``, ``index.json``,
``blobs/``; the OCI archive transport writes and reads the same names) and
those the local store adds (``ingest/``, ``.lock``), and ``prepare_layout``,
which creates a layout in a missing or empty directory (``oci-layout`` last:
its presence says the layout is complete) or checks the one there, and refuses
anything else (``NotALayout``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Final

from imgpkg_pure.media_types import OCI_INDEX
from imgpkg_pure.oci import encode_index
from imgpkg_pure.store.content.errors import NotALayout
from imgpkg_pure.store.content.local_files import (
    StoreAbort,
    ensure_dir,
    exclusive,
    os_errors,
    read_file,
    write_file_atomically,
)

LAYOUT_FILE: Final = "oci-layout"
INDEX_FILE: Final = "index.json"
BLOBS_DIR: Final = "blobs"
INGEST_DIR: Final = "ingest"
LOCK_FILE: Final = ".lock"
LAYOUT_VERSION: Final = "1.0.0"
LAYOUT_BYTES: Final = b'{"imageLayoutVersion":"1.0.0"}'

#: Names a half-created layout of ours may hold before ``oci-layout`` is written.
_OWN_NAMES: Final = frozenset({BLOBS_DIR, INDEX_FILE, INGEST_DIR, LOCK_FILE})


def _check_layout_file(root: Path) -> None:
    raw = read_file(root / LAYOUT_FILE, "read")
    if raw is None:
        raise StoreAbort(NotALayout(path=str(root), reason=f"{LAYOUT_FILE} vanished"))
    try:
        version = json.loads(raw).get("imageLayoutVersion")
    except (ValueError, AttributeError):
        raise StoreAbort(
            NotALayout(path=str(root), reason=f"{LAYOUT_FILE} is not a JSON object")
        ) from None
    if version != LAYOUT_VERSION:
        raise StoreAbort(
            NotALayout(
                path=str(root),
                reason=f"unsupported imageLayoutVersion {version!r} (expected {LAYOUT_VERSION})",
            )
        )


def prepare_layout(root: Path) -> Path:
    """Create the layout at ``root``, or check the one there; refuse anything else."""
    if root.exists() and not root.is_dir():
        raise StoreAbort(NotALayout(path=str(root), reason="it exists and is not a directory"))
    with os_errors("create directory", root):
        root.mkdir(parents=True, exist_ok=True)
    with os_errors("list", root):
        entries = set(os.listdir(root))
    if LAYOUT_FILE not in entries and not entries <= _OWN_NAMES:
        shown = ", ".join(sorted(entries)[:5])
        raise StoreAbort(
            NotALayout(
                path=str(root),
                reason=f"the directory is not empty and has no {LAYOUT_FILE} file "
                f"(it holds {shown}{', …' if len(entries) > 5 else ''})",
            )
        )
    with exclusive(root / LOCK_FILE):
        if (root / LAYOUT_FILE).exists():
            _check_layout_file(root)
        ensure_dir(root / BLOBS_DIR / "sha256")
        ensure_dir(root / INGEST_DIR)
        if not (root / INDEX_FILE).exists():
            write_file_atomically(root / INDEX_FILE, encode_index((), OCI_INDEX), root / INGEST_DIR)
        if not (root / LAYOUT_FILE).exists():
            # Written last: its presence says the layout is complete.
            write_file_atomically(root / LAYOUT_FILE, LAYOUT_BYTES, root / INGEST_DIR)
    return root


__all__ = [
    "BLOBS_DIR",
    "INDEX_FILE",
    "INGEST_DIR",
    "LAYOUT_BYTES",
    "LAYOUT_FILE",
    "LAYOUT_VERSION",
    "LOCK_FILE",
    "prepare_layout",
]
