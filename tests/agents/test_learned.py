"""The learned agents playing bundled games through the real toolkit."""

import numpy as np
import pytest
import torch
from helpers.agents import Watched

from aria_cli.agents.base import GameStart
from aria_cli.agents.contexts import LearnedModels
from aria_cli.agents.learned import AgentConfig, PolicyAgent, WorldModelAgent
from aria_cli.data.recordings import read_recording
from aria_cli.explore import Candidate, segment
from aria_cli.games.session import GameSession
from aria_cli.play.compare import play_one
from aria_cli.vocab import (
    CLICK,
    N_CELLS,
    N_POINTS,
    N_TYPES,
    cell_to_pixel,
    click_point,
    pixel_to_cell,
    point_pixel,
)


@pytest.mark.parametrize("agent_cls", [WorldModelAgent, PolicyAgent])
def test_the_agent_plays_a_click_game_for_hundreds_of_actions_and_is_recorded(learned_models, tmp_path, agent_cls):
    with GameSession("qtgl", seed=5, record_dir=tmp_path) as s:
        watched = Watched(s)
        run = play_one(watched, agent_cls(learned_models, seed=0), "qtgl", 5, max_actions=120)
    assert run.error is None and (run.actions == 120 or run.won)
    for obs, action, x, y in watched.log:
        assert action == 0 or action in obs.available_actions
        assert (x is not None) == (y is not None) == (action == CLICK)
    rec = read_recording(s.recording_path)
    assert len(rec.steps) == run.actions + 2  # the toolkit's initial frame, play_one's RESET, then each action


def test_the_policy_agent_clicks_the_pixel_its_click_point_head_names(learned_models):
    agent = PolicyAgent(learned_models, seed=0)
    clicks = 0
    with GameSession("qtgl", seed=1) as s:
        obs = s.reset()
        for _ in range(12):
            d = agent.act(obs)
            if d.action == CLICK:  # the contexts still hold the frame the decision read
                cell = pixel_to_cell(d.x, d.y)
                point = agent.ctx.point_logp(cell)
                assert point.shape == (N_POINTS,) and np.isclose(np.exp(point).sum(), 1.0)
                assert (d.x, d.y) == point_pixel(cell, int(np.argmax(point)))
                clicks += 1
            obs = s.step(d.action, d.x, d.y)
            agent.observe(obs)
    assert clicks


def test_the_agent_resets_on_game_over(learned_models):
    with GameSession("qmaz", seed=2) as s:
        watched = Watched(s)
        agent = PolicyAgent(learned_models, seed=0)
        run = play_one(watched, agent, "qmaz", 2, max_actions=160)
    game_overs = [i for i, (obs, *_rest) in enumerate(watched.log) if obs.state == "GAME_OVER"]
    assert run.error is None
    assert game_overs, "the step budget never ran out; the test needs a GAME_OVER to check"
    assert all(watched.log[i][1] == 0 for i in game_overs)


def test_agent_reset_forgets_the_previous_game(learned_models):
    agent = PolicyAgent(learned_models, seed=0)
    with GameSession("qtgl", seed=0) as s:
        obs = s.reset()
        d = agent.act(obs)
        agent.observe(s.step(d.action, d.x, d.y))
    assert agent.ctx.context.steps
    agent.reset(GameStart(game="qtgl"))
    assert not agent.ctx.context.steps and agent.ctx.context.state is None


