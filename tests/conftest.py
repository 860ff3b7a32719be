"""Fixtures shared by the whole suite; the helpers they use live in tests/helpers/ and are imported as modules."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.recordings import write_recording


@pytest.fixture
def recording_dir(tmp_path: Path) -> Path:
    """A --data folder with two games, three recordings each."""
    d = tmp_path / "recordings"
    for g, gid in enumerate(["tsta-0001", "tstb-0002"]):
        for i in range(3):
            write_recording(d / gid.split("-")[0] / f"ep{i}.jsonl", n_steps=24, game_id=gid, seed=10 * g + i)
    return d


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory):
    """A trained miniature pipeline (see tests/helpers/pipeline.py), shared by the policy, eval and agent tests."""
    from helpers.pipeline import build_pipeline

    return build_pipeline(tmp_path_factory.mktemp("pipeline"))


@pytest.fixture(scope="session")
def learned_models(pipeline):
    """The miniature pipeline's three models, loaded for play (the agents only read them)."""
    from aria_cli.agents.contexts import LearnedModels

    return LearnedModels.load(pipeline.checkpoints, device="cpu")
