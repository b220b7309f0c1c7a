"""Shared pytest configuration for the greenlet test-suite.

The suite is written against the public behaviour of upstream greenlet 3.x,
so it can be run against either upstream (for validation) or this project's
Swift implementation.  The report header says which one was imported, which
saves a lot of confusion when PYTHONPATH is involved.
"""
import os

import greenlet


def pytest_report_header(config):
    where = os.path.dirname(os.path.abspath(greenlet.__file__))
    return "greenlet %s from %s" % (greenlet.__version__, where)
