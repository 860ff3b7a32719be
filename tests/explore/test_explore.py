"""The online explorer: objects, state keys that ignore counters, the state graph, the change predictor."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from helpers.explore_games import ColourClicks, CounterMaze, HiddenCell, LavaMaze, Obs, play, tiled_board

from aria_cli.explore import (
    ActionHistory,
    Candidate,
    ChangePredictor,
    ExploreConfig,
    Explorer,
    FrameStore,
    PredictorConfig,
    StateGraph,
    Transition,
    VolatileMask,
    action_candidates,
    segment,
)
from aria_cli.explore.change_predictor import candidate_features
from aria_cli.explore.objects import click_candidates, grid_clicks
from aria_cli.vocab import CLICK

# ---------------------------------------------------------------------------------------------- objects


def frame_with_objects() -> tuple[np.ndarray, list[tuple[slice, slice]]]:
    """Background 0, four objects (two of the same colour, one an L, one a ring) and a HUD strip."""
    f = np.zeros((64, 64), dtype=np.uint8)
    objects = [
        (slice(5, 9), slice(5, 9)),  # 4x4, colour 2
        (slice(5, 9), slice(20, 24)),  # 4x4, colour 2 again: a separate object
    ]
    f[5:9, 5:9] = 2
    f[5:9, 20:24] = 2
    f[30:40, 30:32] = 7  # an L: its centroid lies outside it
    f[38:40, 30:40] = 7
    f[15:22, 40:47] = 9  # a ring: its centroid is the hole
    f[17:20, 42:45] = 0
    f[60:64, :] = 3
    return f, objects


def test_segmentation_yields_one_click_per_object():
    f, _ = frame_with_objects()
    cands, seg = action_candidates(f, available_actions=(6,))
    # regions: background, two colour-2 squares, the L, the ring, the hole in the ring, the HUD strip
    assert seg.n == 7
    # objects: the ring and the hole it encloses are one
    assert len(cands) == 6
    assert len({c.region for c in cands}) == 6
    assert sorted(c.colour for c in cands) == [0, 2, 2, 3, 7, 9]


def test_every_click_lands_inside_its_object():
    f, _ = frame_with_objects()
    seg = segment(f)
    for c in click_candidates(seg):
        assert seg.part_of[seg.labels[c.y, c.x]] == c.region


def test_an_outlined_object_is_clicked_in_its_middle():
    f, _ = frame_with_objects()
    seg = segment(f)
    ring = next(c for c in click_candidates(seg) if c.colour == 9)
    assert (ring.x, ring.y) == (43, 18)  # the centre of the hole, inside the ring's outline


def test_cells_inside_a_panel_stay_separate_objects():
    f = np.zeros((64, 64), dtype=np.uint8)
    f[10:40, 10:40] = 7  # a panel
    for r in range(3):
        for c in range(3):
            f[12 + 9 * r : 18 + 9 * r, 12 + 9 * c : 18 + 9 * c] = 6
    cands = click_candidates(segment(f))
    assert sum(c.colour == 6 for c in cands) == 9
    assert sum(c.colour == 7 for c in cands) == 1


def test_regions_are_four_connected():
    f = np.zeros((64, 64), dtype=np.uint8)
    f[10, 10] = f[11, 11] = 4  # touching only diagonally: two objects
    seg = segment(f)
    assert sorted(seg.size[seg.colour == 4].tolist()) == [1, 1]


def test_background_is_offered_last_and_small_objects_first():
    f, _ = frame_with_objects()
    cands = click_candidates(segment(f))
    assert cands[-1].size == max(c.size for c in cands)
    assert cands[0].size <= 16


def test_non_click_actions_come_as_one_candidate_each():
    f, _ = frame_with_objects()
    cands, seg = action_candidates(f, available_actions=(1, 2, 3, 4))
    assert [c.action for c in cands] == [1, 2, 3, 4]
    assert seg is None


def test_a_tiled_board_segments_into_its_tiles():
    """Speed is benchmarks/bench_explore.py's (segmentation ms per frame); here, what it finds on a tiled board."""
    seg = segment(tiled_board())
    colours = seg.colour.tolist()
    assert colours.count(9) + colours.count(11) == 49  # each tile, around its centre
    assert colours.count(12) == 49 and colours.count(4) == 1  # each centre; the grout is one region


