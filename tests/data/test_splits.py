"""The leave-games-out split: no recording of a held-out game ever reaches training, whatever its file or
folder is called (the game is read from the recording)."""

import pytest
from helpers.recordings import write_recording

from aria_cli.common.errors import AriaError
from aria_cli.data.recordings import find_recordings
from aria_cli.data.splits import draw_fold, leave_games_out, link_recordings, recording_games


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "recordings"
    for game, version in [("ab01", "v1"), ("cd02", "v1"), ("ef03", "v2"), ("ls20", "cb3b57cc")]:
        for i in range(2):
            write_recording(root / game / f"{game}.{i}.jsonl", n_steps=6, game_id=f"{game}-{version}", seed=i)
    # Misfiled: a folder named after a training game holding a held-out game's recording, and a file whose
    # name says nothing.
    write_recording(root / "ab01" / "ab01.extra.jsonl", n_steps=6, game_id="ls20-cb3b57cc", seed=5)
    write_recording(root / "misc" / "run-0001.jsonl", n_steps=6, game_id="cd02-v1", seed=6)
    (root / "misc" / "empty.jsonl").write_text("")
    return root


def test_no_held_out_recording_enters_training(corpus):
    train, held = leave_games_out(corpus, ["ls20", "cd02-v1"])
    assert set(train).isdisjoint(held)
    assert {g for f in train for g in recording_games(f)} == {"ab01", "ef03"}
    assert {g for f in held for g in recording_games(f)} == {"ls20", "cd02"}
    assert corpus / "ab01" / "ab01.extra.jsonl" in held
    assert corpus / "misc" / "run-0001.jsonl" in held
    assert corpus / "misc" / "empty.jsonl" not in train + held  # its game is unknown
    assert len(train) == 4 and len(held) == 6


def test_a_linked_training_folder_holds_exactly_the_training_files(corpus, tmp_path):
    train, _ = leave_games_out(corpus, ["ls20"])
    linked = find_recordings(link_recordings(train, tmp_path / "train"))
    assert sorted(p.resolve() for p in linked) == sorted(p.resolve() for p in train)
    assert all("ls20" not in recording_games(p) for p in linked)


def test_the_fold_is_fixed_by_its_seed_and_the_set_of_games():
    games = [f"g{i:03d}" for i in range(100)]
    fold = draw_fold(games, 40, seed=28)
    assert len(set(fold)) == 40 and set(fold) <= set(games)
    assert draw_fold(reversed(games), 40, seed=28) == fold
    assert draw_fold(games, 40, seed=29) != fold
    with pytest.raises(AriaError, match="not enough games"):
        draw_fold(games[:3], 4, seed=0)
