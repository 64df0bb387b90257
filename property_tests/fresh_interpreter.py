"""Run a pure function again in a fresh interpreter whose hidden inputs differ.

A determinism law checked by calling a function twice in one process cannot
fail on the hidden inputs that make real runs differ: the string hash seed
(which orders sets, and dicts built from them), the environment, the locale,
the time zone and the working directory.  ``in_fresh_interpreters`` pickles a
module-level function and its arguments to a new ``python`` whose
``PYTHONHASHSEED`` differs from this process's (and from each other's), with
a bare environment, another time zone and locale and an empty working
directory, and returns what each computed.  The caller compares that with
what this process computed.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hypothesis import Phase, settings

ROOT = Path(__file__).resolve().parents[1]

_CHILD = """\
import pickle, sys
function, cases = pickle.load(sys.stdin.buffer)
pickle.dump([function(*case) for case in cases], sys.stdout.buffer)
"""

# Hash seeds for the children: fixed (so a failure replays while hypothesis shrinks it),
# never this process's own when it fixed one, and different from each other.
_OWN_SEED = os.environ.get("PYTHONHASHSEED", "random")
_SEEDS = [seed for seed in ("1", "2", "3") if seed != _OWN_SEED][:2]
_ZONES = ["Pacific/Chatham", "America/St_Johns"]

# For the properties that use it: each example starts interpreters, so keep them few and
# do not shrink (a failure shows the whole batch, and the index of the case that differs).
FRESH_INTERPRETER_SETTINGS = settings(
    max_examples=3, phases=[Phase.explicit, Phase.reuse, Phase.generate]
)


def in_fresh_interpreters(
    function: Callable[..., Any], cases: Sequence[tuple[Any, ...]]
) -> list[list[Any]]:
    """``[function(*case) for case in cases]`` as computed by each of two new interpreters.

    ``function`` must be importable by its module name (a module-level function).
    """
    payload = pickle.dumps((function, list(cases)))
    answers: list[list[Any]] = []
    for seed, zone in zip(_SEEDS, _ZONES, strict=True):
        with tempfile.TemporaryDirectory(prefix="fresh-") as cwd:
            env = {
                "PATH": os.defpath,
                "HOME": cwd,
                "PYTHONPATH": str(ROOT),
                "PYTHONHASHSEED": seed,
                "PYTHONDONTWRITEBYTECODE": "1",
                "TZ": zone,
                "LC_ALL": "C",
            }
            done = subprocess.run(
                [sys.executable, "-c", _CHILD],
                input=payload,
                capture_output=True,
                env=env,
                cwd=cwd,
                check=False,
                timeout=120,
            )
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        answers.append(pickle.loads(done.stdout))
    return answers


def assert_same_in_fresh_interpreters(
    function: Callable[..., Any],
    cases: Sequence[tuple[Any, ...]],
    encode: Callable[[Any], object] = lambda value: value,
) -> None:
    """Each fresh interpreter computes what this one does, case by case (and, through
    ``encode``, byte for byte)."""
    here = [function(*case) for case in cases]
    for there in in_fresh_interpreters(function, cases):
        for index, (mine, theirs) in enumerate(zip(here, there, strict=True)):
            assert (index, theirs) == (index, mine)
            assert (index, encode(theirs)) == (index, encode(mine))
