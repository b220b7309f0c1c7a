#!/usr/bin/env bash
# Builds the documentation site with Sphinx.
#
#   tools/build_docs.sh [OUT]      OUT defaults to docs/_build/html
#
# Makes (or reuses) the virtualenv .venv-docs with Python 3.11, installs the pinned
# docs/requirements.txt and this checkout into it (the API reference is read from the
# installed package), then runs `sphinx-build -W --keep-going -b html docs OUT`.
# Warnings fail the build. The exit status is sphinx-build's.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-docs/_build/html}"
case "$out" in
    /*) ;;
    *) out="$PWD/$out" ;;
esac

# shellcheck source=tools/pythons.sh
source "$root/tools/pythons.sh"
py="$(find_python 3.11)" || { echo "error: Python 3.11 is not installed" >&2; exit 1; }

venv="$root/.venv-docs"
[[ -x "$venv/bin/python" ]] || "$py" -m venv "$venv"
"$venv/bin/python" -m pip install -q -r "$root/docs/requirements.txt"
"$venv/bin/python" -m pip install -q "setuptools>=77" wheel

echo "Installing greenlet into $venv (swift build)..."
(cd "$root" && "$venv/bin/python" -m pip install -q --no-build-isolation --no-deps \
    --force-reinstall .)
rm -rf "$root/build"

cd "$root"
set +e
"$venv/bin/sphinx-build" -W --keep-going -b html docs "$out"
status=$?
set -e
[[ $status -eq 0 ]] && echo "Documentation: $out/index.html"
exit $status
