#!/usr/bin/env bash
# Push the same generated tree with imgpkg-pure installed under several CPython
# versions (those found on this machine) and compare the manifest digests with
# the golden one pinned in tests/cli/test_push_layout.py.
set -euo pipefail
cd "$(dirname "$0")/.."
golden=sha256:188142d4d81a1c5ef0da1d97884a88ff3c5e73ff0eae6ec66f0a5932e2c7a085
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
.venv/bin/python - "$work/big" <<'PY'
import os, sys
from pathlib import Path
sys.path.insert(0, ".")
from tests.cli.helpers import make_tree, stream_bytes, stream_text
tree = make_tree(Path(sys.argv[1]), {"conf/a.yml": stream_text("a", 3_000_000),
                                      "bin/tool": stream_bytes("b", 1_500_000),
                                      "README": b"hello\n"})
for root, _dirs, files in os.walk(tree):
    os.chmod(root, 0o755)
    for name in files:
        os.chmod(Path(root) / name, 0o644)
PY
status=0
# pyenv shims exist for versions that are installed but not selected: ask each one to run.
for name in python3.11 python3.12 python3.13; do
  py=$name
  "$py" -c 'pass' >/dev/null 2>&1 || {
    for candidate in "$HOME"/.pyenv/versions/"${name#python}".*/bin/python; do
      [ -x "$candidate" ] && py=$candidate && break
    done
  }
  "$py" -c 'pass' >/dev/null 2>&1 || { echo "$name: not installed, skipped"; continue; }
  "$py" -m venv "$work/venv-$name"
  "$work/venv-$name/bin/pip" install -q -c requirements.lock . >"$work/pip-$name.log" 2>&1 \
    || { echo "$name: install failed"; cat "$work/pip-$name.log"; status=1; continue; }
  got=$("$work/venv-$name/bin/imgpkg-pure" push -i "oci:$work/out-$name:v1" -f "$work/big" | sed "s/.*@//; s/'//")
  if [ "$got" = "$golden" ]; then echo "$name: $got (matches)"; else echo "$name: $got (DIFFERS)"; status=1; fi
done
exit $status
