"""Interop helpers: the real third-party tools the ``interop`` tests run.

On a workstation a missing tool skips the test; in CI (``CI=true``, set by ``.ci/run``, which
installs the tools) a missing tool fails it, so a broken CI image cannot pass by skipping.
"""

from __future__ import annotations

import os
import shutil

import pytest

__all__ = ["require_tool"]


def require_tool(name: str) -> str:
    """Return the path of the program ``name``; skip the test if it is not installed, or fail
    it when the environment says ``CI=true``."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is not installed, and CI=true: .ci/run must install it")
        pytest.skip(f"{name} is not installed (apt-get install it to run this interop test)")
    return path
