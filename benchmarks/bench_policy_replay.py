"""Does the agent see at play what the models saw in training? Two views of one set of checkpoints.

    .venv/bin/python benchmarks/bench_policy_replay.py --checkpoints CK replay FILE.jsonl [FILE ...]
    .venv/bin/python benchmarks/bench_policy_replay.py --checkpoints CK play GAME --moves 12 \\
        --environments-dir ../shared/realgames/environment_files

`replay`: each recording is fed through the agent's own `ModelContexts` (the KV-cached contexts it plays
with), teacher-forced: frame, then the recorded action. Per level: how often the policy's likeliest type is
the one recorded next, and for clicks its likeliest cell; and the world model's likeliest type. On the
recordings the models were trained on, a figure far below `aria eval`'s says the play contexts differ from
the training windows.

`play`: the world-model agent's first `--moves` decisions in a real game (seed 0), with the policy's and
the world model's type distributions and the `PriorEvidence` weight of each of the prior's distributions
(how far the agent trusts it) before each move; `--parts` adds each untried candidate's exploration score
part by part: log P(change), the prior, the sampling noise, and the rest (log P(new state), salience).
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aria_cli.agents.base import GameStart  # noqa: E402
from aria_cli.agents.contexts import LearnedModels, ModelContexts  # noqa: E402
from aria_cli.agents.learned import AgentConfig, WorldModelAgent, _begin_frame  # noqa: E402
from aria_cli.data.recordings import read_recording, without_repeated_opening  # noqa: E402
from aria_cli.games.session import GameSession  # noqa: E402
from aria_cli.vocab import ACTION_NAMES, CLICK, RESET  # noqa: E402


def replay(models: LearnedModels, path: Path) -> dict[int, dict[str, int]]:
    """Per level: moves, policy type right, world-model type right, clicks, policy cell right."""
    ctx = ModelContexts(models)
    ctx.reset()
    rec = read_recording(path)
    ep = rec.episode()  # frame t, then the action taken after it (the token cache's alignment)
    steps = without_repeated_opening(rec.steps)  # the steps behind the episode's frames
    out: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(("moves", "type", "wm_type", "clicks", "cell"), 0))
    for i, (t, loc, level_up) in enumerate(zip(ep.action_types, ep.action_cells, ep.level_up, strict=True)):
        _begin_frame(ctx, steps[i])
        if t != RESET:
            row = out[int(ep.levels[i])]
            row["moves"] += 1
            row["type"] += int(np.argmax(ctx.type_logp)) == t
            row["wm_type"] += int(np.argmax(ctx.wm_type_logp)) == t
            if t == CLICK:
                row["clicks"] += 1
                row["cell"] += int(np.argmax(ctx.cell_logp)) == loc
        ctx.end_action(int(t), int(loc), bool(level_up))
    return out


def play(models: LearnedModels, game: str, moves: int, environments_dir: Path | None, parts: bool) -> None:
    agent = WorldModelAgent(models, AgentConfig(), seed=0)
    agent.reset(GameStart(game=game, seed=0))
    scored: list[str] = []
    if parts:  # this agent's scorer reports each untried candidate's score, part by part
        scorer = agent.explorer.scorer
        score = scorer.score

        def reporting(obs, node, cands, again=()):
            out = score(obs, node, cands, again)
            total, p_change, _, (prior_noise, _) = out
            prior = scorer.config.prior_weight * np.asarray(scorer.prior(obs, list(cands)))  # again, without noise
            rest = total - np.log(p_change) - prior_noise  # log P(new state), salience
            scored[:] = [f"{ACTION_NAMES[c.action] if not c.is_click else f'click {c.x},{c.y}'}: change {np.log(p_change[i]):.1f} "
                         f"prior {prior[i]:.1f} noise {prior_noise[i] - prior[i]:+.1f} other {rest[i]:.1f}"
                         for i, c in enumerate(cands)]  # fmt: skip
            return out

        scorer.score = reporting
    with GameSession(game, seed=0, environments_dir=environments_dir) as session:
        obs = session.reset()
        for i in range(moves):
            weights = " ".join(f"{k} {agent.evidence.weight(k):.2f}" for k in agent.evidence.NAMES)
            scored.clear()
            d = agent.act(obs)
            pi, wm = np.exp(agent.ctx.type_logp), np.exp(agent.ctx.wm_type_logp)
            shown = [a for a in range(1, len(pi)) if pi[a] > 0.005 or wm[a] > 0.005]
            dist = " ".join(f"{ACTION_NAMES[a]} {pi[a]:.2f}/{wm[a]:.2f}" for a in shown)
            print(f"{i:3d} {ACTION_NAMES[d.action]:<8} ({d.info.get('mode', '?')}) policy/world model: {dist} | trust: {weights}")
            for line in scored:
                print(f"      {line}")
            obs = session.step(d.action, d.x, d.y)
            agent.observe(obs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoints", type=Path, required=True)
    sub = ap.add_subparsers(dest="mode", required=True)
    r = sub.add_parser("replay")
    r.add_argument("files", type=Path, nargs="+")
    p = sub.add_parser("play")
    p.add_argument("game")
    p.add_argument("--moves", type=int, default=12)
    p.add_argument("--environments-dir", type=Path)
    p.add_argument("--parts", action="store_true", help="each untried candidate's score, part by part")
    args = ap.parse_args(argv)
    models = LearnedModels.load(args.checkpoints)
    if args.mode == "play":
        play(models, args.game, args.moves, args.environments_dir, args.parts)
        return 0
    for f in args.files:
        levels = replay(models, f)
        total = {k: sum(row[k] for row in levels.values()) for k in ("moves", "type", "wm_type", "clicks", "cell")}
        cells = f", cell {total['cell'] / total['clicks']:.1%} of {total['clicks']} clicks" if total["clicks"] else ""
        print(f"{f.name}: {total['moves']} moves, policy type {total['type'] / max(total['moves'], 1):.1%}, "
              f"world model type {total['wm_type'] / max(total['moves'], 1):.1%}{cells}")  # fmt: skip
        for level, row in sorted(levels.items()):
            c = f", cell {row['cell']}/{row['clicks']}" if row["clicks"] else ""
            print(f"  level {level + 1}: policy type {row['type']}/{row['moves']}, world model {row['wm_type']}/{row['moves']}{c}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
