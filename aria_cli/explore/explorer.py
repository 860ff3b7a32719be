"""The online explorer: remembers where it has been in this game and goes where it has not.

Per step (`act`), in order:

1. GAME_OVER → RESET.
2. If this level was completed before (the game was reset since), replay: walk the known path to the
   action that completed it.
3. If the next action would spend the level's last unit of step budget (the budget is learned from
   game overs that happen after the same number of actions from three different states, a number
   the game never went on past), RESET instead: the outcome of that action would be lost anyway.
4. With a `lead` hook, the action the learned prior is sure of here (models trained on this game's
   demos are, on most moves): taken at most `lead_tries` times from one state, and never when it is
   known to change nothing, end the game or lead back to a state of this attempt at the level, nor a
   click on a point that changed nothing in `lead_tries` clicks anywhere in this level.
5. Try an untried action in the current state: the best-scoring one among those predicted to change
   the frame (P(change) >= `p_min`). Score = log P(change) + novelty_weight · log P(new state)
   + prior_weight · prior log-prob (when a prior is plugged in) + salience_weight · object salience.
   With a prior, a tried action that leads to a state with untried actions competes with them
   (`refollow_cost`): a prior that knows the way is followed again after a RESET, a few times, before
   the explorer turns to the actions it likes less.
6. Otherwise walk the shortest known path to the nearest state that still has such actions — through
   RESET and the level start when that is shorter, or when the budget would run out on the way.
7. Then the unlikely untried actions, here or at the nearest state that has some.
8. Nothing left: offer finer clicks in every state of the level (`StateGraph.refine`: points on a grid
   inside large regions, every 8 pixels, then every 4; `max_click_detail`) and go on from step 5.
9. Nothing left at the finest detail: a random action that changed the state before (the game may
   hide state).

By default this is depth-first (keep going from where you are). With `depth_limit` it is iterative
deepening: states within that many actions of the level start are explored first, and the limit
grows by `depth_growth` when nothing is left within it (better for short solutions in big state
spaces, e.g. toggle puzzles; worse for mazes).

`observe` files the transition: the state graph of the level (a level-up starts a new graph; each
level keeps its own, so after a full reset completed levels are replayed), the volatile-pixel mask
(states are re-keyed when it grows), and the training samples of the two online predictors,
P(frame changes) and P(new state), which share their features (change_predictor).

Scores come from `scoring.ActionScorer`. A learned agent plugs in through `prior`: `prior(obs,
candidates) -> log-probabilities`, one per candidate, called when choosing among the untried actions of
the current state (step 5); `outcome_model(obs, candidates, p_change, p_new)` may revise P(change) and
P(new state) there (`p_new` is None while the online novelty predictor has not trained); `lead(obs,
candidates, seg) -> [candidates]` names what the prior is sure of (step 4), with the state's
Segmentation (None where clicks are not available) for clicks on objects that are not candidates. `obs`
is the game adapter's `Observation`; the explorer reads only its frame, state, levels_completed,
win_levels and available_actions. After `observe`, `last_changed` and `last_new` tell what the last
action did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from aria_cli.explore.change_predictor import PredictorConfig
from aria_cli.explore.frame_hash import FrameStore, VolatileConfig, VolatileMask
from aria_cli.explore.objects import Candidate, Segmentation, click_candidates, grid_clicks, segment
from aria_cli.explore.scoring import ActionScorer
from aria_cli.explore.state_graph import UNREACHED, Node, StateGraph, Transition
from aria_cli.vocab import CLICK, RESET

if TYPE_CHECKING:
    from aria_cli.games.adapter import Observation

class Decision(NamedTuple):
    """An agent's next action: type (0 = RESET, 1..7), click coordinates (None unless ACTION6), info."""

    action: int
    x: int | None
    y: int | None
    info: dict[str, Any]


