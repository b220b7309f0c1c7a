#!/usr/bin/env bash
# The wheel test: what a user without Swift gets from a wheel.
#
# usage: tools/check_wheel.sh [VER...]     (default: 3.11)
#
# For each version: tools/build_wheels.sh builds the sdist, a wheel from the unpacked sdist,
# and auditwheel's repaired manylinux wheel. Then this checks that
#   1. auditwheel grafted no library into the wheel (there is no greenlet.libs/): the
#      extension needs nothing beyond the system libraries manylinux allows;
#   2. in a fresh virtualenv, on a PATH from which every directory holding a `swift` was
#      removed, the repaired wheel installs from the file alone (--no-index);
#   3. there, examples/generator.py prints what it should, and the tests pass: those of
#      `pytest -m "not slow and not integration"` by default, or the whole suite less the
#      integration tests with GREENLET_WHEEL_TESTS=all.
# Needs PyPI for the build tools and pytest.  Exit status 0 only if every version passed.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GREENLET_ROOT="$ROOT"
# shellcheck source=tools/pythons.sh
source "$ROOT/tools/pythons.sh"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore

VERSIONS="${*:-3.11}"
case "${GREENLET_WHEEL_TESTS:-subset}" in
    subset) MARKERS="not slow and not integration" ;;
    all) MARKERS="not integration" ;;
    *) echo "GREENLET_WHEEL_TESTS must be 'subset' or 'all'"; exit 2 ;;
esac

work="$(mktemp -d "${TMPDIR:-/tmp}/greenlet-wheel-check.XXXXXX")" || exit 2
trap 'rm -rf "$work"' EXIT

# PATH without any directory that has a swift in it.
NO_SWIFT_PATH=""
IFS=: read -ra path_dirs <<< "$PATH"
for dir in "${path_dirs[@]}"; do
    [[ -n "$dir" && ! -e "$dir/swift" ]] && NO_SWIFT_PATH="${NO_SWIFT_PATH:+$NO_SWIFT_PATH:}$dir"
done

if ! GREENLET_WHEEL_PYTHONS="$VERSIONS" GREENLET_WHEELHOUSE="$work/wheelhouse" \
        bash "$ROOT/tools/build_wheels.sh"; then
    echo "FAILED: tools/build_wheels.sh"
    exit 1
fi

failed=0
for ver in $VERSIONS; do
    echo
    echo "=== the repaired wheel for Python $ver, without swift"
    tag="cp${ver%t}"; tag="${tag/./}"; [[ "$ver" == *t ]] && tag="${tag}t"
    whl="$(ls "$work"/wheelhouse/greenlet-*-"$tag"-"$tag"-manylinux*.whl 2>/dev/null)"
    if [[ -z "$whl" ]]; then
        echo "FAILED: no manylinux wheel for $ver in the wheelhouse"; failed=1; continue
    fi
    echo "wheel: $(basename "$whl")"
    if unzip -l "$whl" | grep -q "greenlet\.libs/"; then
        echo "FAILED: auditwheel had to graft libraries into the wheel:"
        unzip -l "$whl" | grep "greenlet\.libs/"
        failed=1; continue
    fi
    py="$(find_python "$ver")" || { echo "FAILED: Python $ver vanished"; failed=1; continue; }
    venv="$work/venv-$ver"
    if ! PATH="$NO_SWIFT_PATH" bash -c '
            set -eu
            if command -v swift; then echo "swift is still on PATH"; exit 1; fi
            "$1" -m venv "$2"
            "$2/bin/python" -m pip install -q --no-index --no-deps "$3"
            "$2/bin/python" -m pip install -q pytest
            cd "$4"
            out="$("$2/bin/python" examples/generator.py)"
            printf "%s\n" "$out"
            # The example walks a tree of eight words in order, from inside a greenlet.
            [[ "$out" == *"walked 8 words in order without yield"* ]] \
                || { echo "unexpected output from examples/generator.py"; exit 1; }
            "$2/bin/python" -c "import greenlet, os; print(\"installed:\", os.path.dirname(greenlet.__file__))"
            GREENLET_TEST_EXPECT=this-project "$2/bin/python" -m pytest -q -p no:cacheprovider -m "$5" tests
        ' _ "$py" "$venv" "$whl" "$ROOT" "$MARKERS"; then
        echo "FAILED: Python $ver"; failed=1; continue
    fi
    echo "PASSED: Python $ver"
done
exit "$failed"
