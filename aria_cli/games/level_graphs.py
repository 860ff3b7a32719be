"""What one recording observed, level by level: the explorer's state graphs, rebuilt offline.

A recording is read as the explorer would have lived it: the volatile-pixel mask learns from the same
transitions (in-level moves, times since the level started), each level gets a `StateGraph` of
(state, action incl. click coordinates) -> next state, and the transition where `levels_completed`
goes up is the level's completion. RESET (and a GAME_OVER followed by RESET) goes back to the level
start. Keys come in two strengths: `masked` (the explorer's keys, volatile pixels ignored: loops that
only a step counter tells apart close) and `exact` (raw frames: safer where the mask merged states the
game tells apart).

`LevelGraphs` then answers, for each level the run completed, with the action sequences worth
replaying: the shortest path over the masked graph and over the exact one (breadth-first over every
outcome an action had, from the replay's level start or from any level start the run saw: a RESET's
level start may look different each time), the run's shortest completing attempt loop-erased over
exact frames, that attempt verbatim, and the run's whole stay in the level (RESETs included).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from aria_cli.data.recordings import Recording, Step
from aria_cli.explore.frame_hash import FrameStore
from aria_cli.explore.state_graph import ActionKey, StateGraph, Transition
from aria_cli.games.planners import Act
from aria_cli.vocab import CLICK, RESET


def action_key(step: Step) -> ActionKey:
    """The explorer's action identity: (action, x, y), with -1 for actions without coordinates."""
    return (step.action, step.x, step.y) if step.action == CLICK else (step.action, -1, -1)


def act_of(key: ActionKey) -> Act:
    return (key[0], key[1], key[2]) if key[0] == CLICK else (key[0], None, None)


@dataclass
class Attempt:
    """A stretch of play inside one level without a RESET: frame ids visited and the actions between."""

    level: int
    frames: list[int]
    actions: list[ActionKey] = field(default_factory=list)
    completed: bool = False


@dataclass
class LevelRun:
    """How the run spent one level the first time it completed it (actions counted like `aria play`)."""

    level: int
    run_actions: int  # from reaching the level to completing it, RESETs included
    stay: list[Act]  # those actions (a full restart of the game starts the count again)


def _completes(prev: Step, step: Step) -> bool:
    return step.levels_completed > prev.levels_completed or (step.state == "WIN" and prev.state != "WIN")