Prior = Callable[["Observation", list[Candidate]], np.ndarray]
# (obs, candidates of the current state, the online P(change) and P(new state) of each, the latter None
# before its predictor has trained) -> the two revised (P(new state) may stay None)
OutcomeModel = Callable[["Observation", list[Candidate], np.ndarray, "np.ndarray | None"],
                        tuple[np.ndarray, "np.ndarray | None"]]
# (obs, candidates of the current state, its segmentation) -> the actions the prior is sure of (one
# choice: an action type, or clicks in one place), best first; they need not be among the candidates
Lead = Callable[["Observation", list[Candidate], Segmentation | None], list[Candidate]]


@dataclass(frozen=True)
class ExploreConfig:
    p_min: float = 0.1  # untried actions predicted to change the frame less often are tried last
    prior_weight: float = 1.0
    salience_weight: float = 0.1
    novelty_weight: float = 1.0  # weight of log P(new state) (learned like P(change)) in the score
    max_clicks: int = 96  # object click candidates per state
    # Once every action of the level's known states is tried, clicks on a grid inside large regions
    # (an empty board is one region): every 8 pixels at detail 1, also every 4 at 2. 0: objects only.
    max_click_detail: int = 2
    # Sample among the untried actions (Gumbel-max: softmax of score / temperature) instead of taking the
    # best. With a prior that ranks the actions the same way in every state, the best-first order walks
    # the same few actions from each state (in a toggle puzzle: subsets of the prior's favourite tiles),
    # and a solution that needs an action the prior dislikes is never reached.
    temperature: float = 0.0
    use_reset: bool = True  # navigate through RESET when the level start is closer to a frontier
    depth_limit: int | None = None  # iterative deepening: explore this close to the level start first
    depth_growth: float = 2.0  # ... then this much deeper each time nothing is left (None: plain DFS)
    # With a prior: a tried action that led to a state which still has untried actions competes with the
    # best untried action here, on the prior alone: prior_weight · its prior log-prob − refollow_cost ·
    # log(1 + times tried) against the untried one's prior_weight · prior log-prob (same sampling noise).
    # After a RESET, plain untried-first exploration leaves the prior's favourite first move (tried last
    # time) for the next one down, so each attempt at a level starts further from where the prior points;
    # a prior that knows the way should be followed again, a few times, before it is doubted (the prior /
    # visit-count trade-off of PUCT). Where the prior prefers nothing strongly this never fires.
    # None: untried actions always come first.
    refollow_cost: float | None = 2.0
    # With a `lead` hook (a prior that can be sure of one action, e.g. trained on this game's demos): its
    # sure choice is taken before anything is explored, at most this many times from one state, unless it
    # is known to end the game or to lead back to a state of this attempt at the level (or to change nothing),
    # and never a click on a point that changed nothing in this many clicks from any state of the level.
    lead_tries: int = 3
    volatile: VolatileConfig = field(default_factory=VolatileConfig)
    predictor: PredictorConfig = field(default_factory=PredictorConfig)


@dataclass
class _Pending:
    frame: int  # frame id the action was taken in
    level: int
    cand: Candidate | None  # None for RESET
    step: int  # actions since the level (re)started, this one included
    features: np.ndarray | None = None


@dataclass
class _Plan:
    steps: list  # [(state key, action key)], next first
    target: bytes
    tier: int
    limit: int | None = None