def test_ignored_pixels_offer_no_click():
    f, _ = frame_with_objects()
    ignore = np.zeros((64, 64), dtype=bool)
    ignore[60:64, :] = True
    cands = click_candidates(segment(f), ignore=ignore)
    assert all(c.colour != 3 for c in cands)


def test_grid_clicks_cover_large_regions_only_and_add_finer_grids():
    f = np.zeros((64, 64), dtype=np.uint8)
    f[:, 32:] = 5  # two large regions
    f[9:12, 9:12] = 9  # a 9-pixel object: smaller than a grid cell, it keeps its one object click
    seg = segment(f)
    objects = click_candidates(seg)
    coarse = grid_clicks(seg, 1, taken={c.key for c in objects})
    assert {(c.x, c.y) for c in coarse} == {(x, y) for x in range(4, 64, 8) for y in range(4, 64, 8)}
    assert not {c.key for c in coarse} & {c.key for c in objects}
    assert all(c.colour == (5 if c.x >= 32 else 0) for c in coarse)
    fine = grid_clicks(seg, 2)
    assert len(fine) == 64 + 16 * 16 - 1  # every 4 pixels too, but not on the small object's (10, 10)
    ignore = np.zeros((64, 64), dtype=bool)
    ignore[:, :32] = True
    assert all(c.x >= 32 for c in grid_clicks(seg, 2, ignore=ignore))
    assert grid_clicks(seg, 0) == []


# ------------------------------------------------------------------------------------ frame hashing


