"""The ``imgpkg-pure`` command line: parse flags, run a command, print, exit.

Every command's flags come from its options value
(``imgpkg_pure.store.commands.options``): this module turns each declared
field into a click parameter, builds the value from what click parsed, and
calls the command's ``run_X(options, ui)``.  Command modules are imported
only when their command runs, so ``--help``, ``version`` and completion start
fast.

This is the one module that leaves the ``IOResult`` world: every failure
becomes one line on stderr and exit code 1.  Flag mistakes are reported the
same way, never as a traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Final

import attrs
import click
from returns.result import Failure

from imgpkg_pure.pflag import FlagSet, normalize_args
from imgpkg_pure.store.commands.options import (
    ApplyOptions,
    CacheFlags,
    CopyOptions,
    DescribeOptions,
    GlobalFlags,
    InventoryOptions,
    PullOptions,
    PushOptions,
    RegistryFlags,
    ShowOptions,
    StoreExportOptions,
    StoreGcOptions,
    StoreImportOptions,
    StoreListOptions,
    StorePruneOptions,
    StoreUsageOptions,
    StoreVerifyOptions,
    TagListOptions,
    TagResolveOptions,
    declared_flags,
)
from imgpkg_pure.store.ui.console import Ui

VERSION = "0.1.0"
#: The program's own name; run through a link or copy named ``imgpkg`` it presents itself so.
PROGRAM = "imgpkg-pure"
DROP_IN_NAME = "imgpkg"

#: The variable click's completion scripts set to ask ``imgpkg-pure`` for completions.
COMPLETE_VAR = "_IMGPKG_PURE_COMPLETE"
COMPLETION_SHELLS = ("bash", "zsh", "fish", "powershell")


# --- from declared flags to click parameters, and back ----------------------------------------


class _GoBool(click.Option):
    """A boolean flag.  :func:`imgpkg_pure.pflag.normalize_args` has already turned every
    form pflag accepts into ``--x=true|false``; help shows the flag without a value."""

    def __init__(self, names: list[str], **attributes: Any) -> None:
        super().__init__(names, type=click.BOOL, **attributes)

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        record = super().get_help_record(ctx)
        if record is None:
            return None
        return ", ".join(self.opts), record[1]


def _parameters(cls: type) -> list[click.Parameter]:
    """The click parameters of every flag declared on an options class, in order."""
    params: list[click.Parameter] = []
    for attribute, declared in declared_flags(cls):
        default = attribute.default if declared.cli_default is None else declared.cli_default
        names = [*declared.names, attribute.name]
        common: dict[str, Any] = {"default": default, "help": declared.help}
        if declared.hidden:
            common["hidden"] = True
        match declared.kind:
            case "argument":
                params.append(click.Argument([attribute.name], metavar=declared.names[0]))
            case "bool":
                params.append(_GoBool(names, **common))
            case "int":
                params.append(click.Option(names, type=int, **common))
            case "choice":
                params.append(click.Option(names, type=click.Choice(declared.choices), **common))
            case "texts":
                params.append(click.Option(names, multiple=True, **common))
            case "text":
                params.append(click.Option(names, **common))
    return params


def _take(cls: type[Any], values: dict[str, Any]) -> Any:
    """An options value from the parsed flags its class declares (removing them)."""
    given: dict[str, Any] = {}
    for attribute, declared in declared_flags(cls):
        if attribute.name not in values:
            continue
        value = values.pop(attribute.name)
        if declared.kind == "texts" and attribute.default is None and not value:
            value = None
        given[attribute.name] = value
    return cls(**given)


def _program() -> str:
    """The name the program runs under (``imgpkg`` through a link of that name)."""
    return click.get_current_context().find_root().info_name or PROGRAM


def _make_ui(flags: GlobalFlags) -> Ui:
    return Ui(
        tty=flags.tty or sys.stdout.isatty(),
        json_mode=flags.json_mode,
        program=_program(),
        columns=flags.column,
    )


def _warn_deprecated(cls: type, values: dict[str, Any]) -> None:
    """cobra's note, on stdout, for each deprecated flag that was used."""
    for attribute, declared in declared_flags(cls):
        if declared.deprecated and values.get(attribute.name):
            sys.stdout.write(
                f"Flag {declared.names[0]} has been deprecated, {declared.deprecated}\n"
            )


