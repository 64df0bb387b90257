"""imgpkg_pure.extract: the decisions of ``pull``'s extraction, as data.

It owns what turning an image's layers into files *means*: which tar entries
are safe and what each one does (``classify_entry``), how layers combine
bottom-up with OCI whiteouts (``ExtractPlanner``, ``flatten_layers``), which
modes files and directories get (``ModeRule``), and which output directories
must never be replaced (``check_output_dir``).  The shell
(``imgpkg_pure.store.apply.extract``) streams the layers and executes the planned operations
inside a temporary directory.  Normative rules: ``docs/formats/extraction.md``.
"""

from imgpkg_pure.extract.entry import (
    EntryAction,
    HardLink,
    MakeDir,
    OpaqueDir,
    Skip,
    Whiteout,
    WriteFile,
    classify_entry,
    is_within,
    join_path,
    normalize_name,
    parent_path,
)
from imgpkg_pure.extract.errors import EntryError, UnsafeEntry, UnsafeOutput, UnsupportedEntry
from imgpkg_pure.extract.modes import ModeRule, dir_mode, file_mode, root_mode
from imgpkg_pure.extract.output import check_output_dir
from imgpkg_pure.extract.tree import (
    CreateDir,
    CreateFile,
    CreateHardLink,
    EntryRef,
    ExtractPlanner,
    FinalTree,
    NodeKind,
    Op,
    RemovePath,
    TreeNode,
    flatten_layers,
)

__all__ = [
    "CreateDir",
    "CreateFile",
    "CreateHardLink",
    "EntryAction",
    "EntryError",
    "EntryRef",
    "ExtractPlanner",
    "FinalTree",
    "HardLink",
    "MakeDir",
    "ModeRule",
    "NodeKind",
    "OpaqueDir",
    "Op",
    "RemovePath",
    "Skip",
    "TreeNode",
    "UnsafeEntry",
    "UnsafeOutput",
    "UnsupportedEntry",
    "Whiteout",
    "WriteFile",
    "check_output_dir",
    "classify_entry",
    "dir_mode",
    "file_mode",
    "flatten_layers",
    "is_within",
    "join_path",
    "normalize_name",
    "parent_path",
    "root_mode",
]
