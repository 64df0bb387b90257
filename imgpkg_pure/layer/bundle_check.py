"""The ``.imgpkg`` checks of ``push -b`` and ``push -i`` (imgpkg-reference §3.8, §1.2).

imgpkg walks every input (no exclusions, symlinks not followed) and collects
every entry whose basename is ``.imgpkg``, as an absolute path.  A bundle
push needs exactly one, a direct child of one of the inputs, with an
``images.yml`` inside.  An image push is refused when the inputs pass that
same test ("present as a bundle").  All paths are Go ``filepath.Abs`` values,
compared lexically.
"""

from __future__ import annotations

from attrs import frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.errors import InputError, NotABundle
from imgpkg_pure.layer.errors import BundleDirInImage
from imgpkg_pure.layer.gopath import abs_entry_path, go_dir, go_join
from imgpkg_pure.layer.recipe import walk_order
from imgpkg_pure.layer.tree import EntryKind, FileEntry, InputTree

IMGPKG_DIR = ".imgpkg"
IMAGES_LOCK_FILE = "images.yml"


@frozen(kw_only=True)
class BundleInputs:
    """Where the bundle's metadata is: absolute paths the shell can read.

    ``input_index`` is the first ``-f`` input whose absolute path is the
    parent of ``imgpkg_dir``.
    """

    imgpkg_dir: str
    images_yml: str
    input_index: int


def _entry_name(tree: InputTree, entry: FileEntry) -> str:
    if not tree.is_dir or entry.rel == ".":
        return tree.base_name
    return entry.rel.rsplit("/", 1)[-1]


def _entry_abs(tree: InputTree, entry: FileEntry) -> str:
    if not tree.is_dir:
        return tree.abs_path
    return abs_entry_path(tree.abs_path, entry.rel)


def find_imgpkg_dirs(inputs: tuple[InputTree, ...]) -> tuple[str, ...]:
    """Absolute paths of every entry named ``.imgpkg``, in ``-f`` then walk order.

    Files count too, and an input given twice is listed twice, as in imgpkg.
    """
    return tuple(
        _entry_abs(tree, entry)
        for tree in inputs
        for entry in walk_order(tree.entries)
        if _entry_name(tree, entry) == IMGPKG_DIR
    )


def _observed_kind(inputs: tuple[InputTree, ...], abs_path: str) -> EntryKind | None:
    for tree in inputs:
        for entry in tree.entries:
            if _entry_abs(tree, entry) == abs_path:
                return entry.kind
    return None


def _images_yml_exists(inputs: tuple[InputTree, ...], imgpkg_dir: str, images_yml: str) -> bool:
    # imgpkg asks os.Stat(images_yml) and only refuses "does not exist".  A
    # walked .imgpkg directory has all its children observed; when .imgpkg is
    # a file, stat fails with ENOTDIR, which imgpkg lets through (the tar
    # walk then reports a symlink as not a regular file).
    if _observed_kind(inputs, imgpkg_dir) is not EntryKind.DIR:
        return True
    return _observed_kind(inputs, images_yml) is not None


def check_bundle_inputs(inputs: tuple[InputTree, ...]) -> Result[BundleInputs, NotABundle]:
    """``push -b`` validation: one ``.imgpkg``, a direct child of an input, with ``images.yml``."""
    found = find_imgpkg_dirs(inputs)
    lock_path = go_join(IMGPKG_DIR, IMAGES_LOCK_FILE)
    if not found:
        return Failure(
            NotABundle(reason=f"This directory is not a bundle. It is missing {lock_path}")
        )
    if len(found) > 1:
        return Failure(
            NotABundle(
                reason="This directory contains multiple bundle definitions. "
                f"Only a single instance of {lock_path} can be provided and instead these "
                f"were provided {', '.join(found)}"
            )
        )
    imgpkg_dir = found[0]
    parent = go_dir(imgpkg_dir)
    for index, tree in enumerate(inputs):
        if tree.abs_path != parent:
            continue
        images_yml = go_join(imgpkg_dir, IMAGES_LOCK_FILE)
        if not _images_yml_exists(inputs, imgpkg_dir, images_yml):
            return Failure(
                NotABundle(
                    reason="The bundle expected .imgpkg/images.yml to exist, "
                    f"but it wasn't found in the path {images_yml}"
                )
            )
        return Success(
            BundleInputs(imgpkg_dir=imgpkg_dir, images_yml=images_yml, input_index=index)
        )
    given = ", ".join(tree.given for tree in inputs)
    return Failure(
        NotABundle(
            reason=f"Expected '{IMGPKG_DIR}' directory, to be a direct child of one of: "
            f"{given}; was {imgpkg_dir}"
        )
    )


def presents_as_bundle(inputs: tuple[InputTree, ...]) -> bool:
    """Whether the inputs pass the bundle check (imgpkg's ``PresentsAsBundle``)."""
    return check_bundle_inputs(inputs).value_or(None) is not None


def check_image_inputs(inputs: tuple[InputTree, ...]) -> Result[None, InputError]:
    """``push -i`` refuses inputs that present as a bundle; other ``.imgpkg`` dirs are allowed."""
    bundle = check_bundle_inputs(inputs).value_or(None)
    if bundle is None:
        return Success(None)
    return Failure(BundleDirInImage(path=bundle.imgpkg_dir, reason="inputs present as a bundle"))
