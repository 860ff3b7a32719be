"""The leave-games-out split: no recording of a held-out game ever reaches training, whatever its file or
folder is called (the game is read from the recording)."""

import json

import pytest
from helpers.recordings import write_recording
from typer.testing import CliRunner

from aria_cli.cli import app
from aria_cli.common.errors import AriaError
from aria_cli.data.recordings import find_recordings
from aria_cli.data.splits import draw_fold, leave_games_out, link_recordings, named_games, recording_games

runner = CliRunner()


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


def _links(folder):
    return sorted(p.resolve() for p in find_recordings(folder))


def test_aria_split_writes_both_sides_as_links_and_the_held_out_games_for_bench(corpus, tmp_path):
    out = tmp_path / "split"
    r = runner.invoke(app, ["split", str(corpus), "--game", "ls20", "--game", "cd02-v1", "--out", str(out)])
    assert r.exit_code == 0, r.output
    train, held = leave_games_out(corpus, ["ls20", "cd02"])
    assert _links(out / "train") == sorted(p.resolve() for p in train)
    assert _links(out / "held-out") == sorted(p.resolve() for p in held)
    assert (out / "held-out-games.txt").read_text() == "cd02\nls20\n"
    info = json.loads((out / "split.json").read_text())
    assert info["train_games"] == ["ab01", "ef03"] and info["unreadable_files"] == 1  # misc/empty.jsonl
    assert (info["train_files"], info["held_out_files"], info["seed"]) == (4, 6, None)
    # The games file is what `aria bench --games-file` reads.
    assert [g for g, _ in named_games([], out / "held-out-games.txt")] == ["cd02", "ls20"]


def test_a_drawn_fold_is_fixed_by_its_seed_and_a_new_split_replaces_the_old(corpus, tmp_path):
    out = tmp_path / "split"
    folds = []
    for seed in (3, 3):
        r = runner.invoke(app, ["split", str(corpus), "--hold-out", "2", "--seed", str(seed), "--out", str(out)])
        assert r.exit_code == 0, r.output
        folds.append((out / "held-out-games.txt").read_text().split())
    assert folds[0] == folds[1] == draw_fold(["ab01", "cd02", "ef03", "ls20"], 2, 3)
    trained = {g for f in find_recordings(out / "train") for g in recording_games(f)}
    assert trained.isdisjoint(folds[0]) and len(trained) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recordings", "split"]  # no staging left behind


@pytest.mark.parametrize("args,message", [
    (["--game", "zz99"], "--game zz99: no recording under"),
    (["--games-file", "GAMES"], "GAMES:2: no recording under"),
    (["--hold-out", "4"], "--hold-out 4: the recordings hold 4 games"),
    ([], "nothing to hold out"),
    (["--hold-out", "1", "--game", "ls20"], "not both"),
    (["--game", "ls20", "--out", "NOTSPLIT"], "is not a split folder"),
])
def test_bad_split_options_are_one_line_errors_and_write_nothing(corpus, tmp_path, args, message):
    (tmp_path / "games.txt").write_text("ls20\nzz99  # not in the corpus\n")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    args = [str(tmp_path / "games.txt") if a == "GAMES" else str(mine) if a == "NOTSPLIT" else a for a in args]
    out = ["--out", str(tmp_path / "split")] if "--out" not in args else []
    r = runner.invoke(app, ["split", str(corpus), *args, *out])
    assert r.exit_code == 1 and message.replace("GAMES", str(tmp_path / "games.txt")) in r.output, r.output
    assert "Traceback" not in r.output
    assert not (tmp_path / "split").exists() and (mine / "notes.txt").read_text() == "keep me"
