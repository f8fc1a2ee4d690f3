"""Shared fixtures for the unit and integration tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def store(tmp_path):
    """A fresh store folder per test."""
    return tmp_path / "scans"
