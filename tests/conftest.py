"""Shared test set-up.

Blender's teardown at interpreter exit can hang or crash after all work is done
(a deadlock between its delayed-close thread and a global destructor in bpy 4.2–4.5).
The session therefore ends with ``os._exit`` and pytest's own exit status, so a hang or
crash in teardown can neither turn a green run red nor a red run green.
"""
import os
import sys

import pytest

_exit_status = {}


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    _exit_status["value"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    if "bpy" in sys.modules and "value" in _exit_status:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status["value"])
