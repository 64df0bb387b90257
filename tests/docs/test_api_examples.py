"""docs/api.md is executed: its ``python`` blocks run in order, in one namespace."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from imgpkg_pure.store.api import PushOptions, push
from tests.registry_fixtures import RegistryServer

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def test_api_examples_run(tmp_path: Path, registry: RegistryServer) -> None:
    blocks = BLOCK.findall((ROOT / "docs" / "api.md").read_text())
    assert len(blocks) >= 3
    namespace: dict[str, object] = {"REGISTRY": registry.host, "WORK": str(tmp_path)}
    for number, block in enumerate(blocks, start=1):
        code = compile(block, f"docs/api.md block {number}", "exec")
        exec(code, namespace)  # the documentation's own examples


def test_api_calls_can_run_in_threads(tmp_path: Path, registry: RegistryServer) -> None:
    def one(n: int) -> str:
        source = tmp_path / f"in{n}"
        source.mkdir()
        (source / "n.txt").write_text(str(n))
        options = PushOptions(image=f"{registry.host}/threads/img{n}:v1", files=(str(source),))
        return push(options).reference

    with ThreadPoolExecutor(max_workers=4) as pool:
        refs = list(pool.map(one, range(8)))
    assert len(set(refs)) == 8
