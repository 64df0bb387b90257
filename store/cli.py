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
import sys
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import attrs
import click
from returns.result import Failure

from imgpkg_pure.store.commands.options import (
    ApplyOptions,
    CopyOptions,
    DescribeOptions,
    GlobalFlags,
    PullOptions,
    PushOptions,
    RegistryFlags,
    ShowOptions,
    TagListOptions,
    TagResolveOptions,
    declared_flags,
)
from imgpkg_pure.store.ui.console import Ui

VERSION = "0.1.0"

#: The variable click's completion scripts set to ask ``imgpkg-pure`` for completions.
COMPLETE_VAR = "_IMGPKG_PURE_COMPLETE"
COMPLETION_SHELLS = ("bash", "zsh", "fish", "powershell")


# --- from declared flags to click parameters, and back ----------------------------------------


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
            case "switch":
                params.append(click.Option(names, is_flag=True, **common))
            case "bool":
                params.append(
                    click.Option(names, type=click.BOOL, is_flag=False, flag_value=True, **common)
                )
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


def _make_ui(flags: GlobalFlags) -> Ui:
    return Ui(tty=flags.tty or sys.stdout.isatty(), json_mode=flags.json_mode)


def _run(runner: str, options: object, ui: Ui) -> int:
    """Call ``module:function`` (imported now, not at start-up) with the options."""
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
    """Add ``name`` to ``group``: the options' flags, the registry flags, the global flags."""
    params = _parameters(options)
    if registry:
        params += _parameters(RegistryFlags)
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


@cli.command(help="Print client version", params=_parameters(GlobalFlags))
def version(**flags: Any) -> int:
    ui = _make_ui(GlobalFlags(**flags))
    ui.block(f"imgpkg-pure version {VERSION}\n")
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
            f"Unsupported shell '{shell}' (expected one of: {choices})"
            if shell
            else f"Expected a shell: one of {choices}"
        )
        return ui.fail(UsageError(reason=reason))
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