#: glibc's ``mallopt`` parameters (``malloc.h``) and the values :func:`_steady_heap` sets.
_M_TRIM_THRESHOLD: Final = -1
_M_MMAP_THRESHOLD: Final = -3
_TRIM_AT: Final = 16 << 20
_MMAP_FROM: Final = 4 << 20


def _steady_heap() -> None:
    """Keep glibc's heap from being trimmed, then faulted in again, for every 1 MiB piece a
    stream hands from thread to thread: pieces stay in the heap (mapped apart only from
    4 MiB) and up to 16 MiB may stay free at its top.  Measured on a 269 MB pull: 96,000
    fewer page faults and ~0.25 s less system time (``docs/benchmarks.md``).  Linux with
    glibc only; elsewhere nothing happens.  The command line's process only: the Python
    API leaves its host's allocator alone."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # no C library to ask, or not glibc (musl)
        return
    mallopt(_M_MMAP_THRESHOLD, _MMAP_FROM)
    mallopt(_M_TRIM_THRESHOLD, _TRIM_AT)


def _run(runner: str, options: object, ui: Ui) -> int:
    """Call ``module:function`` (imported now, not at start-up) with the options."""
    _steady_heap()
    module, function = runner.split(":")
    run: Callable[[object, Ui], int] = getattr(
        importlib.import_module(f"imgpkg_pure.store.commands.{module}"), function
    )
    return run(options, ui)


def _command(
    group: click.Group,
    name: str,
    help_text: str,
    options: type[Any],
    runner: str,
    *,
    registry: bool = True,
) -> click.Command:
    """Add ``name`` to ``group``: the options' flags, the registry flags, the local store's
    flags (when the options carry ``cache``), the global flags."""
    cached = "cache" in attrs.fields_dict(options)
    params = _parameters(options)
    if registry:
        params += _parameters(RegistryFlags)
    if cached:
        params += _parameters(CacheFlags)
    params += _parameters(GlobalFlags)

    def callback(**values: Any) -> int:
        flags: GlobalFlags = _take(GlobalFlags, values)
        ui = _make_ui(flags)
        extra: dict[str, Any] = {}
        if registry:
            checked = _take(RegistryFlags, values).options(debug=flags.debug)
            if isinstance(checked, Failure):
                return ui.fail(checked.failure())
            extra["registry"] = checked.unwrap()
        if cached:
            extra["cache"] = _take(CacheFlags, values)
        _warn_deprecated(options, values)
        if "plan_out" in values:
            extra["plan_out"] = values.pop("plan_out")
        return _run(runner, attrs.evolve(_take(options, values), **extra), ui)

    command = click.Command(name, params=params, callback=callback, help=help_text)
    group.add_command(command)
    return command


# --- the commands -----------------------------------------------------------------------------


@click.group(
    context_settings={"help_option_names": ["-h", "--help"]},
    help="imgpkg-pure stores files and image references as OCI artifacts "
    "(a Python re-implementation of Carvel imgpkg).",
)
def cli() -> None:
    pass


push = _command(cli, "push", "Push files as image or bundle", PushOptions, "push:run_push")
pull = _command(
    cli, "pull", "Pull files from bundle, image, or bundle lock file", PullOptions, "pull:run_pull"
)
copy = _command(
    cli, "copy", "Copy a bundle from one location to another", CopyOptions, "copy:run_copy"
)
_command(
    cli,
    "inventory",
    "List the blobs and manifests a repository, tarball, layout or lock holds (JSON)",
    InventoryOptions,
    "inventory:run_inventory",
)


@cli.group(help="Write what push, pull or copy would do to a plan file, changing nothing")
def plan() -> None:
    pass


def _planning(command: click.Command) -> click.Command:
    """``plan <command>``: the command's flags plus ``--out PLAN``; it writes the plan."""
    original = command.callback
    assert original is not None

    def callback(out: str, **flags: Any) -> int:
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

_command(cli, "show", "Show what a plan file will do", ShowOptions, "plan:run_show", registry=False)
_command(
    cli,
    "apply",
    "Apply a plan file: check it is not stale, then do what it says",
    ApplyOptions,
    "plan:run_apply",
)


class _AliasedGroup(click.Group):
    """A command group whose subcommands also answer to cobra-style aliases (``ls``)."""

    aliases: ClassVar[dict[str, str]] = {"ls": "list"}

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, self.aliases.get(cmd_name, cmd_name))


