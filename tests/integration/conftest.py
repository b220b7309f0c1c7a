"""The integration tests: gevent, eventlet and SQLAlchemy driven through this greenlet.

Every test here is marked ``integration`` (and ``slow``), so that
``pytest -m "not integration"`` leaves them out. Their frameworks come from
``requirements.txt``; where a framework is not installed, its tests skip.
"""
import pytest


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "/integration/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.slow)
