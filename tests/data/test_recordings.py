"""The reader accepts every recording shape of docs/DESIGN.md §4; anything else names file and line."""

import json
from pathlib import Path

import numpy as np
import pytest
from helpers.recordings import synthetic_frames, write_recording

from aria_cli.common.errors import AriaError, RecordingError
from aria_cli.data.recordings import find_recordings, iter_steps, read_recording
from aria_cli.vocab import LOC_NULL


def _line(frame=None, action="ACTION1", data=None, wrapped=True, **extra):
    frame = synthetic_frames(1)[0] if frame is None else frame
    d = {
        "game_id": "abcd-1234",
        "state": "NOT_FINISHED",
        "levels_completed": 0,
        "win_levels": 3,
        "action_input": {"id": action, "data": data or {}},
        "available_actions": [1, 2, 6],
        "frame": [np.asarray(frame).tolist()] if not isinstance(frame, list) else frame,
    }
    d.update(extra)
    return json.dumps({"timestamp": "t", "data": d} if wrapped else d)


def _write(tmp_path: Path, *lines: str, name="r.jsonl", trailing_newline=True) -> Path:
    p = tmp_path / name
    p.write_text("\n".join(lines) + ("\n" if trailing_newline else ""))
    return p


def test_toolkit_recording_with_action_names_parses_into_typed_steps(tmp_path):
    rec = read_recording(write_recording(tmp_path / "a.jsonl", n_steps=9, name_ids=True))
    assert len(rec.steps) == 10
    s = rec.steps[3]
    assert s.game == "tst1" and s.game_id == "tst1-0001"
    assert s.action == 6 and 0 <= s.x < 64 and 0 <= s.y < 64 and s.cell == (s.y // 8) * 8 + s.x // 8
    assert s.frame.dtype == np.uint8 and s.frame.shape == (64, 64)
    assert rec.steps[1].cell == LOC_NULL and rec.steps[1].x is None
    assert s.win_levels == 5 and s.state == "NOT_FINISHED" and s.available_actions == (1, 2, 3, 4, 6)


def test_api_recording_with_int_ids_and_bare_data_lines_parses_the_same(tmp_path):
    a = read_recording(write_recording(tmp_path / "a.jsonl", name_ids=True, wrapped=True))
    b = read_recording(write_recording(tmp_path / "b.jsonl", name_ids=False, wrapped=False))
    assert [(s.action, s.x, s.y) for s in a.steps] == [(s.action, s.x, s.y) for s in b.steps]
    assert all(np.array_equal(x.frame, y.frame) for x, y in zip(a.steps, b.steps, strict=True))


def test_several_frames_per_line_keep_the_last(tmp_path):
    f = synthetic_frames(3)
    rec = read_recording(_write(tmp_path, _line(frame=[f[0].tolist(), f[1].tolist(), f[2].tolist()])))
    assert np.array_equal(rec.steps[0].frame, f[2]) and rec.steps[0].n_frames == 3


def test_preview_files_with_score_and_win_score(tmp_path):
    line = json.loads(_line())
    del line["data"]["levels_completed"], line["data"]["win_levels"]
    line["data"].update(score=2, win_score=7)
    rec = read_recording(_write(tmp_path, json.dumps(line)))
    assert (rec.steps[0].levels_completed, rec.steps[0].win_levels) == (2, 7)


def test_trailing_summary_line_without_a_frame_is_skipped_and_counted(tmp_path):
    rec = read_recording(write_recording(tmp_path / "a.jsonl", n_steps=4, summary_line=True))
    assert len(rec.steps) == 5 and rec.skipped_summary == 1


def test_episode_pairs_each_frame_with_the_next_lines_action(tmp_path):
    rec = read_recording(write_recording(tmp_path / "a.jsonl", n_steps=14, level_every=7))
    ep = rec.episode()
    assert ep.frames.shape == (15, 64, 64) and ep.n_actions == 14
    assert list(ep.action_types) == [s.action for s in rec.steps[1:]]
    assert list(np.flatnonzero(ep.level_up)) == [6, 13]  # the actions that produced lines 7 and 14


def test_an_opening_logged_twice_makes_the_same_episode_as_once(tmp_path):
    # The toolkit logs the opening state when the environment is made and again for the first RESET.
    lines = write_recording(tmp_path / "once.jsonl", n_steps=6).read_text().splitlines()
    twice = tmp_path / "twice.jsonl"
    twice.write_text("\n".join([lines[0], *lines]) + "\n")
    once, again = read_recording(tmp_path / "once.jsonl").episode(), read_recording(twice).episode()
    assert np.array_equal(once.frames, again.frames) and list(once.action_types) == list(again.action_types)
    # A RESET later in the game that leaves the frame as it was is the player's action, and stays.
    reset = json.loads(lines[2])
    reset["data"]["action_input"]["id"] = "RESET"
    later = tmp_path / "later.jsonl"
    later.write_text("\n".join([*lines[:3], json.dumps(reset), *lines[3:]]) + "\n")
    ep = read_recording(later).episode()
    assert ep.n_actions == 7 and ep.action_types[2] == 0 and np.array_equal(ep.frames[2], ep.frames[3])


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", "not valid JSON"),
        (_line(frame=np.zeros((32, 64), dtype=int)), "frame is 32x64, expected 64x64"),
        (_line(frame=np.full((64, 64), 16)), "frame has colour 16, outside 0-15"),
        (_line(frame=np.full((64, 64), -1)), "frame has colour -1, outside 0-15"),
        (_line(action="ACTION6"), "click (ACTION6) without a valid 'x' coordinate"),
        (_line(action=6, data={"x": 3, "y": 64}), "click y=64 is outside 0-63"),
        (_line(action="ACTION9"), "unknown action id 'ACTION9'"),
        (_line(action=12), "unknown action id 12"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path, line, message):
    p = _write(tmp_path, _line(), line, _line())
    with pytest.raises(RecordingError) as e:
        read_recording(p)
    assert str(e.value).startswith(f"{p}:2: {message}")
    assert "\n" not in str(e.value)


def test_skip_bad_continues_past_bad_lines_and_counts_them(tmp_path):
    p = _write(tmp_path, _line(), "{oops", _line(frame=np.full((64, 64), 99)), _line())
    rec = read_recording(p, skip_bad=True)
    assert len(rec.steps) == 2 and len(rec.bad_lines) == 2
    assert [e.line for e in rec.bad_lines] == [2, 3]


def test_truncated_last_line_is_reported_and_skip_bad_keeps_the_rest(tmp_path):
    cut = _line()[:5000]
    p = _write(tmp_path, _line(), _line(), cut, trailing_newline=False)
    with pytest.raises(RecordingError, match=r":3: truncated last line"):
        read_recording(p)
    assert len(read_recording(p, skip_bad=True).steps) == 2


def test_missing_file_is_one_clear_error(tmp_path):
    with pytest.raises(AriaError, match="no such file"):
        read_recording(tmp_path / "nope.jsonl")


def test_empty_file_is_one_clear_error(tmp_path):
    p = tmp_path / "empty.jsonl"
    p.write_text("")
    with pytest.raises(AriaError, match="empty recording"):
        read_recording(p)


def test_iter_steps_streams_without_reading_the_whole_file(tmp_path):
    p = write_recording(tmp_path / "a.jsonl", n_steps=30)
    it = iter_steps(p)
    assert next(it).line == 1 and next(it).line == 2


def test_find_recordings_searches_recursively_and_says_where_it_looked(recording_dir, tmp_path):
    assert len(find_recordings(recording_dir)) == 6
    with pytest.raises(AriaError, match="no recordings"):
        find_recordings(tmp_path / "empty")


def test_find_recordings_follows_linked_folders_without_looping(recording_dir, tmp_path):
    assembled = tmp_path / "assembled"
    assembled.mkdir()
    (assembled / "linked").symlink_to(recording_dir, target_is_directory=True)
    (assembled / "loop").symlink_to(assembled, target_is_directory=True)  # must not recurse forever
    found = [p.relative_to(assembled / "linked") for p in find_recordings(assembled)]
    assert found == [p.relative_to(recording_dir) for p in find_recordings(recording_dir)]


def _grid_with(value, at=(5, 7)) -> list:
    grid = synthetic_frames(1)[0].tolist()
    grid[at[0]][at[1]] = value
    return grid


@pytest.mark.parametrize(
    "frame, message",
    [
        ([_grid_with(3.5)], "frame has colour 3.5, not an integer 0-15"),
        ([_grid_with(True)], "frame has colour true, not an integer 0-15"),
        ([_grid_with(False, at=(63, 63))], "frame has colour false, not an integer 0-15"),
        ([_grid_with("3")], 'frame has colour "3", not an integer 0-15'),
        ([5], "frame is a single value 5, expected 64x64"),
        ([[1, 2, 3]], "frame is a grid of 3, expected 64x64"),
    ],
)
def test_a_colour_that_is_not_a_whole_number_is_an_error_not_rounded(tmp_path, frame, message):
    # numpy alone would read 3.5 as 3 and true as 1, and describe a scalar frame as "frame is , ..."
    p = _write(tmp_path, _line(), _line(frame=frame), _line())
    with pytest.raises(RecordingError) as e:
        read_recording(p)
    assert str(e.value) == f"{p}:2: {message}"


def test_whole_number_floats_are_colours(tmp_path):
    frame = synthetic_frames(1)[0]
    rec = read_recording(_write(tmp_path, _line(frame=[frame.astype(float).tolist()])))
    assert np.array_equal(rec.steps[0].frame, frame)