@cli.group(cls=_AliasedGroup, help="Tag images")
def tag() -> None:
    pass


_command(tag, "list", "List tags for image (alias: ls)", TagListOptions, "tag:run_tag_list")
_command(
    tag,
    "resolve",
    "Resolve a tag to its digest reference",
    TagResolveOptions,
    "tag:run_tag_resolve",
)
_command(
    cli,
    "describe",
    "Describe the images and bundles associated with a given bundle",
    DescribeOptions,
    "describe:run_describe",
)


@cli.group(help="Look after the local store: list, measure, verify, collect, prune, move")
def store() -> None:
    pass


_STORE_COMMANDS: tuple[tuple[str, str, type[Any], str], ...] = (
    ("ls", "List the references the local store recorded, with digests and sizes",
     StoreListOptions, "store_cmd:run_store_ls"),
    ("du", "Show how much the local store holds, and its hits and misses so far",
     StoreUsageOptions, "store_cmd:run_store_du"),
    ("verify", "Re-hash every blob of the local store; remove corrupt ones (exit 1 if any)",
     StoreVerifyOptions, "store_cmd:run_store_verify"),
    ("gc", "Remove every blob no recorded reference reaches",
     StoreGcOptions, "store_cmd:run_store_gc"),
    ("prune", "Evict least recently used content (--max-size SIZE, --older-than DURATION)",
     StorePruneOptions, "store_cmd:run_store_prune"),
    ("import", "Add an imgpkg tarball or an OCI archive to the local store",
     StoreImportOptions, "store_cmd:run_store_import"),
)  # fmt: skip
for _name, _help, _options, _runner in _STORE_COMMANDS:
    _command(store, _name, _help, _options, _runner, registry=False)


@store.command(
    "export",
    help="Write a recorded bundle or image from the local store alone (copy --offline) "
    "to a tarball (--to-tar) or an OCI layout (--to-repo oci:DIR)",
    params=[*_parameters(StoreExportOptions), *_parameters(GlobalFlags)],
)
def store_export(**values: Any) -> int:
    ui = _make_ui(_take(GlobalFlags, values))
    options: StoreExportOptions = _take(StoreExportOptions, values)
    from imgpkg_pure.store.commands import copy, store_cmd

    made = store_cmd.export_as_copy(options, ui)
    if isinstance(made, int):
        return made
    return copy.run_copy(made, ui)


@cli.command(help="Print client version", params=_parameters(GlobalFlags))
def version(**flags: Any) -> int:
    ui = _make_ui(GlobalFlags(**flags))
    ui.block(f"{_program()} version {VERSION}\n")
    ui.succeeded()
    return 0


@cli.command(
    help="Print a shell completion script (bash, zsh, fish, powershell).\n\n"
    "bash: source <(imgpkg-pure completion bash)\n\n"
    'zsh: imgpkg-pure completion zsh > "${fpath[1]}/_imgpkg-pure"\n\n'
    "fish: imgpkg-pure completion fish > ~/.config/fish/completions/imgpkg-pure.fish",
    params=[click.Argument(["shell"], required=False), *_parameters(GlobalFlags)],
)
def completion(shell: str | None, **flags: Any) -> int:
    from click.shell_completion import get_completion_class

    from imgpkg_pure.push import UsageError

    ui = _make_ui(GlobalFlags(**flags))
    choices = ", ".join(COMPLETION_SHELLS)
    found = get_completion_class(shell) if shell in COMPLETION_SHELLS else None
    if found is None:
        reason = (
            f'invalid argument "{shell}" for "{_program()} completion" (expected one of: {choices})'
            if shell
            else f"accepts 1 arg(s), received 0 (expected one of: {choices})"
        )
        return ui.fail(UsageError(reason=reason))
    script = found(cli, {}, _program(), COMPLETE_VAR).source()
    sys.stdout.write(script if script.endswith("\n") else script + "\n")
    sys.stdout.flush()
    return 0


def program_name(argv0: str) -> str:
    """``imgpkg`` when run as ``imgpkg`` (a link or copy, any extension), else ``imgpkg-pure``."""
    return DROP_IN_NAME if Path(argv0).stem == DROP_IN_NAME else PROGRAM