def test_the_world_model_agent_weighs_its_prior_by_the_outcomes_of_the_actions_it_takes(learned_models):
    agent = WorldModelAgent(learned_models, seed=0)
    agent.reset(GameStart(game="qmaz", seed=1))
    start = dict(agent.evidence.log_odds)
    taken: dict[str, list[tuple[float, bool]]] = {name: [] for name in start}  # (r, productive) per distribution
    with GameSession("qmaz", seed=1) as s:
        obs = s.reset()
        for _ in range(40):
            d = agent.act(obs)
            before = {name: (agent.evidence.log_odds[name], agent.evidence.evidence(name)) for name in start}
            chosen = list(agent._chosen)
            obs = s.step(d.action, d.x, d.y)
            agent.observe(obs)
            if agent.explorer.last_changed is None:  # the game ended: nothing to judge
                continue
            for name, logp, n in chosen:  # r: the distribution at its most weight against the uniform
                r = np.log(n * (agent.evidence.floor / n + (1 - agent.evidence.floor) * np.exp(logp)))
                taken[name].append((r, agent.explorer.last_changed))
                lo, ev = before[name]  # each action moves the log-odds by its change of the evidence
                expected = np.clip(lo + agent.evidence.rate * (agent.evidence.evidence(name) - ev),
                                   -agent.evidence.bound, agent.evidence.bound)
                assert agent.evidence.log_odds[name] == pytest.approx(expected)
    outcomes = [p for _, p in taken["type"]]
    assert any(outcomes) and not all(outcomes)  # qmaz: moves into walls change nothing
    for name, steps in taken.items():  # the evidence is the batch formula over what the agent took
        r = np.array([x for x, _ in steps])
        productive = np.array([p for _, p in steps], dtype=bool)
        expected = r[productive].sum() - productive.sum() * r.mean() if len(r) else 0.0
        assert agent.evidence.evidence(name) == pytest.approx(expected, abs=1e-9)
    assert agent.evidence.log_odds["cell"] == start["cell"]  # qmaz has no clicks
    assert agent.evidence.log_odds["type"] != start["type"]


def _distribution(n: int, sure: dict[int, float], possible=None) -> np.ndarray:
    """log-probabilities over n entries: `sure` as given, the rest of the mass spread over the others
    (only `possible` ones are finite, as the contexts leave unavailable action types)."""
    possible = list(range(n)) if possible is None else possible
    p = np.zeros(n)
    rest = [i for i in possible if i not in sure]
    p[rest] = (1 - sum(sure.values())) / len(rest)
    for i, q in sure.items():
        p[i] = q
    with np.errstate(divide="ignore"):
        return np.where(np.isin(np.arange(n), possible), np.log(p), -np.inf)


