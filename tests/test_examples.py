"""The examples are documentation; make sure they keep working and keep
printing exactly what their readers are told to expect."""
import os

import pytest

from _support import run_python

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")

# Every test here runs the examples in child interpreters.
pytestmark = pytest.mark.slow


def run_example(name):
    result = run_python(script=os.path.join(EXAMPLES, name), timeout=120,
                        env={"PYTHONIOENCODING": "utf-8"})
    result.assert_clean()
    assert result.err == "", result.detail
    return result.out


def test_generator_example():
    """The tree walk must come out sorted, and stopping early must be clean."""
    assert run_example("generator.py") == (
        "1. apple\n"
        "2. banana\n"
        "3. cherry\n"
        "4. fig\n"
        "5. kiwi\n"
        "6. mango\n"
        "7. pear\n"
        "8. plum\n"
        "first three: apple, banana, cherry\n"
        "walked 8 words in order without yield\n"
    )


def test_scheduler_example():
    """Round-robin order, late spawns and return values are all deterministic."""
    assert run_example("scheduler.py") == (
        "A: step 1/3\n"
        "B: step 1/2\n"
        "summer: running total 10\n"
        "spawner: adding a late task\n"
        "A: step 2/3\n"
        "B: step 2/2\n"
        "summer: running total 30\n"
        "late: step 1/2\n"
        "spawner: done\n"
        "  [scheduler] spawner finished -> None\n"
        "A: step 3/3\n"
        "  [scheduler] B finished -> 'B counted to 2'\n"
        "summer: running total 60\n"
        "late: step 2/2\n"
        "  [scheduler] A finished -> 'A counted to 3'\n"
        "  [scheduler] summer finished -> 60\n"
        "  [scheduler] late finished -> 'late counted to 2'\n"
        "all tasks complete\n"
    )


@pytest.mark.parametrize("name", ["generator.py", "scheduler.py"])
def test_examples_are_deterministic(name):
    """Nothing in the output may depend on addresses or timing."""
    assert run_example(name) == run_example(name)
