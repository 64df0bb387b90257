"""Golden vectors of imgpkg-reference §3.7: the diffIDs Go imgpkg's own tests assert.

The inputs are byte-exact copies of ``carvel-dev/imgpkg``'s test assets
(``tests/fixtures/golden/``); they are copied to a temporary directory and
chmod'ed to the modes each vector was made with.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from imgpkg_pure.layer import LayerOptions
from tests.unit.test_layer_support import FIXTURES, copy_with_modes, layer_diff_id, plan

GOLDEN = FIXTURES / "golden"

TAR_FOLDER_DEFAULT = "sha256:cd20800f66352a1a35b05907b76329c4c45d3c9470f9ebe1a37cbc7264c46784"
TAR_FOLDER_PRESERVED = "sha256:366e762d6ab6d7dd79d0fcba5348fb682cc89f3c211b7f30cf6cf2c5edb0982c"


def test_tar_folder_assets_are_byte_exact() -> None:
    folder = GOLDEN / "tar_folder"
    assert (folder / "level0" / "level1" / "more-text.txt").stat().st_size == 7417
    assert (folder / "text.txt").stat().st_size == 3199


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param(LayerOptions(), TAR_FOLDER_DEFAULT, id="default"),
        pytest.param(
            LayerOptions(preserve_permissions=True), TAR_FOLDER_PRESERVED, id="preserve-permissions"
        ),
    ],
)
def test_tar_folder(tmp_path: Path, options: LayerOptions, expected: str) -> None:
    tree = copy_with_modes(GOLDEN / "tar_folder", tmp_path / "tar_folder")
    assert layer_diff_id([tree], options) == (expected, 14848)
    assert plan([tree], options).log_lines == (
        "dir: .",
        "dir: level0",
        "dir: level0/level1",
        "file: level0/level1/more-text.txt",
        "file: text.txt",
    )