def counter_frames(n: int, sprite_moves: bool = True) -> list[np.ndarray]:
    """A sprite that moves on some steps, and a counter in row 62 that grows on every step."""
    frames = []
    for t in range(n):
        f = np.zeros((64, 64), dtype=np.uint8)
        x = 8 + 4 * ((t // 3) % 5) if sprite_moves else 8  # moves every third step
        f[20:24, x : x + 4] = 9
        f[62, : t % 64] = 11
        frames.append(f)
    return frames


def test_hash_ignores_a_counter_that_changes_every_step():
    store = FrameStore(VolatileMask())
    frames = counter_frames(30)
    ids = [store.add(f) for f in frames]
    for a, b in zip(ids, ids[1:], strict=False):
        store.observe_transition(a, b)
    assert store.mask.mask[62].all()
    # Same sprite position, different counter: the same state. Different position: different states.
    assert store.same_state(ids[0], ids[1])
    assert store.key(ids[0]) == store.key(ids[2])
    assert not store.same_state(ids[0], ids[3])


def test_the_store_keeps_each_distinct_frame_once_and_compactly():
    store = FrameStore(VolatileMask())
    frames = counter_frames(300, sprite_moves=False)
    for i, f in enumerate(frames):
        f[30 + i // 64, i % 64] = 5  # every frame distinct
    ids = [store.add(f) for f in frames]
    assert ids == list(range(300)) and store.add(frames[7].copy()) == 7 and len(store) == 300
    for i in (0, 150, 299, 7):
        assert np.array_equal(store.frame(i), frames[i])
    # Thousands of distinct frames in a long game: far less than 4 KiB each (memory flat over 10k actions).
    assert sum(len(packed) for _, packed in store._packed) < 300 * 4096 / 10


def test_sprite_pixels_are_not_masked():
    store = FrameStore(VolatileMask())
    ids = [store.add(f) for f in counter_frames(30)]
    for a, b in zip(ids, ids[1:], strict=False):
        store.observe_transition(a, b)
    assert not store.mask.mask[20:24].any()


def test_mask_waits_for_enough_evidence():
    store = FrameStore(VolatileMask())
    ids = [store.add(f) for f in counter_frames(6)]
    for a, b in zip(ids, ids[1:], strict=False):
        store.observe_transition(a, b)
    assert not store.mask.mask.any()
    assert not store.same_state(ids[0], ids[1])


def test_a_band_that_is_the_whole_game_is_not_masked():
    """When nothing ever changes outside a thin edge band, the band is the game, not a HUD."""
    store = FrameStore(VolatileMask())
    frames = counter_frames(30, sprite_moves=False)
    ids = [store.add(f) for f in frames]
    for a, b in zip(ids, ids[1:], strict=False):
        store.observe_transition(a, b)
    assert not store.mask.mask[62].all()


def test_budget_bar_that_shrinks_one_pixel_per_step_is_masked():
    """Also: the player's home cell changes on every step too (it leaves and comes back), but never
    alone, so it is not masked."""
    game = CounterMaze()
    store = FrameStore(VolatileMask())
    obs = game.reset()
    prev = store.add(obs.frame)
    for t in range(24):  # up, up (blocked), left, left (blocked), down, right: back where it started
        obs = game.step((1, 1, 3, 3, 2, 4)[t % 6])
        cur = store.add(obs.frame)
        store.observe_transition(prev, cur)
        prev = cur
    assert store.mask.mask[61:63].all()
    assert not store.mask.mask[2:58].any()


# ------------------------------------------------------------------------------------- state graph


def line_world(store: FrameStore, n: int) -> list[int]:
    """Frames of a sprite at n positions along a line."""
    ids = []
    for i in range(n):
        f = np.zeros((64, 64), dtype=np.uint8)
        f[10:14, 4 * i : 4 * i + 4] = 9
        ids.append(store.add(f))
    return ids


def test_state_graph_finds_the_shortest_path_back_to_a_frontier():
    store = FrameStore()
    ids = line_world(store, 6)
    graph = StateGraph(store, lambda fid, detail: ([Candidate(1), Candidate(2), Candidate(3)], None))
    graph.add_start(ids[0])
    # Right (2) along the line and left (1) back; the line ends at 0 and 5; ACTION3 was tried only at
    # positions 0, 4 and 5, so 1, 2 and 3 are the frontier.
    for i in range(5):
        graph.record(Transition(ids[i], (2, -1, -1), ids[i + 1]))
        graph.record(Transition(ids[i + 1], (1, -1, -1), ids[i]))
    graph.record(Transition(ids[0], (1, -1, -1), ids[0]))
    graph.record(Transition(ids[5], (2, -1, -1), ids[5]))
    for i in (0, 4, 5):
        graph.record(Transition(ids[i], (3, -1, -1), ids[i]))
    here = graph.node(ids[5]).key
    target, steps = graph.path(here, lambda n: n.has_untried())
    assert target.key == graph.node(ids[3]).key
    assert steps == [(graph.node(ids[5]).key, (1, -1, -1)), (graph.node(ids[4]).key, (1, -1, -1))]


def test_state_graph_marks_no_ops_and_never_routes_through_them():
    store = FrameStore()
    ids = line_world(store, 2)
    graph = StateGraph(store, lambda fid, detail: ([Candidate(1), Candidate(2)], None))
    graph.record(Transition(ids[0], (1, -1, -1), ids[0]))
    node = graph.node(ids[0])
    assert node.is_noop((1, -1, -1))
    assert graph.path(node.key, lambda n: n.key != node.key) is None


def test_state_graph_merges_states_when_the_mask_grows():
    store = FrameStore(VolatileMask())
    frames = counter_frames(3)  # the same sprite position, three counter values
    ids = [store.add(f) for f in frames]
    graph = StateGraph(store, lambda fid, detail: ([Candidate(1)], None))
    graph.record(Transition(ids[0], (1, -1, -1), ids[1]))
    graph.record(Transition(ids[1], (1, -1, -1), ids[2]))
    assert len(graph) == 3
    store.mask.mask[62] = True
    store.mask.version += 1
    assert len(graph) == 1
    assert graph.node(ids[0]).is_noop((1, -1, -1))


def test_game_overs_at_the_step_budget_blame_no_action():
    store = FrameStore()
    ids = line_world(store, 2)
    graph = StateGraph(store, lambda fid, detail: ([Candidate(1), Candidate(2)], None))
    graph.record(Transition(ids[0], (1, -1, -1), None, step=60))
    assert graph.node(ids[0]).edges[(1, -1, -1)].deaths == 1
    graph.set_budget(60)
    assert (1, -1, -1) in graph.node(ids[0]).untried_keys


# ------------------------------------------------------------------------------------- predictor


def click_samples(rng: np.random.Generator, n: int, history: ActionHistory):
    """Features and outcomes of clicks in ColourClicks-like frames: red (2) objects change the frame."""
    X, y = [], []
    for _ in range(n):
        game = ColourClicks(seed=int(rng.integers(1000)))
        frame = game.render()
        cands, seg = action_candidates(frame, (6,))
        c = cands[int(rng.integers(len(cands)))]
        X.append(candidate_features(frame, seg, [c], history)[0])
        y.append(c.colour == 2)
    return np.array(X), np.array(y)


def test_change_predictor_learns_which_clicks_change_the_frame():
    rng = np.random.default_rng(0)
    history = ActionHistory()  # no history: the predictor must learn from the objects themselves
    X, y = click_samples(rng, 300, history)
    pred = ChangePredictor(PredictorConfig(train_every=16, steps=24), seed=0)
    for x, label in zip(X, y, strict=True):
        pred.add(x, bool(label))
        pred.maybe_train()
    Xt, yt = click_samples(rng, 100, history)
    p = pred.predict(Xt)
    assert p[yt].mean() > 0.8
    assert p[~yt].mean() < 0.2


def test_change_predictor_updates_once_per_train_every_samples():
    """How long an update takes is benchmarks/bench_explore.py's; here, that updates come when they should."""
    rng = np.random.default_rng(1)
    X, y = click_samples(rng, 64, ActionHistory())
    pred = ChangePredictor(PredictorConfig(train_every=16, buffer=4096), seed=0)
    for x, label in zip(X, y, strict=True):
        pred.add(x, bool(label))
        pred.maybe_train()
    assert pred.updates == 4


def test_change_predictor_trains_in_the_background_without_blocking_play():
    rng = np.random.default_rng(2)
    X, y = click_samples(rng, 32, ActionHistory())
    pred = ChangePredictor(PredictorConfig(train_every=16, background=True, background_steps=300), seed=0)
    for x, label in zip(X[:16], y[:16], strict=True):
        pred.add(x, bool(label))
    # The real training, held at its start until the test lets it go: play must not wait for it.
    gate, train = threading.Event(), pred._train
    pred._train = lambda *a: (gate.wait(), train(*a))
    assert pred.maybe_train()  # returned although the update is held
    before = pred.predict(X).copy()  # play goes on with the old weights meanwhile
    for x, label in zip(X[16:], y[16:], strict=True):
        pred.add(x, bool(label))
    assert not pred.maybe_train()  # one update at a time
    assert pred.updates == 0 and np.array_equal(before, pred.predict(X))
    gate.set()
    pred.wait()
    assert pred.updates == 1
    assert not np.allclose(before, pred.predict(X))


# ------------------------------------------------------------------------------------- explorer


def test_explorer_never_repeats_a_known_no_op_in_the_same_state():
    game, explorer = CounterMaze(), Explorer(seed=0)
    obs = game.reset()
    repeats = 0
    for _ in range(300):
        d = explorer.act(obs)
        if obs.state != "GAME_OVER" and d.info["mode"] in ("explore", "navigate"):
            graph = explorer.graphs[obs.levels_completed]
            node = graph.node(explorer.store.add(obs.frame))
            repeats += node.is_noop((d.action, -1, -1))
        obs = game.step(d.action, d.x, d.y)
        explorer.observe(obs)
    assert repeats == 0


def test_explorer_learns_the_step_budget_and_solves_the_counter_maze():
    game, explorer = CounterMaze(budget=60), Explorer(seed=0)
    levels, taken = play(explorer, game, 2500)
    assert levels == 2
    assert explorer.store.mask.mask[61:63].all()
    assert explorer.graphs[0].budget == 60


def test_game_overs_the_actions_cause_are_not_taken_for_a_step_budget():
    """Walking into lava two moves from the start, by two routes, ends the game at step 2 twice: that
    once read as a 2-action budget, and the explorer never went further. The game went on past 2
    actions before, so no budget; every seed reaches the goal."""
    fooled = 0
    for seed in range(8):
        game, explorer = LavaMaze(), Explorer(seed=seed)
        levels, taken = play(explorer, game, 1000)
        assert levels == 1 and explorer.graphs[0].budget is None, seed
        fooled += any(len(states) >= 2 for states in explorer._deaths.get(0, {}).values())
    assert fooled  # at least one seed died twice at the same step from different states


def test_explorer_resets_on_game_over():
    explorer = Explorer(seed=0)
    frame = np.zeros((64, 64), dtype=np.uint8)
    d = explorer.act(Obs(frame, "GAME_OVER", 0, 2, (1, 2)))
    assert d.action == 0


def test_explorer_clicks_objects_and_solves_colour_clicks_faster_than_clicking_everything():
    levels, taken = play(Explorer(seed=0), ColourClicks(seed=0), 1000)
    assert levels == 2
    # Level 2 (6 red squares among 8 others) is solved from what level 1 taught: few wasted clicks.
    assert len(taken) < 500


def test_once_every_object_is_tried_the_explorer_clicks_inside_large_regions():
    # An empty board is one region: its one object click is not the cell the level wants, and with
    # objects only the explorer is left to click at random.
    levels, taken = play(Explorer(ExploreConfig(max_click_detail=0), seed=0), HiddenCell(), 600)
    assert levels == 0
    for seed in range(3):
        explorer = Explorer(seed=seed)
        levels, taken = play(explorer, HiddenCell(), 600)
        assert levels == 2, seed
        assert explorer.graphs[0].detail == 1  # the 8-pixel grid was enough: no finer one
        assert len(taken) < 300, seed


def test_prior_decides_among_untried_actions():
    game = ColourClicks(seed=0)
    obs = game.reset()
    target = next(sq for sq in game.squares if sq[2] != 2)  # a distractor, which exploration alone ranks low

    def prior(o, cands):
        return np.array([0.0 if c.colour == target[2] else -20.0 for c in cands])

    d = Explorer(prior=prior, seed=0).act(obs)
    assert obs.frame[d.y, d.x] == target[2]


def test_prior_must_score_every_candidate():
    obs = ColourClicks(seed=0).reset()
    explorer = Explorer(prior=lambda o, cands: np.zeros(len(cands) + 1), seed=0)
    with pytest.raises(ValueError, match="prior returned shape"):
        explorer.act(obs)


def test_explorer_is_deterministic_for_a_seed():
    a = play(Explorer(seed=3), ColourClicks(seed=0), 200)[1]
    b = play(Explorer(seed=3), ColourClicks(seed=0), 200)[1]
    assert a == b


def test_a_bar_that_shrinks_every_few_actions_is_masked_as_a_timer():
    """28 bar pixels for a 60-action budget: the bar changes on only every second or third action, so
    no pixel changes "on every step"; it is recognised because it is the same at the same step since
    the level started, on every path."""
    game, explorer = CounterMaze(budget=60, bar=28), Explorer(seed=0)
    play(explorer, game, 400)
    assert explorer.store.mask.mask[61:63, :28].all()
    assert not explorer.store.mask.mask[2:58].any()
    assert explorer.graphs[0].budget == 60


def test_a_completed_level_is_replayed_after_a_full_reset():
    game, explorer = ColourClicks(seed=0), Explorer(seed=0)
    obs = game.reset()
    while obs.levels_completed == 0:
        d = explorer.act(obs)
        obs = game.step(d.action, d.x, d.y)
        explorer.observe(obs)
    obs = game.reset()  # no action taken in level 2 yet: RESET restarts the whole game
    assert obs.levels_completed == 0
    modes = []
    while obs.levels_completed == 0:
        d = explorer.act(obs)
        modes.append(d.info["mode"])
        obs = game.step(d.action, d.x, d.y)
        explorer.observe(obs)
    assert modes == ["replay"] * 4  # the four red squares, nothing else


def test_iterative_deepening_explores_near_the_start_first():
    explorer = Explorer(ExploreConfig(depth_limit=2), seed=0)
    game = CounterMaze()
    obs = game.reset()
    limits = set()
    for _ in range(200):
        d = explorer.act(obs)
        if d.info["mode"] == "explore":
            graph = explorer.graphs[obs.levels_completed]
            node = graph.node(explorer.store.add(obs.frame))
            assert node.depth < graph.depth_limit
            limits.add(graph.depth_limit)
        obs = game.step(d.action, d.x, d.y)
        explorer.observe(obs)
    assert min(limits) == 2 and max(limits) > 2


def test_change_predictor_learns_that_walking_into_a_wall_does_nothing():
    explorer = Explorer(seed=0)
    play(explorer, CounterMaze(), 400)
    game = CounterMaze()
    game.player = (4, 5)  # the wall (x = 5) is right of the player; up, down and left are open
    frame = game.render()
    cands = [Candidate(a) for a in (1, 2, 3, 4)]
    focus = explorer.scorer.history.focus(frame, explorer.store.mask.mask)
    assert focus == (20, 22, 23, 25)  # the player's box: the colour that moves
    p = explorer.scorer.predictor.predict(candidate_features(frame, None, cands, explorer.scorer.history, focus))
    assert p[3] < 0.2 < 0.8 < p[:3].min()


def test_a_transition_back_to_the_level_start_is_an_ordinary_edge():
    """A hazard that puts the player back at the start (no game over): the graph can route through it."""
    store = FrameStore()
    ids = line_world(store, 3)
    graph = StateGraph(store, lambda fid, detail: ([Candidate(1), Candidate(2)], None))
    graph.add_start(ids[0])
    graph.record(Transition(ids[0], (2, -1, -1), ids[1]))
    graph.record(Transition(ids[1], (2, -1, -1), ids[2]))
    graph.record(Transition(ids[2], (2, -1, -1), ids[0]))  # the hazard
    graph.record(Transition(ids[2], (1, -1, -1), ids[1]))
    start = graph.node(ids[0])
    assert start.depth == 0
    target, steps = graph.path(graph.node(ids[2]).key, lambda n: n.has_untried())
    assert target is start and steps == [(graph.node(ids[2]).key, (2, -1, -1))]


@pytest.mark.parametrize("same_opening", [True, False])
def test_what_every_replay_does_first_is_not_mistaken_for_a_timer(same_opening):
    """A tile that every path of the level flips with its first action looks like a timer (the same at
    step 1, 2, ... on every path while the rest differs). Only paths that began differently count."""
    from aria_cli.explore.frame_hash import VolatileMask

    mask = VolatileMask()
    base = np.zeros((64, 64), dtype=np.uint8)
    base[8:16, 8:16] = 3  # tile A
    for r in range(8):  # single-colour regions at step 0, so the timer rule has regions to extend to
        base[40:48, 8 * r : 8 * r + 6] = 4
    flipped = base.copy()
    flipped[8:16, 8:16] = 5
    elsewhere = base.copy()
    elsewhere[24:32, 24:32] = 7
    for i in range(20):  # some clicks changed only tile A (the "changed nothing else" evidence), most others
        mask.observe(base, flipped if i % 4 == 0 else elsewhere)
    assert not mask.mask.any()
    mask.observe_time(base, 0, 0)
    for path in range(8):  # every path opens by flipping tile A, then does something else
        opening = "A" if same_opening else f"opening {path}"
        mask.observe_time(flipped, 0, 1, opening)
        later = flipped.copy()
        later[40:48, 8 * path : 8 * path + 6] = 6
        mask.observe_time(later, 0, 2, opening)
    assert mask.mask[8:16, 8:16].any() != same_opening


def test_a_tile_that_the_actions_tried_so_far_all_flip_is_not_a_counter():
    """Three clicks that all flip tile A (a corner and its neighbours in a lights-out game) change it in
    every transition; an action that never changes it shows it is the game. A counter pixel changes
    under every action."""
    from aria_cli.explore.frame_hash import VolatileMask

    mask = VolatileMask()
    frames = [np.zeros((64, 64), dtype=np.uint8)]
    for i in range(30):
        f = frames[-1].copy()
        f[0, 63] = i % 7 + 1  # a counter pixel: every action changes it
        if i % 10 != 9:
            f[24:32, 24:32] = 3 - f[24, 24] % 2  # tile A flips, under the clicks on A, B and C
            action = ("click", i % 3)
        else:
            action = ("click", "elsewhere")  # ... and never under this one
        mask.observe(frames[-1], f, action)
        frames.append(f)
    assert mask.mask[0, 63]
    assert not mask.mask[24:32, 24:32].any()


def test_with_a_temperature_the_prior_orders_untried_actions_by_sampling_not_always_the_same_way():
    # A prior that ranks the candidates the same way in every state would make best-first exploration walk
    # the same few actions from each state; sampled, the favourite still comes first most often, but not always.
    game = ColourClicks(seed=0)
    obs = game.reset()
    favourite = next(sq for sq in game.squares if sq[2] != 2)

    def prior(o, cands):
        return np.array([0.0 if c.colour == favourite[2] else -1.0 for c in cands])

    def first_colours(temperature):
        return [obs.frame[d.y, d.x] for d in (
            Explorer(ExploreConfig(temperature=temperature), prior=prior, seed=s).act(obs) for s in range(40))]

    assert set(first_colours(0.0)) == {favourite[2]}
    sampled = first_colours(0.5)
    assert len(set(sampled)) > 1
    assert sampled.count(favourite[2]) > len(sampled) / 4


class OpenField(CounterMaze):
    """The counter maze without walls, the player mid-board: its moves change no band near the frame's edge,
    which the volatile mask would take for a HUD when every transition so far was the same move."""

    levels = [{"walls": [], "player": (1, 6), "goal": (12, 6)}]


def _first_moves_of_attempts(refollow_cost, prior, attempts: int, moves: int = 3) -> list[tuple[int, str]]:
    """`attempts` attempts at the open field of `moves` explorer actions each, every one ended by a
    game over (then RESET); the first action of each attempt and the explorer's mode for it."""
    game = OpenField()
    explorer = Explorer(ExploreConfig(refollow_cost=refollow_cost), prior=prior, seed=0)
    obs, firsts = game.reset(), []
    for _ in range(attempts):
        for i in range(moves):
            d = explorer.act(obs)
            if i == 0:
                firsts.append((d.action, d.info["mode"]))
            obs = game.step(d.action, d.x, d.y)
            explorer.observe(obs)
        d = explorer.act(Obs(obs.frame, "GAME_OVER", 0, 1, obs.available_actions))
        assert d.action == 0
        obs = game.reset()
        explorer.observe(obs)
    return firsts


def sharp_right(o, cands):  # a prior that knows where to go first: right (ACTION4)
    return np.array([0.0 if c.action == 4 else -6.0 for c in cands])


def test_a_sharp_prior_is_followed_again_after_a_reset_and_doubted_after_enough_tries():
    firsts = _first_moves_of_attempts(2.0, sharp_right, attempts=30)
    assert firsts[0] == (4, "explore")
    # Right from the start was tried, and the state it leads to still has untried actions: taken again.
    assert firsts[1] == (4, "refollow")
    # ... until the tries outweigh the prior's preference (2 · log(1 + n) > 6 from n = 20 tries on), then
    # the start's other actions get their turn.
    switch = next(i for i, (a, _) in enumerate(firsts) if a != 4)
    assert switch == 20
    assert all(a == 4 and mode == "refollow" for a, mode in firsts[1:switch])


def test_without_refollow_or_with_a_flat_prior_untried_actions_come_first():
    # Untried-first: each attempt starts with another action while the start has untried ones.
    firsts = _first_moves_of_attempts(None, sharp_right, attempts=4)
    assert firsts[0][0] == 4 and firsts[1][0] != 4
    assert all(mode != "refollow" for _, mode in firsts)
    flat = _first_moves_of_attempts(2.0, lambda o, cands: np.zeros(len(cands)), attempts=4)
    assert len({a for a, _ in flat}) == 4  # a prior that prefers nothing is not followed back


# ------------------------------------------------------------------------------------------------ lead

MOVES = {1: (0, -1), 2: (0, 1), 3: (-1, 0), 4: (1, 0)}  # the counter maze's ACTION1-4


def _maze_distances(game: CounterMaze) -> dict[tuple[int, int], int]:
    """Moves from every open cell of the current level to its goal (breadth-first from the goal)."""
    dist, queue = {game.goal: 0}, [game.goal]
    for x, y in queue:
        for dx, dy in MOVES.values():
            nxt = (x + dx, y + dy)
            if 0 <= nxt[0] < 14 and 0 <= nxt[1] < 14 and not game.wall[nxt[1], nxt[0]] and nxt not in dist:
                dist[nxt] = dist[(x, y)] + 1
                queue.append(nxt)
    return dist


def _lead_by(game: CounterMaze, move):
    """A lead hook that is sure of `move(game)` (an action) wherever it is asked; a teacher reading the
    test's own game, in place of a model trained on its demos."""
    return lambda obs, cands, seg: [c for c in cands if c.action == move(game)]


def _play_led(game: CounterMaze, lead, max_actions: int):
    """Play with a lead; per action: (level, player before, action, mode, player after)."""
    explorer, obs, log = Explorer(seed=0, lead=lead), game.reset(), []
    for _ in range(max_actions):
        level, before = obs.levels_completed, game.player
        d = explorer.act(obs)
        obs = game.step(d.action, d.x, d.y)
        explorer.observe(obs)
        log.append((level, before, d.action, d.info["mode"], game.player))
        if obs.state == "WIN":
            break
    return obs.levels_completed, log


def test_a_lead_that_knows_the_way_is_followed_straight_to_each_goal():
    game = CounterMaze()
    shortest = []
    for level in range(2):  # each level's shortest solution, measured on the game itself
        game.level = level
        game.start_level()
        shortest.append(_maze_distances(game)[game.player])
    game = CounterMaze()

    def downhill(g: CounterMaze) -> int:  # the move that brings the player one step closer to the goal
        dist, (x, y) = _maze_distances(g), g.player
        return min(MOVES, key=lambda a: dist.get((x + MOVES[a][0], y + MOVES[a][1]), 1 << 30))

    levels, log = _play_led(game, _lead_by(game, downhill), 500)
    assert levels == 2
    assert len(log) == sum(shortest)  # no action explored, none wasted
    assert {mode for _l, _b, _a, mode, _n in log} == {"lead"}


def test_a_lead_that_changes_nothing_or_walks_back_is_dropped_and_exploration_goes_on():
    # Always up: from the top row that changes nothing. Left and right by turns: every second move walks
    # back. Once an action is known to do that from a state, the lead is not taken there again (in this
    # attempt at the level, for a walk back); the explorer goes on and finds both goals.
    for move in (lambda g: 1, lambda g: 3 if g.steps % 2 else 4):
        game = CounterMaze(budget=10**6, bar=1)  # no step budget: attempts end only by the explorer's RESETs
        levels, log = _play_led(game, _lead_by(game, move), 3000)
        assert levels == 2
        known: dict[tuple, tuple[int, int]] = {}  # (level, state, action) -> where it led last time
        seen: set = set()  # states of this attempt
        led, attempt_level = 0, 0
        for level, before, action, mode, after in log:
            if action == 0 or level != attempt_level:  # a RESET, or a new level: a new attempt
                seen, attempt_level = set(), level
            if action == 0:
                continue
            seen.add((level, before))
            went = known.get((level, before, action))
            if mode == "lead":
                led += 1
                assert went is None or (went != before and (level, went) not in seen)
            known[(level, before, action)] = after
        assert led, "the lead was never taken: the test checks nothing"


def test_a_lead_to_a_click_point_that_never_changed_anything_is_dropped_in_every_state():
    # The lead names, in every state, a distractor square first (its clicks do nothing) and then the next
    # red square. Each red click makes a new state, where the distractor's edge is not known yet; once
    # the point has changed nothing in `lead_tries` tries anywhere in the game, it is not led to again.
    class Quiet(ColourClicks):  # without the step counter, so a click on a distractor changes nothing
        def render(self):
            f = super().render()
            f[0] = 0
            return f

    game = Quiet(seed=0)

    def lead(obs, cands, seg):
        dead = next(sq for sq in game.squares if sq[2] not in (2, 4))  # a distractor, never red or green
        red = [sq for sq in game.squares if sq[2] == 2]
        return [Candidate(CLICK, dead[0] + 2, dead[1] + 2)] + [Candidate(CLICK, x + 2, y + 2) for x, y, _c in red[:1]]

    explorer, obs, log = Explorer(seed=0, lead=lead), game.reset(), []
    for _ in range(200):
        level, dead = obs.levels_completed, next(sq for sq in game.squares if sq[2] not in (2, 4))
        d = explorer.act(obs)
        log.append((level, d.info["mode"], (d.x, d.y) == (dead[0] + 2, dead[1] + 2)))
        obs = game.step(d.action, d.x, d.y)
        explorer.observe(obs)
        if obs.state == "WIN":
            break
    assert obs.state == "WIN"
    for level in (0, 1):  # each level's distractor is another point: three tries each, then never again
        led_dead = [i for i, (lv, mode, dead) in enumerate(log) if lv == level and mode == "lead" and dead]
        assert len(led_dead) == explorer.config.lead_tries
    assert [mode for _lv, mode, _dead in log if mode != "lead"] == []  # every move was the lead's