class Explorer:
    """Graph exploration with object clicks and an online frame-change predictor (see module doc)."""

    def __init__(self, config: ExploreConfig | None = None, prior: Prior | None = None, seed: int = 0,
                 outcome_model: OutcomeModel | None = None, lead: Lead | None = None):
        self.config = config or ExploreConfig()
        self.prior = prior
        self.lead = lead
        self.outcome_model = outcome_model
        self.seed = seed
        self.reset()

    # ------------------------------------------------------------------ lifecycle
    def reset(self, game_info: Any = None) -> None:
        """Forget everything: a new game."""
        seed = getattr(game_info, "seed", None)
        self.rng = np.random.default_rng(self.seed if seed is None else seed)
        self.store = FrameStore(VolatileMask(self.config.volatile))
        self.graphs: dict[int, StateGraph] = {}
        self.scorer = ActionScorer(self.config, self.prior, self.store, self.rng, self.outcome_model)
        self._seg_cache: dict[int, Any] = {}
        self._interned: dict[Candidate, Candidate] = {}
        self._available: tuple[int, ...] = ()
        self._pending: _Pending | None = None
        self._plan: _Plan | None = None
        self._since_reset = 0
        self._attempt: set[bytes] = set()  # states seen since the level (re)started
        self._clicks: dict[int, dict[tuple[int, int], list[int]]] = {}  # level -> click point -> [tries, changes]
        self._first_action = None  # the first action since the level (re)started (the timer rule needs it)
        self._deaths: dict[int, dict[int, set]] = {}  # level -> step -> {states} an action there ended the game from
        self._survived: dict[int, int] = {}  # level -> the most actions since its (re)start the game went on after
        self.actions = 0
        self.last_changed: bool | None = None  # did the last action change the state (None: RESET, game over)
        self.last_new: bool | None = None  # ... and lead to a state never seen in its level

    # ------------------------------------------------------------------ candidates and scores
    def _candidates(self, fid: int, detail: int = 0):
        """Candidates of a state from its representative frame (segmentation cached per frame), with
        grid clicks at `detail` >= 1."""
        cands = [Candidate(action=a) for a in sorted(set(self._available)) if 0 < a != CLICK]
        if CLICK not in self._available:
            return cands, None
        seg = self._segmentation(fid)
        cands += click_candidates(seg, self.store.mask.mask, self.config.max_clicks)
        if detail:
            cands += grid_clicks(seg, detail, self.store.mask.mask, {c.key for c in cands})
        # The same object recurs in many states (a toggle puzzle shows each tile in thousands of them):
        # one shared Candidate per distinct object keeps the state graphs' memory a fraction as large.
        cands = [self._interned.setdefault(c, c) for c in cands]
        return cands, seg.without_labels()

    def _segmentation(self, fid: int) -> Segmentation:
        """The objects of a state's representative frame, with their pixel labels (cached per frame)."""
        seg = self._seg_cache.pop(fid, None) or segment(self.store.frame(fid))
        self._seg_cache[fid] = seg  # recent ones only: a rebuild after the mask grew re-segments the rest
        if len(self._seg_cache) > 256:
            del self._seg_cache[next(iter(self._seg_cache))]
        return seg

    def _graph(self, level: int) -> StateGraph:
        g = self.graphs.get(level)
        if g is None:
            g = self.graphs[level] = StateGraph(self.store, self._candidates)
            g.depth_limit = self.config.depth_limit
        return g

    def _is_frontier(self, tier: int, limit: int | None) -> Callable[[Node], bool]:
        """Nodes worth going to: untried actions (likely ones for tier 1), within the depth limit."""
        deep = UNREACHED if limit is None else limit
        if tier == 1:
            return lambda n: bool(n.untried_keys) and n.depth < deep and self.scorer.max_p(n) >= self.config.p_min
        return lambda n: bool(n.untried_keys) and n.depth < deep

    def _limit(self, graph: StateGraph) -> int | None:
        """How deep (actions from the level start) exploration goes for now: the iterative-deepening
        limit, and never past the level's step budget."""
        limits = [x for x in (graph.depth_limit, None if graph.budget is None else graph.budget - 1) if x]
        return min(limits) if limits else None

    def _refollow_candidates(self, graph: StateGraph, node: Node) -> list[Candidate]:
        """Tried actions of this state that lead on to a state of the level that still has untried actions."""
        if self.prior is None or self.config.refollow_cost is None:
            return []
        ahead = []
        for k, e in node.edges.items():
            nxt = graph.nodes.get(e.next) if e.next not in (None, node.key) else None
            if nxt is not None and nxt.untried_keys and not e.deaths and not e.level_up:
                ahead.append(node.candidate(k))
        return ahead

    # ------------------------------------------------------------------ acting
    def act(self, obs: Observation) -> Decision:
        """The next action for this observation."""
        if obs.state == "GAME_OVER":
            self._pending = _Pending(frame=-1, level=obs.levels_completed, cand=None, step=0)
            self._plan = None
            return Decision(RESET, None, None, {"mode": "reset", "why": "game over"})
        self._available = tuple(int(a) for a in obs.available_actions)
        fid = self.store.add(obs.frame)
        level = int(obs.levels_completed)
        graph = self._graph(level)
        if not graph.start_frames:
            graph.add_start(fid)
        if self.store.observe_time(fid, level, self._since_reset, self._first_action):
            self._mask_grew()
        node = graph.node(fid)
        node.visits += 1
        self._attempt.add(node.key)
        choice = self._choose(obs, graph, node)
        info = {
            "mode": choice[1],
            "states": len(graph.nodes),
            "untried": len(node.untried_keys),
            "level": level,
            "masked_pixels": int(self.store.mask.mask.sum()),
        }
        cand, features = choice[0], None
        if len(choice) > 2:
            info["p_change"] = float(choice[2])
            features = choice[3]
        self.actions += 1
        if cand is None:
            self._pending = _Pending(frame=fid, level=level, cand=None, step=0)
            return Decision(RESET, None, None, info)
        if features is None:
            features = self.scorer.features(node, [cand])[0]
        self._pending = _Pending(fid, level, cand, self._since_reset + 1, features)
        if cand.is_click:
            return Decision(CLICK, cand.x, cand.y, info)
        return Decision(cand.action, None, None, info)

    def _follow(self, node: Node, plan: _Plan, mode: str):
        state, action = plan.steps.pop(0)
        self._plan = plan if plan.steps else None
        return node.candidate(action), mode

    def _choose(self, obs: Observation, graph: StateGraph, node: Node):
        cfg = self.config
        # Replay a level completed before (the game was reset since).
        win = node.level_up_action()
        if win is not None:
            return node.candidate(win), "replay"
        if graph.level_up_known:
            found = graph.path(node.key, lambda n: n.level_up_action() is not None)
            if found is not None:
                return self._follow(node, _Plan(found[1], found[0].key, 0), "replay")

        # The next action would spend the level's last unit of budget: its outcome would be lost to the
        # game over, so restart the level now (one action instead of two).
        if graph.budget is not None and self._since_reset + 1 >= graph.budget and self._since_reset > 0:
            if self.config.use_reset:
                self._plan = None
                return None, "budget-reset"

        led = self._led(obs, node)
        if led is not None:
            self._plan = None
            return led, "lead"

        # Follow the current plan while it is on track and its target is still a frontier.
        plan = self._plan
        if plan is not None and plan.steps and plan.steps[0][0] == node.key:
            target = graph.nodes.get(plan.target)
            if target is not None and self._is_frontier(plan.tier, plan.limit)(target):
                return self._follow(node, plan, "navigate")
        self._plan = None

        # Likely actions first (everywhere, deepening as needed), then the unlikely ones.
        for tier in (1, 2):
            while True:
                limit = self._limit(graph)
                untried = node.untried() if limit is None or node.depth < limit else []
                if untried:
                    again = self._refollow_candidates(graph, node) if tier == 1 else []
                    score, p, X, (prior_part, again_score) = self.scorer.score(obs, node, untried, again)
                    node.cache["max_p"] = ((self.scorer.version(), len(untried)), float(p.max()))
                    ok = p >= cfg.p_min if tier == 1 else np.ones(len(p), dtype=bool)
                    if ok.any():
                        i = int(np.flatnonzero(ok)[np.argmax(score[ok])])
                        if len(again) and again_score.max() > prior_part[i]:
                            return again[int(np.argmax(again_score))], "refollow"
                        return untried[i], "explore" if tier == 1 else "explore-unlikely", p[i], X[i]
                route = self._route(graph, node, tier, limit)
                if route is not None:
                    return route
                if not self._deepen(graph, tier, limit):
                    break
        # States no level start is known to lead to (e.g. after an unexpected transition).
        for tier in (1, 2):
            route = self._route(graph, node, tier, None)
            if route is not None:
                return route
        if CLICK in self._available and graph.refine(self.config.max_click_detail):
            return self._choose(obs, graph, graph.node(node.frame_id))
        return self._fallback(node)

    def _led(self, obs: Observation, node: Node) -> Candidate | None:
        """The prior's sure choice in this state (ExploreConfig.lead_tries), if it has one worth taking."""
        if self.lead is None:
            return None
        best, fewest = None, self.config.lead_tries
        seg = self._segmentation(node.frame_id) if CLICK in self._available else None
        clicks = self._clicks.get(int(obs.levels_completed), {})
        for cand in self.lead(obs, node.candidates, seg):
            e = node.edges.get(cand.key)
            if e is not None and (e.deaths or e.next in self._attempt):  # this state is in it: no-ops too
                continue
            point = clicks.get((cand.x, cand.y)) if cand.is_click else None
            if point is not None and point[0] >= self.config.lead_tries and not point[1]:
                continue  # a point that changed nothing wherever it was clicked in this level
            tries = 0 if e is None else e.tries
            if tries < fewest:
                best, fewest = cand, tries
        return best

    def _deepen(self, graph: StateGraph, tier: int, limit: int | None) -> bool:
        """Raise the depth limit if frontiers of this tier lie beyond it (not beyond the budget)."""
        if limit is None or graph.depth_limit is None or limit < graph.depth_limit:
            return False
        graph.recompute_depths()
        frontier = self._is_frontier(tier, None)
        if not any(limit <= n.depth < UNREACHED and frontier(n) for n in graph.nodes.values()):
            return False
        graph.depth_limit = int(graph.depth_limit * self.config.depth_growth) + 1
        return True

    def _route(self, graph: StateGraph, node: Node, tier: int, limit: int | None):
        """Next step towards the nearest frontier of this tier, via RESET when that is shorter."""
        graph.recompute_depths()
        frontier = self._is_frontier(tier, limit)

        def is_target(n: Node) -> bool:  # this node was just found wanting (its cache may be older)
            return n.key != node.key and frontier(n)

        here = graph.path(node.key, is_target)
        via_start = None
        start = graph.start
        can_reset = self.config.use_reset and self._since_reset > 0 and start is not None
        if can_reset and start.key != node.key:
            via_start = graph.path(start.key, is_target)
        budget = graph.budget
        if here is not None and budget is not None and self._since_reset + len(here[1]) + 1 >= budget:
            here = None if via_start is not None and len(via_start[1]) + 1 < budget else here
        if here is not None and (via_start is None or len(here[1]) <= 1 + len(via_start[1])):
            return self._follow(node, _Plan(here[1], here[0].key, tier, limit), "navigate")
        if via_start is not None:
            self._plan = _Plan(via_start[1], via_start[0].key, tier, limit) if via_start[1] else None
            return None, "reset-navigate"
        return None

    def _fallback(self, node: Node):
        """Everything known is explored: act at random, preferring actions that changed the state."""
        changing = [k for k, e in node.edges.items() if e.next not in (None, node.key)]
        if changing and self.rng.random() < 0.9:
            return node.candidate(changing[int(self.rng.integers(len(changing)))]), "fallback"
        if self._since_reset > 0 and self.config.use_reset and self.rng.random() < 0.1:
            return None, "fallback-reset"
        if node.candidates:
            return node.candidates[int(self.rng.integers(len(node.candidates)))], "fallback"
        return None, "fallback-reset"

    # ------------------------------------------------------------------ learning from the outcome
    def observe(self, obs: Observation) -> None:
        """File the outcome of the last action (the observation the game answered with)."""
        p, self._pending = self._pending, None
        self.last_changed = self.last_new = None
        if p is None:
            return
        level = int(obs.levels_completed)
        if p.cand is None:  # RESET: the level (or the game) starts again
            self._new_attempt()
            if obs.state != "GAME_OVER" and obs.frame is not None:
                self._graph(level).add_start(self.store.add(obs.frame))
            return
        graph = self._graph(p.level)
        action = p.cand.key
        self._since_reset += 1
        if self._since_reset == 1:
            self._first_action = action
        if obs.state != "GAME_OVER":
            self._survived[p.level] = max(self._survived.get(p.level, 0), p.step)
        if level > p.level or obs.state == "WIN":
            graph.record(Transition(p.frame, action, None, level_up=True, step=p.step))
            self.last_changed = self.last_new = True
            self._add_sample(p, changed=True, after=None, new=True)
            self._new_attempt()
            self._plan = None
        elif level < p.level:  # the game restarted by itself
            self._new_attempt()
            self._plan = None
        elif obs.state == "GAME_OVER":
            # Game overs after the same number of actions from several states: a step budget, unless the
            # game ever went on past that many (then the actions did it, e.g. walking into a hazard).
            # A wrong budget would keep the explorer within it for good, so it takes three states.
            at_step = self._deaths.setdefault(p.level, {}).setdefault(p.step, set())
            at_step.add(self.store.key(p.frame))
            if len(at_step) >= 3 and p.step > self._survived.get(p.level, 0):
                graph.set_budget(p.step)
            graph.record(Transition(p.frame, action, None, step=p.step))
            self._plan = None
        else:
            after = self.store.add(obs.frame)
            grew = self.store.observe_transition(p.frame, after, action)
            graph.sync()
            new = self.last_new = self.store.key(after) not in graph.nodes
            graph.record(Transition(p.frame, action, after, step=p.step))
            changed = self.last_changed = not self.store.same_state(p.frame, after)
            self.scorer.history.add(p.cand, changed)
            if p.cand.is_click:
                point = self._clicks.setdefault(p.level, {}).setdefault((p.cand.x, p.cand.y), [0, 0])
                point[0] += 1
                point[1] += changed
            if changed and not p.cand.is_click:
                self.scorer.history.add_motion(
                    self.store.frame(p.frame), self.store.frame(after), self.store.mask.mask
                )
            self._add_sample(p, changed=changed, after=after, new=new)
            if grew:
                self._mask_grew()
        self.scorer.train()

    def _new_attempt(self) -> None:
        """A level (re)starts: actions and states are counted from here."""
        self._since_reset = 0
        self._attempt.clear()

    def _mask_grew(self) -> None:
        """States were re-keyed: plans are stale and so are the predictor's labels."""
        self._plan = None
        self._attempt.clear()
        self.scorer.relabel()

    def _add_sample(self, p: _Pending, changed: bool, after: int | None, new: bool) -> None:
        if p.features is not None:
            self.scorer.add_sample(p.features, changed, new, p.frame, after)

    def winning_path(self, level: int) -> list[tuple[np.ndarray, Candidate]] | None:
        """The fewest actions this game has shown to win `level`, from a start of it: (frame, action) per step,
        each frame its state's first; None before the level was completed."""
        graph = self.graphs.get(level)
        if graph is None or not graph.level_up_known:
            return None
        graph.sync()
        steps = graph.shortest_win([self.store.key(f) for f in graph.start_frames])
        if steps is None:
            return None
        return [(self.store.frame(graph.nodes[k].frame_id), graph.nodes[k].candidate(a)) for k, a in steps]

    # ------------------------------------------------------------------ introspection
    def stats(self) -> dict[str, Any]:
        return {
            "actions": self.actions,
            "states": {lvl: len(g.nodes) for lvl, g in self.graphs.items()},
            "masked_pixels": int(self.store.mask.mask.sum()),
            "frames": len(self.store),
            "predictor_updates": self.scorer.predictor.updates,
            "budgets": {lvl: g.budget for lvl, g in self.graphs.items() if g.budget is not None},
        }