def _resolve(args: Sequence[str]) -> tuple[click.Command, list[str], int]:
    """The (sub)command the leading words name, its words, and where its flags start."""
    command: click.Command = cli
    words: list[str] = []
    ctx = click.Context(cli)
    for index, arg in enumerate(args):
        if not isinstance(command, click.Group) or arg.startswith("-"):
            return command, words, index
        found = command.get_command(ctx, arg)
        if found is None:
            return command, words, index
        command, words = found, [*words, arg]
    return command, words, len(args)


def _flag_set(command: click.Command) -> FlagSet:
    pairs: list[tuple[Sequence[str], bool]] = [(("-h", "--help"), True)]
    for param in command.params:
        if isinstance(param, click.Option):
            pairs.append((param.opts, isinstance(param, _GoBool) or param.is_flag))
    return FlagSet.of(pairs)


def _pflag_args(args: list[str], program: str) -> list[str]:
    """The arguments in the one spelling click reads (``--long=value``), or a usage error in
    pflag's words (with a did-you-mean hint for an unknown flag)."""
    if args[:1] in (["-v"], ["--version"]):
        args = ["version", *args[1:]]
    command, words, start = _resolve(args)
    flags = _flag_set(command)
    normalized = normalize_args(args[start:], flags)
    if isinstance(normalized, Failure):
        message = normalized.failure().message
        if message.startswith("unknown flag: "):
            name = message.removeprefix("unknown flag: ")
            import difflib  # an unknown flag only

            close = difflib.get_close_matches(name, list(flags.canonical), n=1)
            message += f" (did you mean {close[0]}?)" if close else ""
        raise click.UsageError(message)
    rewritten = [
        "--help" if arg == "--help=true" else arg
        for arg in normalized.unwrap()
        if arg != "--help=false"
    ]
    if isinstance(command, click.Group) and start < len(args) and not args[start].startswith("-"):
        path = " ".join([program, *words])
        raise click.UsageError(f"command '{path}' does not accept extra arguments '{args[start]}'")
    return [*args[:start], *rewritten]


def _extra_arguments(exc: click.UsageError) -> str | None:
    """cobra's words for extra positional arguments."""
    text = exc.format_message()
    if not text.startswith("Got unexpected extra argument") or exc.ctx is None:
        return None
    extra = text.split("(", 1)[1].rstrip(")").split(" ")[0]
    path = exc.ctx.command_path
    return f"command '{path}' does not accept extra arguments '{extra}'"


def main(argv: Sequence[str] | None = None, *, program: str | None = None) -> int:
    """Console-script entry point; returns (and exits with) the process exit code."""
    # httpx imports its own command line (``httpx._main``) with the package, and that
    # imports pygments and rich whenever they are installed (pygments alone: ~5 ms of every
    # start-up; with rich, several times that), only to fail or to sit unused: this process
    # never runs httpx's command line.  Marked absent, httpx keeps its stub ``main``.  The
    # command line only (the Python API leaves its host's modules alone); a no-op when
    # httpx is already imported.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    args = list(sys.argv[1:] if argv is None else argv)
    name = program or program_name(sys.argv[0] if argv is None else PROGRAM)
    if "IMGPKG_ENABLE_IAAS_AUTH" in os.environ:  # the auth rules load only when they can speak
        from imgpkg_pure.registry_auth import iaas_deprecation_notice

        notice = iaas_deprecation_notice(os.environ)
        if notice is not None:  # as imgpkg: before anything else, on stdout, in every mode
            sys.stdout.write(notice + "\n")
    try:
        code = cli.main(args=_pflag_args(args, name), prog_name=name, standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        sys.stdout.write(exc.ctx.get_help() + "\n")
        group = exc.ctx.command
        if group is cli or not isinstance(group, click.Group):
            reason = "Invalid command - see available commands/subcommands above"
        else:
            reason = "Use one of available subcommands: " + ", ".join(sorted(group.commands))
        sys.stderr.write(f"{name}: Error: {reason}\n")
        code = 1
    except click.NoSuchOption as exc:
        sys.stderr.write(f"{name}: Error: unknown flag: {exc.option_name}\n")
        code = 1
    except click.UsageError as exc:
        message = _extra_arguments(exc) or exc.format_message()
        sys.stderr.write(f"{name}: Error: {message}\n")
        code = 1
    except (click.exceptions.Abort, KeyboardInterrupt):
        sys.stderr.write(f"{name}: Error: interrupted\n")
        code = 130
    if not isinstance(code, int):
        code = 0
    if argv is None:
        sys.exit(code)
    return code


if __name__ == "__main__":
    main()