class LevelGraphs:
    """Per-level state graphs (masked and exact keys) and completing attempts of one recording."""

    def __init__(self, rec: Recording):
        self.masked = FrameStore()
        self.exact = FrameStore()  # never fed: its mask stays empty, so keys are raw-frame hashes
        self.graphs: dict[int, StateGraph] = {}
        self.exact_graphs: dict[int, StateGraph] = {}
        self.attempts: list[Attempt] = []
        self.runs: dict[int, LevelRun] = {}
        self._read(rec.steps)

    # ------------------------------------------------------------------ reading
    def _add(self, frame: np.ndarray) -> int:
        fid = self.masked.add(frame)
        if self.exact.add(frame) != fid:  # same frames in the same order: the same ids
            raise AssertionError("frame stores out of step")
        return fid

    def _read(self, steps: list[Step]) -> None:
        log: dict[int, list[Transition]] = {}
        starts: dict[int, list[int]] = {}
        first = steps[0]
        cur = Attempt(first.levels_completed, [self._add(first.frame)])
        starts.setdefault(cur.level, []).append(cur.frames[0])
        since, opening = 0, None
        arrived = {first.levels_completed: 0}  # level -> index of the step that reached it
        for i in range(1, len(steps)):
            prev, step = steps[i - 1], steps[i]
            before, level = cur.frames[-1], prev.levels_completed
            if prev.state == "NOT_FINISHED":  # graphs are built after the pass: no key goes stale
                self.masked.observe_time(before, level, since, opening)
            fid = self._add(step.frame)
            key = action_key(step)
            if step.action == RESET or step.levels_completed < level:
                if not cur.actions and step.levels_completed == cur.level:
                    arrived[cur.level] = i  # a RESET straight after a (re)start: count from here, like `aria play`
                self._close(cur)
                cur, since, opening = Attempt(step.levels_completed, [fid]), 0, None
                if step.state != "GAME_OVER":
                    starts.setdefault(cur.level, []).append(fid)
                if step.levels_completed < level:  # the whole game restarted
                    arrived = {step.levels_completed: i}
                arrived.setdefault(step.levels_completed, i)
                continue
            since += 1
            opening = key if since == 1 else opening
            if _completes(prev, step):
                log.setdefault(level, []).append(Transition(before, key, None, level_up=True, step=since))
                cur.actions.append(key)
                cur.completed = True
                self._close(cur)
                self._first_completion(steps, level, arrived.get(level, 0), i)
                cur, since, opening = Attempt(step.levels_completed, [fid]), 0, None
                arrived.setdefault(step.levels_completed, i)
                if step.state == "NOT_FINISHED":
                    starts.setdefault(cur.level, []).append(fid)
            elif step.state == "GAME_OVER":
                log.setdefault(level, []).append(Transition(before, key, None, step=since))
                cur.actions.append(key)
            else:
                self.masked.observe_transition(before, fid, key)
                log.setdefault(level, []).append(Transition(before, key, fid, step=since))
                cur.actions.append(key)
                cur.frames.append(fid)
        self._close(cur)
        for level in log.keys() | starts.keys():
            self.graphs[level] = self._graph(self.masked, starts.get(level, []), log.get(level, []))
            self.exact_graphs[level] = self._graph(self.exact, starts.get(level, []), log.get(level, []))

    def _close(self, attempt: Attempt) -> None:
        if attempt.actions:
            self.attempts.append(attempt)

    def _first_completion(self, steps: list[Step], level: int, start: int, end: int) -> None:
        if level in self.runs:
            return
        stay = [act_of(action_key(s)) for s in steps[start + 1 : end + 1]]
        self.runs[level] = LevelRun(level, end - start, stay)

    @staticmethod
    def _graph(store: FrameStore, starts: list[int], log: list[Transition]) -> StateGraph:
        graph = StateGraph(store, lambda fid, detail: ([], None))  # no candidates: only tried actions matter here
        for fid in starts:
            graph.add_start(fid)
        for t in log:
            graph.record(t)
        return graph

    # ------------------------------------------------------------------ questions
    @property
    def completed_levels(self) -> list[int]:
        """Levels the run completed, in order from the first (a level is reached only through the ones before)."""
        out = []
        while len(out) in self.runs:
            out.append(len(out))
        return out

    def shortest(self, level: int, start_frame: np.ndarray, exact: bool = False,
                 any_start: bool = False) -> list[Act] | None:  # fmt: skip
        """Shortest observed action sequence from this start frame to the level's completion; with
        `any_start` (or when the run never saw this frame) from whichever level start the run saw is
        closest (RESET leads to the level start, which may look different each time)."""
        graph = (self.exact_graphs if exact else self.graphs).get(level)
        if graph is None:
            return None
        store = self.exact if exact else self.masked
        here = store.key(store.add(start_frame))
        sources = [here] if here in graph.nodes else []
        if any_start or not sources:
            sources += [store.key(f) for f in graph.start_frames]
        steps = graph.shortest_win(list(dict.fromkeys(sources)))
        return None if steps is None else [act_of(a) for _, a in steps]

    def knows_start(self, level: int, start_frame: np.ndarray) -> bool:
        graph = self.graphs.get(level)
        return graph is not None and self.masked.key(self.masked.add(start_frame)) in graph.nodes

    def best_attempt(self, level: int) -> Attempt | None:
        done = [a for a in self.attempts if a.level == level and a.completed]
        return min(done, key=lambda a: len(a.actions)) if done else None

    @staticmethod
    def loop_erased(attempt: Attempt) -> list[Act]:
        """A completing attempt with every stretch that came back to an identical frame cut out."""
        path, acts = [attempt.frames[0]], []
        at = {attempt.frames[0]: 0}  # frame id -> its index in `path`
        for action, nxt in zip(attempt.actions, attempt.frames[1:], strict=False):
            if nxt in at:
                cut = at[nxt]
                for f in path[cut + 1 :]:
                    del at[f]
                path, acts = path[: cut + 1], acts[:cut]
            else:
                at[nxt] = len(path)
                path.append(nxt)
                acts.append(action)
        return [act_of(a) for a in [*acts, attempt.actions[-1]]]
