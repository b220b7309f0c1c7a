"""Running a framework scenario in a fresh interpreter, for the integration tests.

Frameworks that monkey-patch or start a hub must never do so inside the pytest
process, so each scenario is a script run with the same interpreter and
environment. It prints ``key=value`` lines, which come back as a dict.
"""
import os
import subprocess
import sys
import textwrap

import greenlet._greenlet

# Generous: the slowest scenario takes about a second on an idle machine.
SUBPROCESS_TIMEOUT = 60

# Every scenario reports which greenlet it imported, and that it got to the end.
REPORT_GREENLET = 'import greenlet._greenlet\nprint("greenlet_file=%s" % greenlet._greenlet.__file__)\n'


def run_scenario(tmp_path, prelude, body, drop_env=()):
    """Run ``prelude`` + ``body`` in a new interpreter; return ({key: value}, detail).

    Fails the test if the script fails, stops early, or used a greenlet other
    than the one this pytest process imported.
    """
    script = tmp_path / "scenario.py"
    script.write_text(prelude + REPORT_GREENLET + textwrap.dedent(body) + '\nprint("done=yes")\n')
    env = {k: v for k, v in os.environ.items() if k not in drop_env}
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=str(tmp_path), env=env,
        capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)
    detail = "exit status %s\n--- stdout\n%s\n--- stderr\n%s" % (
        proc.returncode, proc.stdout, proc.stderr)
    assert proc.returncode == 0, detail
    out = {}
    for line in proc.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key] = value
    assert out.get("done") == "yes", detail
    assert out["greenlet_file"] == greenlet._greenlet.__file__, detail
    return out, detail
