"""What each command is asked to do: one frozen value per command, and every flag, once.

Both front doors build these values: the CLI from the flags (``store.cli``
makes its click options from the declarations below), the Python API from its
callers (``store.api``).  A command is then one function ``run_X(options, ui)``.

Each field that a flag sets is declared with :func:`flag` (a boolean with
:func:`bool_flag`): its names, help text and kind sit next to the field, and
the field's default is the flag's default.  Two fields have no flag:
``registry`` (API callers give a ``RegistryOptions``; the CLI builds it from
:class:`RegistryFlags` with :meth:`RegistryFlags.options`) and ``plan_out``
(``plan X --out PLAN``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final, Literal, final

import attrs
from attrs import field, frozen

if TYPE_CHECKING:
    from returns.result import Result

    from imgpkg_pure.push import UsageError
    from imgpkg_pure.store.registry import RegistryOptions

# The imports below sit in function bodies: this module is read by ``--help``,
# ``version`` and shell completion, which must not pay for the registry client.

__all__ = [
    "ApplyOptions",
    "CacheFlags",
    "CopyOptions",
    "DescribeOptions",
    "Flag",
    "FlagKind",
    "GlobalFlags",
    "InventoryOptions",
    "PullOptions",
    "PushOptions",
    "RegistryFlags",
    "ShowOptions",
    "StoreExportOptions",
    "StoreGcOptions",
    "StoreImportOptions",
    "StoreListOptions",
    "StorePruneOptions",
    "StoreUsageOptions",
    "StoreVerifyOptions",
    "TagListOptions",
    "TagResolveOptions",
    "bool_flag",
    "declared_flags",
    "flag",
]

#: How a flag takes its value on the command line.
#:
#: * ``text``: ``--x VALUE``; ``texts``: the same, repeatable (a tuple);
#: * ``int``: ``--x N``; ``choice``: ``--x VALUE`` from :attr:`Flag.choices`;
#: * ``bool``: pflag's boolean: ``--x`` sets True, ``--x=V`` sets Go's ``ParseBool(V)``;
#: * ``argument``: a positional argument.
FlagKind = Literal["text", "texts", "int", "choice", "bool", "argument"]

_FLAG: Final = "imgpkg_pure.flag"


@final
@frozen(kw_only=True)
class Flag:
    """How the command line sets one option field.

    ``names`` are the spellings (``("-f", "--file")``; for an argument, its
    metavar); ``cli_default`` only where the CLI's default differs from the
    API's (``describe -o``: imgpkg prints text, programs want YAML);
    ``hidden`` keeps it out of ``--help``; ``deprecated`` is what cobra prints (on
    stdout) when a deprecated flag is used.
    """

    names: tuple[str, ...]
    help: str
    kind: FlagKind
    choices: tuple[str, ...] = ()
    cli_default: object = None
    hidden: bool = False
    deprecated: str | None = None


def flag(
    *names: str,
    help: str,
    kind: FlagKind = "text",
    default: Any = None,
    choices: tuple[str, ...] = (),
    cli_default: object = None,
    hidden: bool = False,
    deprecated: str | None = None,
    converter: Any = None,
) -> Any:
    """An attrs field that a flag sets (see :class:`Flag`)."""
    declared = Flag(
        names=names,
        help=help,
        kind=kind,
        choices=choices,
        cli_default=cli_default,
        hidden=hidden,
        deprecated=deprecated,
    )
    return field(default=default, converter=converter, metadata={_FLAG: declared})


def bool_flag(
    *names: str,
    help: str,
    default: bool = False,
    hidden: bool = False,
    deprecated: str | None = None,
) -> Any:
    """A field that a boolean flag sets (pflag's ``BoolVarP``): ``--x``, ``--x=false``."""
    return flag(
        *names, help=help, kind="bool", default=default, hidden=hidden, deprecated=deprecated
    )


def declared_flags(cls: type) -> Iterator[tuple[attrs.Attribute[Any], Flag]]:
    """The fields of an options class that a flag sets, with their flags, in order."""
    for attribute in attrs.fields(cls):
        declared = attribute.metadata.get(_FLAG)
        if isinstance(declared, Flag):
            yield attribute, declared


def _labels(values: tuple[object, ...]) -> tuple[str, ...]:
    """``-l key=value`` strings; the API may also give ``(key, value)`` pairs."""
    return tuple(v if isinstance(v, str) else "=".join(v) for v in values)  # type: ignore[arg-type]


# --- flags every command takes --------------------------------------------------------------


@final
@frozen(kw_only=True)
class GlobalFlags:
    """imgpkg's global flags, accepted on every command (cobra's persistent flags)."""

    yes: bool = bool_flag("-y", "--yes", help="Assume yes", hidden=True)
    debug: bool = bool_flag("--debug", help="Include debug output")
    json_mode: bool = bool_flag("--json", help="Output as JSON")
    tty: bool = bool_flag("--tty", help="Force TTY-like output")
    color: bool = bool_flag(
        "--color", help="Set color output (accepted; output has no colours)", default=True
    )
    column: tuple[str, ...] = flag(
        "--column", help="Filter table columns by header name or key", kind="texts", default=()
    )


@final
@frozen(kw_only=True)
class RegistryFlags:
    """imgpkg's registry flags (reference §1.1.4), on every command that talks to registries."""

    registry_ca_cert_paths: tuple[str, ...] = flag(
        "--registry-ca-cert-path",
        help="Add CA certificates for registry API (format: /tmp/foo) (can be specified "
        "multiple times)",
        kind="texts",
        default=(),
    )
    registry_verify_certs: bool = bool_flag(
        "--registry-verify-certs", help="Set whether to verify server's certificate", default=True
    )
    registry_insecure: bool = bool_flag(
        "--registry-insecure", help="Allow the use of http when interacting with registries"
    )
    registry_username: str = flag(
        "--registry-username", help="Set username for auth ($IMGPKG_USERNAME)", default=""
    )
    registry_password: str = flag(
        "--registry-password", help="Set password for auth ($IMGPKG_PASSWORD)", default=""
    )
    registry_token: str = flag(
        "--registry-token", help="Set token for auth ($IMGPKG_TOKEN)", default=""
    )
    registry_anon: bool = bool_flag("--registry-anon", help="Set anonymous auth ($IMGPKG_ANON)")
    registry_response_header_timeout: str = flag(
        "--registry-response-header-timeout",
        help="Maximum time to allow a request to wait for a server's response headers "
        "from the registry (ms|s|m|h)",
        default="30s",
    )
    registry_retry_count: int = flag(
        "--registry-retry-count",
        help="Set the number of times imgpkg retries to send requests to the registry "
        "in case of an error",
        kind="int",
        default=5,
    )

    def options(self, *, debug: bool) -> Result[RegistryOptions, UsageError]:
        """The flag values as options; env fallbacks are applied later, by the keychain."""
        from imgpkg_pure.duration import parse_go_duration
        from imgpkg_pure.store.registry import RegistryOptions

        timeout = parse_go_duration(
            self.registry_response_header_timeout, "--registry-response-header-timeout"
        )
        return timeout.map(
            lambda seconds: RegistryOptions(
                ca_cert_paths=tuple(
                    path
                    for value in self.registry_ca_cert_paths
                    for path in value.split(",")
                    if path
                ),
                verify_certs=self.registry_verify_certs,
                insecure=self.registry_insecure,
                username=self.registry_username,
                password=self.registry_password,
                token=self.registry_token,
                anon=self.registry_anon,
                response_header_timeout=seconds,
                retry_count=self.registry_retry_count,
                debug=debug,
            )
        )


def _no_registry_flags() -> RegistryOptions:
    """What the registry flags say when none is given."""
    from imgpkg_pure.store.registry import RegistryOptions

    return RegistryOptions()


@final
@frozen(kw_only=True)
class CacheFlags:
    """The local store every command reads through and writes through (``docs/cache.md``),
    on every command that reads or writes content."""

    cache_dir: str | None = flag(
        "--cache",
        help="Local store directory (default $IMGPKG_PURE_CACHE, else "
        "$XDG_CACHE_HOME/imgpkg-pure/store)",
    )
    no_cache: bool = bool_flag(
        "--no-cache",
        help="Use no local store: read everything from its source, keep nothing "
        "($IMGPKG_PURE_NO_CACHE=1)",
    )
    cache_max_size: str | None = flag(
        "--cache-max-size",
        help="After the command, evict least recently used content until the local store "
        "holds at most SIZE (e.g. 10GiB; default $IMGPKG_PURE_CACHE_MAX_SIZE, else 4GiB)",
    )


def _offline() -> Any:
    return bool_flag(
        "--offline",
        help="Read only from the local store: digest references always, tags as last "
        "resolved (no registry is contacted)",
    )


def _platforms(help_text: str) -> Any:
    return flag("--platform", help=help_text, kind="texts", default=())


_CONCURRENCY_HELP: Final = "Concurrency"
_LOCK_OUTPUT_HELP: Final = "Location to output the generated lock file"


def _dry_run(help_text: str) -> Any:
    return bool_flag("--dry-run", help=help_text)


# --- the commands ---------------------------------------------------------------------------


@final
@frozen(kw_only=True)
class PushOptions:
    """``push``: exactly one of ``image`` and ``bundle`` (a registry reference or
    ``oci:DIR[:TAG]``), the files, and imgpkg's push flags."""

    image: str | None = flag("-i", "--image", help="Set image reference (oci:PATH[:TAG])")
    bundle: str | None = flag("-b", "--bundle", help="Set bundle reference (oci:PATH[:TAG])")
    files: tuple[str, ...] = flag(
        "-f", "--file", help="Set file (format: /tmp/foo, -)", kind="texts", default=()
    )
    file_exclusions: tuple[str, ...] | None = flag(
        "--file-exclusion",
        help="Exclude file whose path, relative to the bundle root, matches (format: "
        "--file-exclusion dir1/file.yml, default .git)",
        kind="texts",
    )
    file_exclude_defaults: tuple[str, ...] = flag(
        "--file-exclude-defaults",
        help="Deprecated: use --file-exclusion",
        kind="texts",
        default=(),
        hidden=True,
        deprecated="use '--file-exclusion' instead",
    )
    preserve_permissions: bool = bool_flag(
        "--preserve-permissions", help="Preserve group and other permissions"
    )
    labels: tuple[str, ...] = flag(
        "-l",
        "--labels",
        help="Set labels on image (key=value)",
        kind="texts",
        default=(),
        converter=_labels,
    )
    lock_output: str | None = flag("--lock-output", help=_LOCK_OUTPUT_HELP)
    media_types: str | None = flag(
        "--media-types",
        help="Media types of the pushed manifest, config and layer (default: oci for an OCI "
        "layout, which skopeo and other OCI readers require; docker as imgpkg pushes to "
        "registries)",
        kind="choice",
        choices=("oci", "docker"),
    )
    layering: str = flag(
        "--layering",
        help="How the files become layers: single (one layer, as imgpkg) or auto (several, "
        "cut by a stable rule over the paths, so a changed file re-uploads only its layer)",
        kind="choice",
        choices=("single", "auto"),
        default="single",
    )
    dry_run: bool = _dry_run("Print what would be pushed; change nothing")
    plan_out: str | None = None
    registry: RegistryOptions = field(factory=_no_registry_flags)
    cache: CacheFlags = field(factory=CacheFlags)


@final
@frozen(kw_only=True)
class PullOptions:
    """``pull``: one of ``image``, ``bundle``, ``lock``; the output directory."""

    image: str | None = flag("-i", "--image", help="Set image reference")
    bundle: str | None = flag("-b", "--bundle", help="Set bundle reference")
    lock: str | None = flag("--lock", help="Path to BundleLock file")
    output: str | None = flag("-o", "--output", help="Set output path")
    recursive: bool = bool_flag("-r", "--recursive", help="Pull nested bundles too")
    image_is_bundle_check: bool = bool_flag(
        "--image-is-bundle-check",
        help="Error when image is a bundle (disable to pull a bundle's contents as a plain image)",
        default=True,
    )
    platforms: tuple[str, ...] = _platforms(
        "With -i of an index, the platform to extract (os/arch[/variant]; default: this machine's)"
    )
    offline: bool = _offline()
    dry_run: bool = _dry_run("Print what would be pulled; write nothing")
    plan_out: str | None = None
    registry: RegistryOptions = field(factory=_no_registry_flags)
    cache: CacheFlags = field(factory=CacheFlags)


@final
@frozen(kw_only=True)
class CopyOptions:
    """``copy``: one source (``bundle``, ``image``, ``lock``, ``tar``) and one
    destination (``to_repo``, ``to_tar``), with imgpkg's copy flags."""

    bundle: str | None = flag("-b", "--bundle", help="Set bundle reference")
    image: str | None = flag("-i", "--image", help="Set image reference")
    lock: str | None = flag("--lock", help="BundleLock or ImagesLock of the images to copy")
    tar: str | None = flag("--tar", help="Tarball to copy from")
    to_repo: str | None = flag("--to-repo", help="Location to upload assets")
    to_tar: str | None = flag("--to-tar", help="Location to write a tar file containing assets")
    lock_output: str | None = flag("--lock-output", help=_LOCK_OUTPUT_HELP)
    concurrency: int = flag("--concurrency", help=_CONCURRENCY_HELP, kind="int", default=5)
    include_non_distributable_layers: bool = bool_flag(
        "--include-non-distributable-layers",
        help="Include non-distributable layers when copying an image/bundle",
    )
    repo_based_tags: bool = bool_flag(
        "--repo-based-tags",
        help="Tag copied images with <repo-path>-sha256-<hex>.imgpkg instead of "
        "sha256-<hex>.imgpkg",
    )
    cosign_signatures: bool = bool_flag(
        "--cosign-signatures", help="Find and copy cosign signatures"
    )
    resume: bool = bool_flag("--resume", help="Resume a copy to a tarball")
    referrers: bool = bool_flag(
        "--referrers",
        help="Also copy every artefact whose subject is a copied image or bundle (signatures, "
        "SBOMs, attestations), recursively: OCI 1.1 referrers API, else the referrers tag schema",
    )
    platforms: tuple[str, ...] = _platforms(
        "Copy only the children of indexes for this platform (os/arch[/variant]; repeatable)"
    )
    since: str | None = flag(
        "--since",
        help="Write a delta: leave out the layers X holds (X: an inventory file, an imgpkg "
        "tarball, oci:DIR or oci-archive:FILE); for --to-tar and --to-repo oci:/oci-archive:",
    )
    offline: bool = _offline()
    dry_run: bool = _dry_run("Print what would be copied; change nothing")
    plan_out: str | None = None
    registry: RegistryOptions = field(factory=_no_registry_flags)
    cache: CacheFlags = field(factory=CacheFlags)


@final
@frozen(kw_only=True)
class InventoryOptions:
    """``inventory``: exactly one place (``repo``, ``tar``, ``lock``) whose holdings to list."""

    repo: str | None = flag(
        "--repo",
        help="Repository to list: REG/REPO (every tag walked), oci:DIR or oci-archive:FILE",
    )
    tar: str | None = flag("--tar", help="imgpkg tarball to list")
    lock: str | None = flag(
        "--lock", help="BundleLock or ImagesLock whose images to list (read from their registry)"
    )
    output: str | None = flag(
        "-o", "--output", help="Write the inventory to this file (default: stdout)"
    )
    concurrency: int = flag("--concurrency", help=_CONCURRENCY_HELP, kind="int", default=5)
    registry: RegistryOptions = field(factory=_no_registry_flags)
    cache: CacheFlags = field(factory=CacheFlags)


@final
@frozen(kw_only=True)
class TagListOptions:
    """``tag list``: a repository (``image``), optionally with digests and internal tags."""

    image: str | None = flag(
        "-i", "--image", help="Set image (any reference; its repository is used)"
    )
    digests: bool = bool_flag("--digests", help="Include digests")
    imgpkg_internal_tags: bool = bool_flag(
        "--imgpkg-internal-tags",
        help="Include internal tags: imgpkg's (sha256-<hex>.imgpkg) and the referrers tag "
        "schema's (sha256-<hex>)",
    )
    registry: RegistryOptions = field(factory=_no_registry_flags)
    cache: CacheFlags = field(factory=CacheFlags)


@final
@frozen(kw_only=True)
class TagResolveOptions:
    """``tag resolve``: a tag (no tag means ``latest``) or digest reference."""

    image: str | None = flag("-i", "--image", help="Set image (no tag means latest)")
    registry: RegistryOptions = field(factory=_no_registry_flags)
    cache: CacheFlags = field(factory=CacheFlags)


@final
@frozen(kw_only=True)
class DescribeOptions:
    """``describe``: a bundle; YAML (the API's default) or text (the CLI's); what to include."""

    bundle: str | None = flag("-b", "--bundle", help="Set bundle reference")
    concurrency: int = flag("--concurrency", help=_CONCURRENCY_HELP, kind="int", default=5)
    output_type: str = flag(
        "-o",
        "--output-type",
        help="Type of output possible values: [text, yaml]",
        default="yaml",
        cli_default="text",
    )
    layers: bool = bool_flag("--layers", help="Retrieve image layers info", default=True)
    cosign_artifacts: bool = bool_flag(
        "--cosign-artifacts", help="Retrieve cosign artifact information", default=True
    )
    show_annotations: bool = bool_flag(
        "--show-annotations",
        help="Include the images' annotations (=false to leave them out)",
        default=True,
    )
    referrers: bool = bool_flag(
        "--referrers",
        help="List each image's referrers (artifact type, digest, size), recursively",
    )
    offline: bool = _offline()
    registry: RegistryOptions = field(factory=_no_registry_flags)
    cache: CacheFlags = field(factory=CacheFlags)


@final
@frozen(kw_only=True)
class ShowOptions:
    """``show PLAN``."""

    plan_file: str = flag("PLAN", help="The plan file", kind="argument", default="")


@final
@frozen(kw_only=True)
class ApplyOptions:
    """``apply PLAN``."""

    plan_file: str = flag("PLAN", help="The plan file", kind="argument", default="")
    concurrency: int = flag("--concurrency", help=_CONCURRENCY_HELP, kind="int", default=5)
    registry: RegistryOptions = field(factory=_no_registry_flags)
    cache: CacheFlags = field(factory=CacheFlags)


# --- the local store (``imgpkg-pure store …``) ----------------------------------------------


def _store_dir() -> Any:
    return flag(
        "--cache",
        help="Local store directory (default $IMGPKG_PURE_CACHE, else "
        "$XDG_CACHE_HOME/imgpkg-pure/store)",
    )


@final
@frozen(kw_only=True)
class StoreListOptions:
    """``store ls``: the references the store recorded, with digests and sizes."""

    cache_dir: str | None = _store_dir()


@final
@frozen(kw_only=True)
class StoreUsageOptions:
    """``store du``: how much the store holds, and its traffic so far."""

    cache_dir: str | None = _store_dir()


@final
@frozen(kw_only=True)
class StoreVerifyOptions:
    """``store verify``: re-hash every blob; corrupt ones are removed (exit code 1)."""

    cache_dir: str | None = _store_dir()
    concurrency: int = flag(
        "--concurrency", help="Blobs hashed at once (default: one per CPU)", kind="int", default=0
    )


@final
@frozen(kw_only=True)
class StoreGcOptions:
    """``store gc``: drop every blob no recorded reference reaches."""

    cache_dir: str | None = _store_dir()


@final
@frozen(kw_only=True)
class StorePruneOptions:
    """``store prune``: evict least recently used content (recorded references last)."""

    cache_dir: str | None = _store_dir()
    max_size: str | None = flag(
        "--max-size", help="Evict until the store holds at most SIZE (e.g. 2GiB, 500MB)"
    )
    older_than: str | None = flag(
        "--older-than", help="Evict what was last used longer ago than DURATION (e.g. 30d, 12h)"
    )


@final
@frozen(kw_only=True)
class StoreExportOptions:
    """``store export REF``: a recorded bundle or image, from the store alone, to a tarball
    or an OCI layout (``copy --offline``)."""

    reference: str = flag("REF", help="The reference to export", kind="argument", default="")
    to_tar: str | None = flag("--to-tar", help="Location to write a tar file containing assets")
    to_repo: str | None = flag("--to-repo", help="OCI layout to write (oci:DIR[:TAG])")
    cache_dir: str | None = _store_dir()


@final
@frozen(kw_only=True)
class StoreImportOptions:
    """``store import FILE``: an imgpkg tarball or an OCI archive, into the store."""

    source: str = flag(
        "FILE",
        help="An imgpkg tarball (copy --to-tar) or an OCI archive (oci-archive:FILE)",
        kind="argument",
        default="",
    )
    cache_dir: str | None = _store_dir()
