"""Shared fixtures: small configs that run in seconds, and the shared practice table."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import SHARED_TABLE, small_config

from ccgabm.config import Config


@pytest.fixture
def small_cfg() -> Config:
    return small_config()


@pytest.fixture
def shared_table() -> Path:
    if not SHARED_TABLE.is_file():
        pytest.skip(f"shared practice table not found at {SHARED_TABLE}")
    return SHARED_TABLE
