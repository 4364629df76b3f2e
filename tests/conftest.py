"""Shared fixtures: seeding, and the optional real Tate sample."""

import os
import random
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def find_tate_dir():
    """Return the real Tate sample folder, or None when this checkout has none.

    ``$ARTMEDIUM_TATE_DIR`` wins; otherwise ``../shared/data/tate`` beside the repository
    (where CI lays it). A user's clone has neither, and the tests that need it skip.
    """
    env = os.environ.get("ARTMEDIUM_TATE_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(REPO_ROOT.parent / "shared" / "data" / "tate")
    for path in candidates:
        if (path / "artwork_data.csv").is_file() and (path / "images").is_dir():
            return path
    return None


@pytest.fixture(scope="session")
def tate_dir():
    """Path of the real Tate sample; skips the test when it is absent."""
    path = find_tate_dir()
    if path is None:
        pytest.skip(
            "real Tate sample not found: set $ARTMEDIUM_TATE_DIR or place it at "
            "../shared/data/tate beside the repository"
        )
    return path


@pytest.fixture(autouse=True)
def seeds_fixed():
    """Every test starts from the same random state (skorch's conftest habit)."""
    import torch

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield
