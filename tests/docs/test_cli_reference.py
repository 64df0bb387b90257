"""docs/cli.md is checked against the real parser: every command and every flag is documented."""

from __future__ import annotations

import re
from pathlib import Path

import click

from imgpkg_pure.store.cli import cli

ROOT = Path(__file__).resolve().parents[2]
GLOBAL = {"--tty", "--json", "--debug", "--yes", "--help"}
REGISTRY = "--registry-"


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out: list[tuple[str, click.Command]] = []
    for name, command in sorted(group.commands.items()):
        out.append((prefix + name, command))
        if isinstance(command, click.Group):
            out.extend(_commands(command, prefix + name + " "))
    return out


def test_every_command_and_flag_is_documented() -> None:
    reference = (ROOT / "docs" / "cli.md").read_text()
    missing: list[str] = []
    for name, command in _commands(cli):
        if f"imgpkg-pure {name}" not in reference and f"## {name}" not in reference:
            missing.append(f"command {name}")
        for param in command.params:
            if not isinstance(param, click.Option) or param.hidden:
                continue
            longs = [opt for opt in param.opts if opt.startswith("--")]
            if not longs or longs[0] in GLOBAL or longs[0].startswith(REGISTRY):
                continue
            if re.search(rf"(`|, ){re.escape(longs[0])}(?![\w-])", reference) is None:
                missing.append(f"{name} {longs[0]}")
    assert not missing, f"not in docs/cli.md: {missing}"


def test_global_and_registry_flags_are_documented() -> None:
    reference = (ROOT / "docs" / "cli.md").read_text()
    for flag in (*sorted(GLOBAL - {"--help"}), "--registry-ca-cert-path", "--registry-retry-count"):
        assert flag in reference, flag
