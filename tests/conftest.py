"""Shared fixtures: small configs that run in seconds, and the shared practice table."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import SHARED_TABLE, small_config

from ccgabm.config import Config


@pytest.fixture(scope="session", autouse=True)
def _world_cache_in_a_scratch_folder(tmp_path_factory) -> None:
    """The start-up cache of the tests (and of the processes they start) is their own, not the
    user's ~/.cache/ccgabm."""
    os.environ.setdefault("CCGABM_CACHE", str(tmp_path_factory.mktemp("ccgabm-cache")))


@pytest.fixture
def small_cfg() -> Config:
    return small_config()


@pytest.fixture
def shared_table() -> Path:
    if not SHARED_TABLE.is_file():
        pytest.skip(f"shared practice table not found at {SHARED_TABLE}")
    return SHARED_TABLE
