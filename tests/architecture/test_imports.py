"""Import rules between the pure core, the store's rooms and the tests.

* ``imgpkg_pure`` (the pure core) imports only what :data:`CORE_ALLOWED` lists,
  itself, and from ``pathlib`` only ``PurePosixPath``: no ``imgpkg_pure.store``,
  no I/O, clock, randomness, logging, network, processes or threads.  An
  allowlist, so a new dependency of the core is a decision, made here.
* The core calls no I/O builtins (``open``, ``print``, ``input``, ...) and no
  dynamic imports or evaluation.
* ``store/`` (installed as ``imgpkg_pure.store``; ``imgpkg_pure/store`` links to
  it) never imports the tests or test-only packages.
* Within the store, each room imports only the rooms :data:`ROOMS` lists for
  it: front doors (``cli``, ``api``) → ``commands`` → ``apply`` →
  ``transports`` / ``files`` → ``registry`` / ``content``, with ``ui`` beside;
  never upwards, never between the front doors.  A new room is a decision,
  made here.
* Within ``commands``, the command modules (:data:`COMMAND_MODULES`) never
  import each other; what two commands share lives in a shared module of the
  room, and shared modules import no command module.

Every import statement counts, wherever it is (function bodies,
``if TYPE_CHECKING:`` blocks included).  The source is read with :mod:`ast`;
nothing checked is imported.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
from attrs import frozen

ROOT: Final = Path(__file__).resolve().parents[2]
CORE_PACKAGE: Final = "imgpkg_pure"
#: The store's folder in the repository, and the name it is installed and imported under.
STORE_FOLDER: Final = "store"
STORE_PACKAGE: Final = "imgpkg_pure.store"

# Top-level modules the pure core may import (plus itself).
CORE_ALLOWED: Final = frozenset(
    {
        "__future__",
        "abc",
        "attrs",
        "base64",
        "binascii",
        "collections",  # collections.abc too
        "dataclasses",
        "enum",
        "fnmatch",
        "functools",
        "hashlib",
        "hmac",
        "itertools",
        "json",
        "math",
        "msgpack",
        "operator",
        "pathlib",  # only `from pathlib import PurePosixPath`, see PATHLIB_ALLOWED
        "posixpath",
        "re",
        "returns",
        "string",
        "struct",
        "types",
        "typing",
        "typing_extensions",
        "unicodedata",
        "yaml",
        CORE_PACKAGE,
    }
)
PATHLIB_ALLOWED: Final = frozenset({"PurePosixPath"})

# Builtins that do I/O, import or evaluate code: the core never calls them.
CORE_FORBIDDEN_CALLS: Final = frozenset(
    {"open", "print", "input", "breakpoint", "exec", "eval", "compile", "__import__"}
)

# What the store may never import.
STORE_FORBIDDEN: Final = frozenset(
    {"tests", "property_tests", "bench", "conftest", "pytest", "_pytest", "hypothesis"}
)

#: The store's rooms and the rooms each may import (its own room always).  Front doors
#: take the options values from ``commands`` and ``RegistryOptions`` from ``registry``.
ROOMS: Final[dict[str, frozenset[str]]] = {
    "__init__": frozenset(),
    "cli": frozenset({"commands", "ui"}),
    "api": frozenset({"commands", "registry", "ui"}),
    "commands": frozenset({"apply", "transports", "files", "registry", "content", "ui"}),
    "apply": frozenset({"files", "registry", "content"}),
    "transports": frozenset({"registry", "content"}),
    "files": frozenset({"content"}),
    "registry": frozenset(),
    "content": frozenset(),
    "ui": frozenset(),
}
#: The modules of ``commands`` that are commands; the others are shared by them.
COMMAND_MODULES: Final = frozenset(
    {"push", "pull", "copy", "tag", "describe", "plan", "inventory", "store_cmd"}
)


@frozen
class Import:
    """One imported module: ``module`` is absolute; ``names`` is empty for ``import X``."""

    line: int
    statement: str
    module: str
    names: tuple[str, ...]
    escapes_top: bool = False


@frozen
class Violation:
    path: str
    line: int
    statement: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.statement}  <- {self.reason}"


def module_name(path: Path, root: Path = ROOT) -> tuple[str, bool]:
    """The dotted name of a source file (as imported) and whether it is a package ``__init__``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[0] == STORE_FOLDER:
        parts[:1] = STORE_PACKAGE.split(".")
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> tuple[str, bool]:
    """The absolute module of a ``from ... import``; True if it climbs above the top."""
    if node.level == 0:
        return node.module or "", False
    package = module.split(".") if is_package else module.split(".")[:-1]
    up = node.level - 1
    if up >= len(package):
        return "." * node.level + (node.module or ""), True
    base = package[: len(package) - up]
    if node.module:
        base = [*base, *node.module.split(".")]
    return ".".join(base), False