def test_the_world_model_agent_leads_where_its_prior_is_sure_and_clicks_inside_the_sure_cell(learned_models, monkeypatch):
    agent = WorldModelAgent(learned_models, seed=0)
    assert WorldModelAgent(learned_models, AgentConfig(lead_p=None), seed=0).explorer.lead is None
    agent.reset(GameStart(game="qtgl", seed=0))
    with GameSession("qtgl", seed=0) as s:
        agent.act(s.reset())  # the contexts are live; the test sets the distributions they hold
    ctx, cell = agent.ctx, 27
    cx, cy = cell_to_pixel(cell)  # (28, 28): the cell spans x and y 24-31
    # The state: background 0, a 2x2 object of colour 3 inside the cell, a tile of colour 5 whose centre
    # lies in the cell below but whose top two rows reach into this one, and an object far away.
    frame = np.zeros((64, 64), dtype=np.uint8)
    frame[25:27, 25:27] = 3
    frame[30:38, 27:31] = 5
    frame[2:5, 2:5] = 7
    seg = segment(frame)
    far, near, elsewhere = Candidate(CLICK, 25, 25), Candidate(CLICK, cx + 1, cy), Candidate(CLICK, 3, 3)
    cands = [Candidate(1), far, elsewhere, near]

    def lead(type_p: dict[int, float], cell_p: dict[int, float]):
        ctx.type_logp = ctx.wm_type_logp = _distribution(N_TYPES, type_p, possible=[1, CLICK])
        ctx.cell_logp = ctx.wm_cell_logp = _distribution(N_CELLS, cell_p)
        return agent._lead(None, cands, seg)

    # Sure of a click in one cell, with heads that have no click-point head: the candidates inside it,
    # nearest its centre first; then the cell's other objects, each at its pixel in the cell nearest the
    # centre: the tile reaching in from below (its own click point is in the next cell), then the
    # background at the centre. The object whose click point is a candidate's is not offered twice; the
    # object elsewhere is not offered.
    monkeypatch.setattr(ctx, "point_logp", lambda c: None)  # the distributions are the test's, as above
    sure = lead({CLICK: 0.98}, {cell: 0.99})
    assert [(c.x, c.y) for c in sure] == [(near.x, near.y), (far.x, far.y), (28, 30), (cx, cy)]
    tile = sure[2]
    assert seg.colour[tile.region] == 5 and pixel_to_cell(seg.click_x[tile.region], seg.click_y[tile.region]) == cell + 8
    # The click-point head puts 0.9 on (29, 31), a pixel of the tile: the tile comes first, clicked there;
    # then the background (52 pixels of the spread mass: the candidate on it, then its reach-in click at
    # the centre), then the small object (4 pixels).
    point = np.full(N_POINTS, 0.1 / (N_POINTS - 1))
    point[click_point(29, 31)] = 0.9
    monkeypatch.setattr(ctx, "point_logp", lambda c: np.log(point) if c == cell else None)
    sure = lead({CLICK: 0.98}, {cell: 0.99})
    assert [(c.x, c.y) for c in sure] == [(29, 31), (near.x, near.y), (cx, cy), (far.x, far.y)]
    assert sure[0].region == tile.region
    assert lead({1: 0.99}, {cell: 0.99}) == [cands[0]]  # sure of a type: that action
    assert lead({CLICK: 0.6}, {cell: 0.99}) == []  # the type is in doubt: the pair is too
    assert lead({CLICK: 0.98}, {cell: 0.6, 3: 0.3}) == []  # two cells in doubt (0.6 · 0.6^0.5 against 0.3 · 0.3^0.5)
    # With the world model's guesses weighed in (wm_type_weight 1, wm_cell_weight 0.5): the product decides.
    ctx.type_logp = _distribution(N_TYPES, {CLICK: 0.98}, possible=[1, CLICK])
    ctx.wm_type_logp = _distribution(N_TYPES, {1: 0.98}, possible=[1, CLICK])
    assert agent._lead(None, cands, seg) == []


@pytest.mark.parametrize("cls", [PolicyAgent, WorldModelAgent])
def test_agents_step_on_one_torch_thread_and_leave_the_process_setting_alone(pipeline, cls):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        learned_models = LearnedModels.load(pipeline.checkpoints, device="cpu")
        assert torch.get_num_threads() == 2  # loading changes nothing process-wide
        seen = []
        encode = learned_models.tokenizer.encode
        learned_models.tokenizer.encode = lambda frames: seen.append(torch.get_num_threads()) or encode(frames)
        with GameSession("qmaz", seed=0) as s:
            run = play_one(s, cls(learned_models, seed=0), "qmaz", 0, 5)
        assert run.actions == 5 and seen and set(seen) == {1}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def _actions(agent, game, seed, n):
    with GameSession(game, seed=seed) as s:
        watched = Watched(s)
        run = play_one(watched, agent, game, seed, max_actions=n)
    assert run.error is None
    return [(action, x, y) for _obs, action, x, y in watched.log]


@pytest.mark.parametrize("cls", [PolicyAgent, WorldModelAgent])
def test_same_seed_and_checkpoints_give_the_same_actions(pipeline, cls):
    # Play is reproducible: models loaded afresh from the same checkpoints and an agent with the same seed
    # take the same actions, and an agent reset for a new game plays it as a fresh one would.
    first = _actions(cls(LearnedModels.load(pipeline.checkpoints), seed=0), "qtgl", 5, 100)
    agent = cls(LearnedModels.load(pipeline.checkpoints), seed=0)
    assert _actions(agent, "qtgl", 5, 100) == first
    assert len({a for a, _x, _y in first}) > 1 or len({(x, y) for _a, x, y in first}) > 1  # not one action repeated
    _actions(agent, "qmaz", 2, 30)
    assert _actions(agent, "qtgl", 5, 100) == first
