#!/usr/bin/env bash
# Runs the project's tests against an AddressSanitizer build of the extension
# (GREENLET_SANITIZE=address: Swift's -sanitize=address, clang's for the C shim, and the
# fiber annotations at each switch). Not part of CI. docs/memory-checks.md says what it
# checks and how to read a report.
#
# usage: tools/asan.sh [VERSION...]        (default: 3.11 3.13)
#
# CPython is not instrumented, but with PYTHONMALLOC=malloc every allocation goes through
# the ASan runtime (preloaded, as the interpreter was not linked with it), so a read or
# write past any object, or into freed memory, from the extension or from CPython, stops
# the process with a report. Child interpreters started by the tests inherit all of it.
# Reports go to .asan/X.Y/; none there and the tests passing means clean.
#
# Then upstream's whole suite runs the same way, through ../shared/conformance/upstream_suite.sh
# (its C-API test extensions included).
#
# Environment:
#   GREENLET_ASAN_PYTEST    pytest arguments (default: the whole suite less integration tests)
#   GREENLET_ASAN_UPSTREAM  "0" skips upstream's suite
set -uo pipefail
shopt -s nullglob

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2
GREENLET_ROOT="$ROOT"
# shellcheck source=tools/pythons.sh
source "$ROOT/tools/pythons.sh"

VERSIONS=("$@")
[[ ${#VERSIONS[@]} -gt 0 ]] || VERSIONS=(3.11 3.13)
PYTEST_ARGS="${GREENLET_ASAN_PYTEST:--q -p no:cacheprovider -m 'not integration' tests}"
SWIFT="${GREENLET_SWIFT:-swift}"
UPSTREAM_SUITE="$ROOT/../shared/conformance/upstream_suite.sh"

# The ASan runtime of the Swift toolchain's clang, the one the extension is built with.
resource_dir="$(dirname "$(command -v "$SWIFT")")/../lib/swift/clang"
RUNTIME="$(ls "$resource_dir"/lib/linux/libclang_rt.asan-x86_64.so 2>/dev/null | head -1)"
[[ -n "$RUNTIME" ]] || { echo "asan: no libclang_rt.asan-x86_64.so under $resource_dir"; exit 2; }

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore

status=0
for ver in "${VERSIONS[@]}"; do
    out="$ROOT/.asan/$ver"
    rm -rf "$out"; mkdir -p "$out"
    venv="$ROOT/.venv-asan-$ver"
    echo "== $ver: AddressSanitizer build into $venv"
    GREENLET_SANITIZE=address install_into_venv "$ver" "$venv" "$out/build.log" || { echo "asan: $ver skipped"; status=1; continue; }

    # The canary: a write past a heap block from uninstrumented code must be reported, or
    # the runtime is not in place and a silent run would prove nothing.
    LD_PRELOAD="$RUNTIME" PYTHONMALLOC=malloc ASAN_OPTIONS="detect_leaks=0:log_path=$out/canary" \
        "$venv/bin/python" -c 'import ctypes; b = ctypes.create_string_buffer(64); ctypes.memset(b, 1, 80)' \
        > /dev/null 2>&1
    if grep -qs "heap-buffer-overflow" "$out"/canary.*; then
        rm -f "$out"/canary.*
    else
        echo "asan: the runtime did not catch a heap overflow; is $RUNTIME preloaded?"
        status=1; continue
    fi

    echo "== $ver: the project's tests with ASan (reports in $out)"
    started=$SECONDS
    # Leaks are memcheck's to judge (CPython does not free everything at exit).
    eval "LD_PRELOAD=\"$RUNTIME\" PYTHONMALLOC=malloc \
        ASAN_OPTIONS=\"detect_leaks=0:log_path=$out/asan:halt_on_error=1:detect_stack_use_after_return=0\" \
        \"$venv/bin/python\" -m pytest $PYTEST_ARGS" > "$out/pytest.out" 2>&1
    rc=$?
    echo "   pytest: $(tail -1 "$out/pytest.out") ($((SECONDS - started)) s)"

    if [[ "${GREENLET_ASAN_UPSTREAM:-1}" != 0 && -x "$UPSTREAM_SUITE" ]]; then
        echo "== $ver: upstream's suite with ASan"
        site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
        started=$SECONDS
        # The whole script runs with the runtime preloaded: the compilers and pip it may run
        # to prepare its cache only see ASan's interceptors, and each test's interpreter
        # gets all of it.
        LD_PRELOAD="$RUNTIME" PYTHONMALLOC=malloc \
            ASAN_OPTIONS="detect_leaks=0:log_path=$out/asan:halt_on_error=1:detect_stack_use_after_return=0" \
            UPSTREAM_SUITE_JSON="$out/upstream.json" \
            bash "$UPSTREAM_SUITE" "$venv/bin/python" "$site" > "$out/upstream.out" 2>&1
        echo "   upstream: $(tail -1 "$out/upstream.out") ($((SECONDS - started)) s)"
        # What fails must be what tools/upstream_expected.txt lists, as in CI.
        if [[ -f "$out/upstream.json" ]] && python3 "$ROOT/tools/upstream_verdict.py" "$out/upstream.json" \
                > "$out/upstream-verdict.txt" 2>&1; then
            echo "   upstream verdict: as expected"
        else
            echo "   upstream verdict: NOT as expected ($out/upstream-verdict.txt)"
            rc=1
        fi
    fi

    reports=("$out"/asan.*)
    if [[ ${#reports[@]} -gt 0 ]]; then
        echo "asan: ${#reports[@]} report(s); the first:"
        head -40 "${reports[0]}"
        status=1
    elif [[ $rc -ne 0 ]]; then
        echo "asan: no report, but tests failed ($out/pytest.out, $out/upstream.out)"
        status=1
    else
        echo "asan: clean (no report)"
    fi
done
exit $status