def imports_in(source: str, module: str, is_package: bool, filename: str) -> Iterator[Import]:
    tree = ast.parse(source, filename=filename)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(node.lineno, f"import {alias.name}", alias.name, ())
        elif isinstance(node, ast.ImportFrom):
            target, escapes = _resolve(node, module, is_package)
            names = tuple(alias.name for alias in node.names)
            written = "." * node.level + (node.module or "")
            statement = f"from {written} import {', '.join(names)}"
            yield Import(node.lineno, statement, target, names, escapes)


def forbidden_calls_in(source: str, filename: str) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(source, filename=filename)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in CORE_FORBIDDEN_CALLS
        ):
            yield node.lineno, f"{node.func.id}(...)"


def core_import_problem(item: Import) -> str | None:
    """Why the pure core may not make this import, or None if it may."""
    if item.escapes_top:
        return "relative import climbs out of imgpkg_pure"
    top = item.module.split(".")[0]
    if top == STORE_FOLDER or _in_store(item.module):
        return "the pure core must not import the store"
    if top == "pathlib":
        if item.module != "pathlib" or not item.names:
            return "from pathlib only `from pathlib import PurePosixPath` is allowed"
        extra = sorted(set(item.names) - PATHLIB_ALLOWED)
        if extra:
            return f"from pathlib only PurePosixPath is allowed, not {', '.join(extra)}"
        return None
    if top not in CORE_ALLOWED:
        return f"'{top}' is not on the pure-core allowlist (tests/architecture/test_imports.py)"
    return None


def _in_store(module: str) -> bool:
    return module == STORE_PACKAGE or module.startswith(STORE_PACKAGE + ".")


def _place(module: str) -> tuple[str, str | None]:
    """The room of a store module, and its module within the room (None for the room)."""
    parts = module.removeprefix(STORE_PACKAGE).lstrip(".").split(".")
    if parts == [""]:
        return "__init__", None
    return parts[0], parts[1] if len(parts) > 1 else None


def store_import_problem(item: Import, importer: str = STORE_PACKAGE) -> str | None:
    """Why the store module ``importer`` may not make this import, or None if it may."""
    if item.escapes_top:
        return "relative import climbs out of store"
    top = item.module.split(".")[0]
    if top in STORE_FORBIDDEN:
        return f"the store must not import test code or test-only packages ('{top}')"
    if top == STORE_FOLDER:
        return f"import the store as {STORE_PACKAGE}, not as '{STORE_FOLDER}'"
    # ``from P import n``: n may be a module of package P, so it counts as P.n.
    targets = [f"{item.module}.{name}" for name in item.names] or [item.module]
    room, module = _place(importer)
    if room not in ROOMS:
        return f"'{room}' is not a room of the store (tests/architecture/test_imports.py ROOMS)"
    for target in filter(_in_store, targets):
        to_room, to_module = _place(target)
        if to_room != room and to_room not in ROOMS[room]:
            return f"the store's '{room}' may not import its '{to_room}' (layering)"
        if room == to_room == "commands" and to_module in COMMAND_MODULES and to_module != module:
            if module in COMMAND_MODULES:
                return f"command '{module}' may not import command '{to_module}' (share below)"
            return f"shared module '{module}' may not import command '{to_module}'"
    return None


def source_files(package: str, root: Path = ROOT) -> list[Path]:
    """The sources of a folder (the core's without its link to the store)."""
    return sorted(
        path
        for path in (root / package).rglob("*.py")
        if "__pycache__" not in path.parts
        and not (package == CORE_PACKAGE and path.relative_to(root).parts[1] == STORE_FOLDER)
    )


