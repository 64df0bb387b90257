"""imgpkg_pure.layer: the push layer recipe, byte-compatible with Go imgpkg.

It owns the meaning of ``imgpkg push``'s single layer: the observed input
trees (``InputTree``), the walk order, exclusions, duplicate and symlink
checks, the Go ``archive/tar`` header encoding (``encode_header``, reused for
``--to-tar``), and the ``.imgpkg`` bundle checks; and the rule that cuts that
layer into several for ``push --layering=auto`` (``split_recipe``).  The shell
(``imgpkg_pure.store.files.tree``) observes the inputs and streams file contents between the
headers planned here; nothing in this package touches the filesystem.
"""

from imgpkg_pure.layer.bundle_check import (
    IMAGES_LOCK_FILE,
    IMGPKG_DIR,
    BundleInputs,
    check_bundle_inputs,
    check_image_inputs,
    find_imgpkg_dirs,
    presents_as_bundle,
)
from imgpkg_pure.layer.errors import BundleDirInImage, DuplicatePaths, NotRegularFile, StatFailed
from imgpkg_pure.layer.gopath import go_base, go_clean, go_dir, go_join, walked_path
from imgpkg_pure.layer.layering import (
    DEFAULT_TARGET,
    LAYERING_MODES,
    Layering,
    LayeringRule,
    bundle_lock_layer,
    layer_recipes,
    split_recipe,
)
from imgpkg_pure.layer.recipe import (
    LayerRecipe,
    TarMember,
    duplicate_paths,
    plan_layer,
    tar_size,
    walk_order,
)
from imgpkg_pure.layer.tar_header import (
    BLOCK_SIZE,
    END_OF_ARCHIVE,
    TYPE_DIR,
    TYPE_REG,
    TarFormat,
    encode_header,
    go_file_mode,
    header_format,
    padded_size,
    padding,
    split_ustar_path,
)
from imgpkg_pure.layer.tree import EntryKind, FileEntry, InputTree, LayerOptions

__all__ = [
    "BLOCK_SIZE",
    "DEFAULT_TARGET",
    "END_OF_ARCHIVE",
    "IMAGES_LOCK_FILE",
    "IMGPKG_DIR",
    "LAYERING_MODES",
    "TYPE_DIR",
    "TYPE_REG",
    "BundleDirInImage",
    "BundleInputs",
    "DuplicatePaths",
    "EntryKind",
    "FileEntry",
    "InputTree",
    "LayerOptions",
    "LayerRecipe",
    "Layering",
    "LayeringRule",
    "NotRegularFile",
    "StatFailed",
    "TarFormat",
    "TarMember",
    "bundle_lock_layer",
    "check_bundle_inputs",
    "check_image_inputs",
    "duplicate_paths",
    "encode_header",
    "find_imgpkg_dirs",
    "go_base",
    "go_clean",
    "go_dir",
    "go_file_mode",
    "go_join",
    "header_format",
    "layer_recipes",
    "padded_size",
    "padding",
    "plan_layer",
    "presents_as_bundle",
    "split_recipe",
    "split_ustar_path",
    "tar_size",
    "walk_order",
    "walked_path",
]
