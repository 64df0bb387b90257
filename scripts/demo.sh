#!/usr/bin/env bash
# Set up imgpkg-pure and run the demo: build a bundle and an image from files
# into an OCI image layout on disk (no registry, no network), show that the
# result is reproducible, and let skopeo read it when skopeo is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q -c requirements.lock -e . >.venv/install.log 2>&1 || { cat .venv/install.log; exit 1; }

out=demo-out
rm -rf "$out"; mkdir -p "$out"
run() { echo "\$ imgpkg-pure $*"; .venv/bin/imgpkg-pure "$@"; echo; }

# A bundle: config files plus .imgpkg/images.yml (an ImagesLock).
run push --tty -b "oci:$out/layout:bundle-v1" -f examples/demo-bundle
# A plain image holding any files.
run push --tty -i "oci:$out/layout:app-v1" -f tests/fixtures/imgpkg/src/app
# Reproducible: the same files pushed again, elsewhere, give the same digest.
run push -b "oci:$out/again:v1" -f examples/demo-bundle
a=$(.venv/bin/imgpkg-pure push -b "oci:$out/a:v1" -f examples/demo-bundle)
b=$(.venv/bin/imgpkg-pure push -b "oci:$out/b:v1" -f examples/demo-bundle)
[ "${a##*@}" = "${b##*@}" ] && echo "reproducible: both pushes gave ${b##*@}" | tr -d "'"

echo; echo "OCI image layout written to $out/layout:"
find "$out/layout" -type f | sort
echo; echo "index.json:"; cat "$out/layout/index.json"; echo

if command -v skopeo >/dev/null 2>&1; then
  echo; echo "\$ skopeo inspect oci:$out/layout:bundle-v1"
  skopeo inspect "oci:$out/layout:bundle-v1"
  echo "\$ skopeo copy oci:$out/layout:app-v1 dir:$out/skopeo-dir"
  skopeo copy -q "oci:$out/layout:app-v1" "dir:$out/skopeo-dir" && ls "$out/skopeo-dir"
else
  echo; echo "(skopeo not installed: 'apt-get install skopeo' to see it read the layout)"
fi