def _display(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def violations_in(path: Path, *, core: bool) -> list[Violation]:
    source = path.read_text(encoding="utf-8")
    module, is_package = module_name(path)
    shown = _display(path)
    found: list[Violation] = []
    for item in imports_in(source, module, is_package, shown):
        problem = core_import_problem(item) if core else store_import_problem(item, module)
        if problem is not None:
            found.append(Violation(shown, item.line, item.statement, problem))
    if core:
        for line, call in forbidden_calls_in(source, shown):
            found.append(Violation(shown, line, call, "the pure core does no I/O or eval"))
    return found


def _report(violations: list[Violation]) -> str:
    return "\n".join(str(v) for v in sorted(violations, key=lambda v: (v.path, v.line)))


# --- the rules, on the tree ---------------------------------------------------------------


def test_the_core_is_found() -> None:
    files = {_display(path) for path in source_files(CORE_PACKAGE)}
    assert "imgpkg_pure/__init__.py" in files
    assert "imgpkg_pure/digest.py" in files


def test_core_imports_only_allowed_modules() -> None:
    violations = [
        violation
        for path in source_files(CORE_PACKAGE)
        for violation in violations_in(path, core=True)
    ]
    assert not violations, "pure-core rule broken:\n" + _report(violations)


def test_store_keeps_its_layers() -> None:
    violations = [
        violation
        for path in source_files(STORE_FOLDER)
        for violation in violations_in(path, core=False)
    ]
    assert not violations, "store rule broken:\n" + _report(violations)


def test_every_store_module_is_in_a_room() -> None:
    rooms = {_place(module_name(path)[0])[0] for path in source_files(STORE_FOLDER)}
    assert rooms <= set(ROOMS), rooms - set(ROOMS)
    assert {"cli", "api", "commands", "content", "registry"} <= rooms


def test_only_front_doors_stay_at_the_top() -> None:
    top = {path.name for path in (ROOT / STORE_FOLDER).glob("*.py")}
    assert top == {"__init__.py", "cli.py", "api.py"}


def test_the_store_link_points_at_the_store() -> None:
    link = ROOT / CORE_PACKAGE / STORE_FOLDER
    assert link.is_symlink()
    assert link.resolve() == (ROOT / STORE_FOLDER).resolve()


# --- the checker itself -------------------------------------------------------------------


def _core_problems(source: str, module: str = "imgpkg_pure.sub.mod") -> list[str | None]:
    return [core_import_problem(item) for item in imports_in(source, module, False, "<test>")]


@pytest.mark.parametrize(
    "source",
    [
        "from __future__ import annotations",
        "import hashlib, json, re",
        "from collections.abc import Iterator",
        "from typing import TYPE_CHECKING, Final",
        "from attrs import frozen",
        "from returns.result import Result",
        "from pathlib import PurePosixPath",
        "from imgpkg_pure.digest import Digest",
        "from . import sibling",
        "from ..errors import InvalidDigest",
        "import imgpkg_pure.oci as oci",
    ],
)
def test_checker_accepts(source: str) -> None:
    problems = _core_problems(source)
    assert problems
    assert all(problem is None for problem in problems), problems


@pytest.mark.parametrize(
    "source",
    [
        "import os",
        "import os.path",
        "from io import BytesIO",
        "import pathlib",
        "from pathlib import Path",
        "from pathlib import PurePosixPath, Path",
        "from pathlib import *",
        "import store",
        "from imgpkg_pure.store.registry import Client",
        "import httpx",
        "from datetime import datetime",
        "import time",
        "import random",
        "import tarfile",
        "import logging",
        "import sys",
        "import importlib",
        "from ... import store",
        "def f():\n    import subprocess",
        "if TYPE_CHECKING:\n    from pathlib import Path",
    ],
)
def test_checker_rejects(source: str) -> None:
    problems = _core_problems(source)
    assert problems
    assert all(problem is not None for problem in problems), problems


def test_relative_imports_resolve() -> None:
    def targets(source: str, module: str, is_package: bool) -> list[tuple[str, bool]]:
        return [(i.module, i.escapes_top) for i in imports_in(source, module, is_package, "<t>")]

    assert targets("from . import x", "imgpkg_pure.plan", True) == [("imgpkg_pure.plan", False)]
    assert targets("from . import x", "imgpkg_pure.plan.a", False) == [("imgpkg_pure.plan", False)]
    assert targets("from ..oci import y", "imgpkg_pure.plan.a", False) == [
        ("imgpkg_pure.oci", False)
    ]
    assert targets("from .. import store", "imgpkg_pure.a", False) == [("..", True)]


def test_checker_flags_io_builtins_with_location() -> None:
    source = "def f(p):\n    with open(p) as h:\n        print(h.read())\n"
    source += "    return re.compile('x') or self.open()\n"
    found = sorted(forbidden_calls_in(source, "<test>"))
    assert found == [(2, "open(...)"), (3, "print(...)")]


def test_store_checker() -> None:
    def problems(source: str, importer: str = "imgpkg_pure.store.cli") -> list[str | None]:
        found = imports_in(source, importer, False, "<t>")
        return [store_import_problem(i, importer) for i in found]

    assert problems("import httpx\nimport os\nfrom imgpkg_pure import digest") == [None] * 3
    assert all(p is not None for p in problems("from tests.registry_fixtures import x"))
    assert all(p is not None for p in problems("import pytest\nimport hypothesis"))
    assert all(p is not None for p in problems("from ... import tests"))
    assert all(p is not None for p in problems("from store.ui import console"))


@pytest.mark.parametrize(
    ("importer", "source"),
    [
        ("imgpkg_pure.store.cli", "from imgpkg_pure.store.commands.options import PushOptions"),
        ("imgpkg_pure.store.api", "from imgpkg_pure.store.registry import RegistryOptions"),
        ("imgpkg_pure.store.commands.copy", "from imgpkg_pure.store.commands.planning import x"),
        ("imgpkg_pure.store.commands.copy", "from . import locations"),
        ("imgpkg_pure.store.commands.copy", "from imgpkg_pure.store.transports.layout import x"),
        ("imgpkg_pure.store.commands.planning", "from imgpkg_pure.store.ui.console import Ui"),
        ("imgpkg_pure.store.apply.interpreter", "from imgpkg_pure.store.files.tree import x"),
        ("imgpkg_pure.store.transports.layout", "from imgpkg_pure.store.registry import x"),
        ("imgpkg_pure.store.content.local", "from imgpkg_pure.store.content import blobstore"),
        ("imgpkg_pure.store.content.local", "from imgpkg_pure.digest import Digest"),
    ],
)
def test_layering_accepts(importer: str, source: str) -> None:
    found = list(imports_in(source, importer, False, "<t>"))
    assert [store_import_problem(i, importer) for i in found] == [None] * len(found)


@pytest.mark.parametrize(
    ("importer", "source"),
    [
        ("imgpkg_pure.store.cli", "from imgpkg_pure.store.api import push"),
        ("imgpkg_pure.store.api", "from imgpkg_pure.store.cli import main"),
        ("imgpkg_pure.store.commands.copy", "from imgpkg_pure.store.commands.push import x"),
        ("imgpkg_pure.store.commands.copy", "from . import pull"),
        ("imgpkg_pure.store.commands.planning", "from imgpkg_pure.store.commands.plan import x"),
        ("imgpkg_pure.store.commands.copy", "from imgpkg_pure.store.cli import main"),
        ("imgpkg_pure.store.apply.interpreter", "from imgpkg_pure.store.commands import push"),
        ("imgpkg_pure.store.content.local", "from imgpkg_pure.store.registry import x"),
        ("imgpkg_pure.store.registry.client", "from imgpkg_pure.store.ui.console import Ui"),
        ("imgpkg_pure.store.files.tree", "from imgpkg_pure.store.transports import layout"),
        ("imgpkg_pure.store.transports.layout", "from imgpkg_pure.store.apply import extract"),
        ("imgpkg_pure.store.ui.console", "from imgpkg_pure.store.content import staging"),
        ("imgpkg_pure.store.cli", "from imgpkg_pure.store import api"),
        ("imgpkg_pure.store.newroom.x", "import json"),
    ],
)
def test_layering_rejects(importer: str, source: str) -> None:
    found = list(imports_in(source, importer, False, "<t>"))
    assert found
    assert all(store_import_problem(i, importer) is not None for i in found)


def test_violation_message_names_file_and_line() -> None:
    violation = Violation("imgpkg_pure/x.py", 3, "import os", "nope")
    assert str(violation) == "imgpkg_pure/x.py:3: import os  <- nope"
