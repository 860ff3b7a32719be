"""The state graph of one level: which action, tried in which state, led where.

States are frames keyed by `FrameStore.key` (volatile pixels ignored). Each node keeps the actions
worth trying there (`Candidate`s, from the frame's objects) and an `Edge` per action tried, with the
states it led to, how often it ended the game, and whether it completed the level. The graph is
rebuilt from its transition log whenever the volatile mask grows (states that differed only in a
step counter then merge), so no key ever goes stale.

Navigation is a breadth-first search over tried edges that changed the state (no-ops, deaths and
level-ups lead nowhere new); `path` returns the shortest known way to the nearest node a predicate
accepts, e.g. a node that still has untried actions.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from aria_cli.explore.frame_hash import FrameStore
from aria_cli.explore.objects import Candidate, Segmentation

ActionKey = tuple[int, int, int]
UNREACHED = 1 << 30
# (frame id, click detail) -> the state's candidates and its segmentation
CandidateFn = Callable[[int, int], tuple[list[Candidate], Segmentation | None]]


@dataclass(slots=True)
class Edge:
    """What one action did in one state, over every time it was tried there."""

    outcomes: dict[bytes, int] = field(default_factory=dict)  # next state key -> times
    deaths: int = 0  # times it ended the game (GAME_OVER) and was blamed for it
    level_up: bool = False
    tries: int = 0

    @property
    def next(self) -> bytes | None:
        """The state it usually leads to (None if it never led to a state in this level)."""
        return max(self.outcomes, key=self.outcomes.__getitem__) if self.outcomes else None


@dataclass
class Node:
    key: bytes
    frame_id: int  # the first frame seen in this state; its candidates stand for the state
    candidates: list[Candidate]
    seg: Segmentation | None
    edges: dict[ActionKey, Edge] = field(default_factory=dict)
    visits: int = 0
    depth: int = UNREACHED  # shortest known number of actions from a level start
    cache: dict = field(default_factory=dict)  # scratch space for the explorer (scores per version)
    untried_keys: set[ActionKey] = field(init=False)
    budget_deaths: dict[ActionKey, int] = field(default_factory=dict)  # game overs blamed on the budget

    def __post_init__(self):
        self.untried_keys = {c.key for c in self.candidates} - self.edges.keys()

    def untried(self) -> list[Candidate]:
        """Candidates never tried in this state, in the order they were offered."""
        return [c for c in self.candidates if c.key in self.untried_keys]

    def has_untried(self) -> bool:
        return bool(self.untried_keys)

    def candidate(self, action: ActionKey) -> Candidate:
        for c in self.candidates:
            if c.key == action:
                return c
        return Candidate(action=action[0], x=action[1], y=action[2])

    def is_noop(self, action: ActionKey) -> bool:
        e = self.edges.get(action)
        return e is not None and e.outcomes.keys() == {self.key} and not e.deaths and not e.level_up

    def level_up_action(self) -> ActionKey | None:
        for k, e in self.edges.items():
            if e.level_up:
                return k
        return None


@dataclass(frozen=True)
class Transition:
    before: int  # frame ids
    action: ActionKey
    after: int | None  # None when the action ended the game
    level_up: bool = False
    step: int = 0  # actions since the level (re)started when it happened; explains budget deaths


class StateGraph:
    """States and transitions of one level, rebuilt from the log whenever the state keys change."""

    def __init__(self, store: FrameStore, candidates: CandidateFn):
        self.store = store
        self._candidates = candidates
        self.log: list[Transition] = []
        self.nodes: dict[bytes, Node] = {}
        self.start_frames: list[int] = []  # frames a level (re)start showed, latest last
        self.budget: int | None = None  # actions after which the level ends by itself, once known
        self.depth_limit: int | None = None  # the explorer's iterative-deepening limit for this level
        self.level_up_known = False  # some edge completed the level
        self.detail = 0  # click detail of the candidates: 0 objects only, then finer grids (refine)
        self._version = store.mask.version

    # ------------------------------------------------------------------ building
    def sync(self) -> bool:
        """Rebuild if the frame keys changed since the last build. True if it rebuilt."""
        if self._version == self.store.mask.version:
            return False
        self.rebuild()
        return True

    def rebuild(self) -> None:
        self._version = self.store.mask.version
        visits = {}
        for node in self.nodes.values():
            k = self.store.key(node.frame_id)
            visits[k] = visits.get(k, 0) + node.visits
        self.nodes = {}
        self.level_up_known = False
        for fid in self.start_frames:
            self._node(fid).depth = 0
        for t in self.log:
            self._apply(t)
        self.recompute_depths()
        for k, v in visits.items():
            if k in self.nodes:
                self.nodes[k].visits = v

    def _node(self, fid: int) -> Node:
        key = self.store.key(fid)
        node = self.nodes.get(key)
        if node is None:
            cands, seg = self._candidates(fid, self.detail)
            node = Node(key=key, frame_id=fid, candidates=cands, seg=seg)
            self.nodes[key] = node
        return node

    def _apply(self, t: Transition) -> None:
        node = self._node(t.before)
        if t.after is None and not t.level_up and self.budget is not None and t.step >= self.budget:
            # The level ran out of actions, which says nothing about this action — unless it keeps
            # happening with this very action (then the "budget" was a coincidence).
            node.budget_deaths[t.action] = node.budget_deaths.get(t.action, 0) + 1
            if node.budget_deaths[t.action] < 2:
                return
        if t.level_up:
            self.level_up_known = True
        edge = node.edges.setdefault(t.action, Edge())
        node.untried_keys.discard(t.action)
        edge.tries += 1
        if t.level_up:
            edge.level_up = True
        elif t.after is None:
            edge.deaths += 1
        else:
            after = self._node(t.after)
            edge.outcomes[after.key] = edge.outcomes.get(after.key, 0) + 1
            after.depth = min(after.depth, node.depth + 1)

    def node(self, fid: int) -> Node:
        """The state of this frame (created on first sight)."""
        self.sync()
        return self._node(fid)

    def add_start(self, fid: int) -> None:
        """A frame the level (re)started with: depth 0, and where RESET is expected to lead."""
        self.sync()
        if not self.start_frames or self.start_frames[-1] != fid:
            self.start_frames.append(fid)
        self._node(fid).depth = 0

    @property
    def start(self) -> Node | None:
        """The state RESET leads to (the latest level start seen)."""
        self.sync()
        return self._node(self.start_frames[-1]) if self.start_frames else None

    def recompute_depths(self) -> None:
        """Exact depths: breadth-first from every level start over state-changing edges."""
        for node in self.nodes.values():
            node.depth = UNREACHED
        queue = deque()
        for fid in self.start_frames:
            node = self._node(fid)
            if node.depth:
                node.depth = 0
                queue.append(node)
        while queue:
            node = queue.popleft()
            for edge in node.edges.values():
                nxt = self.nodes.get(edge.next) if edge.next is not None else None
                if nxt is not None and nxt.depth > node.depth + 1:
                    nxt.depth = node.depth + 1
                    queue.append(nxt)

    def record(self, transition: Transition) -> None:
        self.sync()
        self.log.append(transition)
        self._apply(transition)

    def refine(self, max_detail: int) -> bool:
        """Offer finer clicks in every state (the candidates are made again at the next detail).
        False when the detail is already `max_detail`."""
        if self.detail >= max_detail:
            return False
        self.detail += 1
        self.rebuild()
        return True

    def set_budget(self, budget: int) -> None:
        """The level ends by itself after `budget` actions: game overs at that step blame no action."""
        if self.budget != budget:
            self.budget = budget
            self.rebuild()

    # ------------------------------------------------------------------ navigation
    def path(self, src: bytes, is_target: Callable[[Node], bool], max_nodes: int | None = None):
        """Shortest known path from state `src` to the nearest state accepted by `is_target`.

        Returns (target node, [(state key, action key), ...]) — the actions to take in order, each in
        the state it is listed with — or None if no such state is reachable. [] if src is a target.
        """
        self.sync()
        if src not in self.nodes:
            return None
        parent: dict[bytes, tuple[bytes, ActionKey] | None] = {src: None}
        queue = deque([src])
        while queue:
            key = queue.popleft()
            node = self.nodes[key]
            if is_target(node):
                steps = []
                while parent[key] is not None:
                    prev, action = parent[key]
                    steps.append((prev, action))
                    key = prev
                return node, steps[::-1]
            if max_nodes is not None and len(parent) > max_nodes:
                break
            for action, edge in node.edges.items():
                nxt = edge.next
                if nxt is None or nxt == key or nxt in parent or edge.level_up:
                    continue
                parent[nxt] = (key, action)
                queue.append(nxt)
        return None

    def shortest_win(self, sources: list[bytes]) -> list[tuple[bytes, ActionKey]] | None:
        """Fewest actions from any of these states to the level's completion, over every outcome an action
        had: [(state key, action key), ...], the last action the one that completed it; None if none is known."""
        parent: dict[bytes, tuple[bytes, ActionKey] | None] = {s: None for s in sources if s in self.nodes}
        queue = deque(parent)
        while queue:
            key = queue.popleft()
            win = self.nodes[key].level_up_action()
            if win is not None:
                steps = [(key, win)]
                while parent[key] is not None:
                    key, action = parent[key]
                    steps.append((key, action))
                return steps[::-1]
            for action, edge in self.nodes[key].edges.items():
                for nxt in edge.outcomes:
                    if nxt not in parent:
                        parent[nxt] = (key, action)
                        queue.append(nxt)
        return None

    def __len__(self) -> int:
        self.sync()
        return len(self.nodes)
