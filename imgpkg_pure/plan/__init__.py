"""Plans: the steps apply will take, as data, and their file encoding."""

from imgpkg_pure.plan.planfile import FORMAT_VERSION, decode_plan, encode_plan, plan_digest
from imgpkg_pure.plan.steps import (
    ArchiveSource,
    BlobSource,
    LayoutSource,
    LayoutTarget,
    Plan,
    PutBlob,
    PutManifest,
    RegistrySource,
    RegistryTarget,
    Step,
    Tag,
    TarballSource,
    Target,
    WriteLockFile,
)

__all__ = [
    "FORMAT_VERSION",
    "ArchiveSource",
    "BlobSource",
    "LayoutSource",
    "LayoutTarget",
    "Plan",
    "PutBlob",
    "PutManifest",
    "RegistrySource",
    "RegistryTarget",
    "Step",
    "Tag",
    "Target",
    "TarballSource",
    "WriteLockFile",
    "decode_plan",
    "encode_plan",
    "plan_digest",
]
