"""The ``imgpkg-pure`` command line: parse flags, run a command, print, exit.

This is the one module that leaves the ``IOResult`` world: it unwraps the
results of the shell's functions and turns every failure into one line on
stderr and exit code 1.  Flag mistakes are reported the same way, never as a
traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

import click

from imgpkg_pure.store.ui.console import Ui

F = TypeVar("F", bound=Callable[..., Any])

VERSION = "0.1.0"


def _global_options(func: F) -> F:
    """imgpkg's global flags, accepted on every command (as cobra's persistent flags)."""
    func = click.option("--tty", is_flag=True, help="Force TTY-like output")(func)
    func = click.option("--json", "json_mode", is_flag=True, help="Output as JSON")(func)
    func = click.option("--debug", is_flag=True, help="Include debug output")(func)
    return click.option("-y", "--yes", is_flag=True, hidden=True, help="Assume yes")(func)


def _bool_option(name: str, default: bool, help_text: str) -> Callable[[F], F]:
    """A boolean flag that also takes ``=true``/``=false``, as pflag's do."""
    return click.option(
        name, type=click.BOOL, is_flag=False, flag_value=True, default=default, help=help_text
    )


def _registry_options(func: F) -> F:
    """imgpkg's registry flags (§1.1.4), on every command that talks to registries."""
    options = [
        click.option(
            "--registry-ca-cert-path",
            "registry_ca_cert_paths",
            multiple=True,
            help="Add CA certificates for registry API (format: /tmp/foo) (can be specified "
            "multiple times)",
        ),
        _bool_option("--registry-verify-certs", True, "Set whether to verify server's certificate"),
        _bool_option(
            "--registry-insecure", False, "Allow the use of http when interacting with registries"
        ),
        click.option(
            "--registry-username", default="", help="Set username for auth ($IMGPKG_USERNAME)"
        ),
        click.option(
            "--registry-password", default="", help="Set password for auth ($IMGPKG_PASSWORD)"
        ),
        click.option("--registry-token", default="", help="Set token for auth ($IMGPKG_TOKEN)"),
        _bool_option("--registry-anon", False, "Set anonymous auth ($IMGPKG_ANON)"),
        click.option(
            "--registry-response-header-timeout",
            default="30s",
            help="Maximum time to allow a request to wait for a server's response headers "
            "from the registry (ms|s|m|h)",
        ),
        click.option(
            "--registry-retry-count",
            type=int,
            default=5,
            help="Set the number of times imgpkg retries to send requests to the registry "
            "in case of an error",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _make_ui(tty: bool, json_mode: bool) -> Ui:
    return Ui(tty=tty or sys.stdout.isatty(), json_mode=json_mode)


@click.group(
    context_settings={"help_option_names": ["-h", "--help"]},
    help="imgpkg-pure stores files and image references as OCI artifacts "
    "(a Python re-implementation of Carvel imgpkg).",
)
def cli() -> None:
    pass


@cli.command(help="Push files as image or bundle")
@click.option("-i", "--image", default=None, help="Set image reference (oci:PATH[:TAG])")
@click.option("-b", "--bundle", default=None, help="Set bundle reference (oci:PATH[:TAG])")
@click.option("-f", "--file", "files", multiple=True, help="Set file (format: /tmp/foo, -)")
@click.option(
    "--file-exclusion",
    "exclusions",
    multiple=True,
    default=None,
    help="Exclude file whose path, relative to the bundle root, matches (format: "
    "--file-exclusion dir1/file.yml, default .git)",
)
@click.option("--preserve-permissions", is_flag=True, help="Preserve group and other permissions")
@click.option("-l", "--labels", multiple=True, help="Set labels on image (key=value)")
@click.option("--lock-output", default=None, help="Location to output the generated lock file")
@click.option(
    "--media-types",
    type=click.Choice(["oci", "docker"]),
    default=None,
    help="Media types of the pushed manifest, config and layer (default: oci for an OCI "
    "layout, which skopeo and other OCI readers require; docker as imgpkg pushes to registries)",
)
@click.option("--dry-run", is_flag=True, help="Print what would be pushed; change nothing")
@_registry_options
@_global_options
def push(
    image: str | None,
    bundle: str | None,
    files: tuple[str, ...],
    exclusions: tuple[str, ...],
    preserve_permissions: bool,
    labels: tuple[str, ...],
    lock_output: str | None,
    media_types: str | None,
    dry_run: bool,
    tty: bool,
    json_mode: bool,
    debug: bool,
    yes: bool,
    plan_out: str | None = None,
    **registry: Any,
) -> int:
    from imgpkg_pure.store.commands.push import run_push
    from imgpkg_pure.store.commands.registry_flags import registry_options

    ui = _make_ui(tty, json_mode)
    return run_push(
        ui,
        registry=registry_options(debug=debug, **registry),
        image=image,
        bundle=bundle,
        files=files,
        exclusions=exclusions or None,
        preserve_permissions=preserve_permissions,
        labels=labels,
        lock_output=lock_output,
        media_types=media_types,
        plan_out=plan_out,
        dry_run=dry_run,
    )


@cli.command(help="Pull files from bundle, image, or bundle lock file")
@click.option("-i", "--image", default=None, help="Set image reference")
@click.option("-b", "--bundle", default=None, help="Set bundle reference")
@click.option("--lock", default=None, help="Path to BundleLock file")
@click.option("-o", "--output", default=None, help="Set output path")
@click.option("-r", "--recursive", is_flag=True, help="Pull nested bundles too")
@_bool_option(
    "--image-is-bundle-check",
    True,
    "Error when image is a bundle (disable to pull a bundle's contents as a plain image)",
)
@click.option("--dry-run", is_flag=True, help="Print what would be pulled; write nothing")
@_registry_options
@_global_options
def pull(
    image: str | None,
    bundle: str | None,
    lock: str | None,
    output: str | None,
    recursive: bool,
    image_is_bundle_check: bool,
    dry_run: bool,
    tty: bool,
    json_mode: bool,
    debug: bool,
    yes: bool,
    plan_out: str | None = None,
    **registry: Any,
) -> int:
    from imgpkg_pure.store.commands.pull import run_pull
    from imgpkg_pure.store.commands.registry_flags import registry_options

    ui = _make_ui(tty, json_mode)
    return run_pull(
        ui,
        registry=registry_options(debug=debug, **registry),
        image=image,
        bundle=bundle,
        lock=lock,
        output=output,
        recursive=recursive,
        image_is_bundle_check=image_is_bundle_check,
        dry_run=dry_run,
        plan_out=plan_out,
    )


@cli.command(help="Copy a bundle from one location to another")
@click.option("-b", "--bundle", default=None, help="Set bundle reference")
@click.option("-i", "--image", default=None, help="Set image reference")
@click.option("--lock", default=None, help="BundleLock or ImagesLock of the images to copy")
@click.option("--tar", default=None, help="Tarball to copy from")
@click.option("--to-repo", default=None, help="Location to upload assets")
@click.option("--to-tar", default=None, help="Location to write a tar file containing assets")
@click.option("--lock-output", default=None, help="Location to output the generated lock file")
@click.option("--concurrency", type=int, default=5, help="Concurrency")
@click.option(
    "--include-non-distributable-layers",
    is_flag=True,
    help="Include non-distributable layers when copying an image/bundle",
)
@click.option(
    "--repo-based-tags",
    is_flag=True,
    help="Tag copied images with <repo-path>-sha256-<hex>.imgpkg instead of sha256-<hex>.imgpkg",
)
@click.option("--cosign-signatures", is_flag=True, help="Find and copy cosign signatures")
@click.option("--resume", is_flag=True, help="Resume a copy to a tarball")
@click.option("--dry-run", is_flag=True, help="Print what would be copied; change nothing")
@_registry_options
@_global_options
def copy(
    bundle: str | None,
    image: str | None,
    lock: str | None,
    tar: str | None,
    to_repo: str | None,
    to_tar: str | None,
    lock_output: str | None,
    concurrency: int,
    include_non_distributable_layers: bool,
    repo_based_tags: bool,
    cosign_signatures: bool,
    resume: bool,
    dry_run: bool,
    tty: bool,
    json_mode: bool,
    debug: bool,
    yes: bool,
    plan_out: str | None = None,
    **registry: Any,
) -> int:
    from imgpkg_pure.store.commands.copy import run_copy
    from imgpkg_pure.store.commands.registry_flags import registry_options

    ui = _make_ui(tty, json_mode)
    return run_copy(
        ui,
        registry=registry_options(debug=debug, **registry),
        image=image,
        bundle=bundle,
        lock=lock,
        tar=tar,
        to_repo=to_repo,
        to_tar=to_tar,
        lock_output=lock_output,
        concurrency=concurrency,
        include_non_distributable=include_non_distributable_layers,
        repo_based_tags=repo_based_tags,
        resume=resume,
        cosign_signatures=cosign_signatures,
        plan_out=plan_out,
        dry_run=dry_run,
    )


@cli.group(help="Write what push, pull or copy would do to a plan file, changing nothing")
def plan() -> None:
    pass


def _planning(command: click.Command) -> click.Command:
    """``plan <command>``: the command's flags plus ``--out PLAN``; it writes the plan."""
    original = command.callback
    assert original is not None

    def callback(out: str, **flags: Any) -> int:
        flags["dry_run"] = False
        result: int = original(plan_out=out, **flags)
        return result

    params = [p for p in command.params if p.name != "dry_run"]
    params.append(click.Option(["--out"], required=True, help="Where to write the plan file"))
    return click.Command(
        command.name, params=params, callback=callback, help=f"Plan `{command.name}`"
    )


plan.add_command(_planning(push))
plan.add_command(_planning(pull))
plan.add_command(_planning(copy))


@cli.command(help="Show what a plan file will do")
@click.argument("plan_file", metavar="PLAN")
@_global_options
def show(plan_file: str, tty: bool, json_mode: bool, debug: bool, yes: bool) -> int:
    from imgpkg_pure.store.commands.plan import run_show

    return run_show(_make_ui(tty, json_mode), path=plan_file)


@cli.command(help="Apply a plan file: check it is not stale, then do what it says")
@click.argument("plan_file", metavar="PLAN")
@click.option("--concurrency", type=int, default=5, help="Concurrency")
@_registry_options
@_global_options
def apply(
    plan_file: str,
    concurrency: int,
    tty: bool,
    json_mode: bool,
    debug: bool,
    yes: bool,
    **registry: Any,
) -> int:
    from imgpkg_pure.store.commands.plan import run_apply
    from imgpkg_pure.store.commands.registry_flags import registry_options

    return run_apply(
        _make_ui(tty, json_mode),
        path=plan_file,
        registry=registry_options(debug=debug, **registry),
        concurrency=concurrency,
    )


@cli.command(help="Print client version")
@_global_options
def version(tty: bool, json_mode: bool, debug: bool, yes: bool) -> int:
    ui = _make_ui(tty, json_mode)
    ui.block(f"imgpkg-pure version {VERSION}\n")
    ui.succeeded()
    return 0


class _AliasedGroup(click.Group):
    """A command group whose subcommands also answer to cobra-style aliases (``ls``)."""

    aliases: ClassVar[dict[str, str]] = {"ls": "list"}

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, self.aliases.get(cmd_name, cmd_name))


@cli.group(cls=_AliasedGroup, help="Tag images")
def tag() -> None:
    pass


@tag.command("list", help="List tags for image (alias: ls)")
@click.option(
    "-i", "--image", default=None, help="Set image (any reference; its repository is used)"
)
@_bool_option("--digests", False, "Include digests")
@_bool_option(
    "--imgpkg-internal-tags", False, "Include imgpkg's internal tags (sha256-<hex>.imgpkg)"
)
@_registry_options
@_global_options
def tag_list(
    image: str | None,
    digests: bool,
    imgpkg_internal_tags: bool,
    tty: bool,
    json_mode: bool,
    debug: bool,
    yes: bool,
    **registry: Any,
) -> int:
    from imgpkg_pure.store.commands.registry_flags import registry_options
    from imgpkg_pure.store.commands.tag import run_tag_list

    ui = _make_ui(tty, json_mode)
    return run_tag_list(
        ui,
        registry=registry_options(debug=debug, **registry),
        image=image,
        digests=digests,
        internal_tags=imgpkg_internal_tags,
    )


@tag.command("resolve", help="Resolve a tag to its digest reference")
@click.option("-i", "--image", default=None, help="Set image (no tag means latest)")
@_registry_options
@_global_options
def tag_resolve(
    image: str | None, tty: bool, json_mode: bool, debug: bool, yes: bool, **registry: Any
) -> int:
    from imgpkg_pure.store.commands.registry_flags import registry_options
    from imgpkg_pure.store.commands.tag import run_tag_resolve

    ui = _make_ui(tty, json_mode)
    return run_tag_resolve(ui, registry=registry_options(debug=debug, **registry), image=image)


@cli.command(help="Describe the images and bundles associated with a given bundle")
@click.option("-b", "--bundle", default=None, help="Set bundle reference")
@click.option("--concurrency", type=int, default=5, help="Concurrency")
@click.option(
    "-o", "--output-type", default="text", help="Type of output possible values: [text, yaml]"
)
@_bool_option("--layers", True, "Retrieve image layers info")
@_bool_option("--cosign-artifacts", True, "Retrieve cosign artifact information")
@_bool_option(
    "--show-annotations", True, "Include the images' annotations (=false to leave them out)"
)
@_registry_options
@_global_options
def describe(
    bundle: str | None,
    concurrency: int,
    output_type: str,
    layers: bool,
    cosign_artifacts: bool,
    show_annotations: bool,
    tty: bool,
    json_mode: bool,
    debug: bool,
    yes: bool,
    **registry: Any,
) -> int:
    from imgpkg_pure.store.commands.describe import run_describe
    from imgpkg_pure.store.commands.registry_flags import registry_options

    ui = _make_ui(tty, json_mode)
    return run_describe(
        ui,
        registry=registry_options(debug=debug, **registry),
        bundle=bundle,
        concurrency=concurrency,
        output_type=output_type,
        layers=layers,
        cosign_artifacts=cosign_artifacts,
        show_annotations=show_annotations,
    )


#: The variable click's completion scripts set to ask ``imgpkg-pure`` for completions.
COMPLETE_VAR = "_IMGPKG_PURE_COMPLETE"
COMPLETION_SHELLS = ("bash", "zsh", "fish", "powershell")


@cli.command(
    help="Print a shell completion script (bash, zsh, fish, powershell).\n\n"
    "bash: source <(imgpkg-pure completion bash)\n\n"
    'zsh: imgpkg-pure completion zsh > "${fpath[1]}/_imgpkg-pure"\n\n'
    "fish: imgpkg-pure completion fish > ~/.config/fish/completions/imgpkg-pure.fish"
)
@click.argument("shell", required=False)
@_global_options
def completion(shell: str | None, tty: bool, json_mode: bool, debug: bool, yes: bool) -> int:
    from click.shell_completion import get_completion_class

    from imgpkg_pure.push import UsageError
    from imgpkg_pure.store.commands.push import fail

    ui = _make_ui(tty, json_mode)
    choices = ", ".join(COMPLETION_SHELLS)
    found = get_completion_class(shell) if shell in COMPLETION_SHELLS else None
    if found is None:
        reason = (
            f"Unsupported shell '{shell}' (expected one of: {choices})"
            if shell
            else f"Expected a shell: one of {choices}"
        )
        return fail(ui, UsageError(reason=reason))
    script = found(cli, {}, "imgpkg-pure", COMPLETE_VAR).source()
    sys.stdout.write(script if script.endswith("\n") else script + "\n")
    sys.stdout.flush()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point; returns (and exits with) the process exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = cli.main(args=args, prog_name="imgpkg-pure", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        sys.stdout.write(exc.ctx.get_help() + "\n")
        sys.stderr.write(
            "imgpkg-pure: Error: Invalid command - see available commands/subcommands above\n"
        )
        code = 1
    except click.NoSuchOption as exc:
        choices = ", ".join(sorted(exc.possibilities or ()))
        hint = f" (did you mean {choices}?)" if choices else ""
        sys.stderr.write(f"imgpkg-pure: Error: unknown flag: {exc.option_name}{hint}\n")
        code = 1
    except click.UsageError as exc:
        sys.stderr.write(f"imgpkg-pure: Error: {exc.format_message()}\n")
        code = 1
    except click.exceptions.Abort:
        sys.stderr.write("imgpkg-pure: Error: interrupted\n")
        code = 130
    except KeyboardInterrupt:
        sys.stderr.write("imgpkg-pure: Error: interrupted\n")
        code = 130
    if not isinstance(code, int):
        code = 0
    if argv is None:
        sys.exit(code)
    return code


if __name__ == "__main__":
    main()
