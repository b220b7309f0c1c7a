# Interpreter discovery shared by tools/run_tests.sh and .ci/run: source it, do not run it.
#
#   supported_pythons      prints the versions tools/swift_flags.py lists, one line
#   find_python VER        prints the interpreter for VER ("3.11", "3.13t"), status 1 if none
#   install_python VER     installs a missing VER once, where ../shared/pythons can
#
# One discovery order everywhere, so that the project's tests and upstream's suite run
# on the same patch release: the newest pyenv-installed X.Y.* (X.Y.*t) first, then
# pythonX.Y[t] on PATH.

# The directory of this file's repository.
GREENLET_ROOT="${GREENLET_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"

supported_pythons() {
    local py
    for py in python3 python; do
        command -v "$py" >/dev/null 2>&1 || continue
        "$py" "$GREENLET_ROOT/tools/swift_flags.py" --versions && return 0
    done
    echo "error: no python3 on PATH to read tools/swift_flags.py" >&2
    return 1
}

# Whether the interpreter $1 runs and is the version $2 ("3.13", or "3.13t" for a
# free-threaded build). A free-threaded install also has a `python3.13` beside its
# `python3.13t`, in a folder that the glob for 3.13 matches, so the name alone is not enough.
_python_is() {
    local tag
    tag="$("$1" -c 'import sys, sysconfig; print("%d.%d%s" % (sys.version_info[:2] + ("t" if sysconfig.get_config_var("Py_GIL_DISABLED") else "",)))' 2>/dev/null)" \
        && [[ "$tag" == "$2" ]]
}

find_python() {
    local ver="$1" minor="${1%t}" cand root
    if command -v pyenv >/dev/null 2>&1 && root="$(pyenv root 2>/dev/null)" && [[ -d "$root/versions" ]]; then
        while read -r cand; do
            [[ -n "$cand" ]] && _python_is "$cand" "$ver" && { echo "$cand"; return 0; }
        done < <(ls -d "$root"/versions/"$minor".*"${ver#"$minor"}"/bin/python"$ver" 2>/dev/null | sort -rV)
    fi
    cand="$(command -v "python$ver" 2>/dev/null)" || return 1
    _python_is "$cand" "$ver" || return 1   # e.g. a pyenv shim for a version not installed
    # Resolve shims and symlinks to the real interpreter.
    "$cand" -c 'import sys; print(sys.executable)'
}

# Installs a missing interpreter once, saying so, with the scripts of ../shared/pythons
# (the interpreter installers that sit beside the clone on the project's machines) where
# there is one for that version.  GREENLET_INSTALL_PYTHONS=0 turns this off.  Status 1
# when nothing was installed; the caller then reports the version as not installed.
install_python() {
    local ver="$1" pythons="$GREENLET_ROOT/../shared/pythons"
    [[ "${GREENLET_INSTALL_PYTHONS:-1}" != 0 ]] || return 1
    case "$ver" in
        3.14|3.15)
            [[ -x "$pythons/debian-python.sh" ]] || return 1
            echo "Python $ver is not installed: installing it once with $pythons/debian-python.sh"
            "$pythons/debian-python.sh" "$ver" ;;
        3.13t)
            [[ -x "$pythons/build-cpython.sh" ]] || return 1
            echo "Python 3.13t is not installed: building it once with $pythons/build-cpython.sh (about 6 min)"
            DEBIAN_SUITE=testing "$pythons/build-cpython.sh" 3.13 --freethreaded ;;
        *) return 1 ;;
    esac
}

# install_into_venv VER VENV LOG: makes the virtualenv VENV for VER (once) with pytest and
# the build tools, and installs this checkout into it, the build's output going to LOG.
# The caller's environment picks the kind of build (GREENLET_SWIFT_FLAGS, GREENLET_SANITIZE).
# Status 1, saying why, on failure.  For tools/memcheck.sh and tools/asan.sh.
install_into_venv() {
    local ver="$1" venv="$2" log="$3" py
    py="$(find_python "$ver")" || { echo "Python $ver is not installed"; return 1; }
    [[ -x "$venv/bin/python" ]] || "$py" -m venv "$venv" || return 1
    "$venv/bin/python" -m pip install -q "setuptools>=77" wheel pytest >/dev/null || return 1
    if ! (cd "$GREENLET_ROOT" && "$venv/bin/python" -m pip install -q --no-deps \
            --no-build-isolation --force-reinstall . > "$log" 2>&1); then
        echo "the build failed ($log)"; return 1
    fi
    rm -rf "$GREENLET_ROOT/build"
}
