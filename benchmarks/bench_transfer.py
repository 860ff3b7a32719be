"""Transfer, measured honestly (issue 28): leave games out of training, then play them.

    .venv/bin/python benchmarks/bench_transfer.py fold --recordings CORPUS --out bench-transfer/fold
    .venv/bin/python benchmarks/bench_transfer.py preview --recordings CORPUS --out bench-transfer/preview
    .venv/bin/python benchmarks/bench_transfer.py fold --smoke --out /tmp/transfer-smoke   # minutes
    .venv/bin/python benchmarks/bench_transfer.py demos --out bench-transfer/demos

`fold`: a fixed fold of `--fold-size` (40) games drawn with `--fold-seed` from the games folder
(`--environments-dir`, default ../shared/realgames/environment_files) is held out; everything — frame
tokenizer, world model, policy heads — is trained on the recordings of the other games only
(aria_cli.data.splits.leave_games_out, which reads each recording's game from the recording); the fold is
then played by `world-model`, `world-model` with learning inside the game (`--adapt-every`,
`--adapt-steps`, `--wm-change`, `--wm-novelty`), `world-model+novelty` (the world model's P(new state)
alone), `explore` and `random` at `--actions` (2,000) actions, seeds `--seeds`
(0 1). `preview`: held out are the three preview games (ls20, vc33, ft09), trained on every other dev game,
played at 4,000 actions. `demos`: the opposite, trained on the preview games' own demos only and played
on them at 4,000 actions (`--agents` default: world-model, explore); without `--recordings` the demos are
made by ../shared/realgames/make_demos.py (`--demo-variants` per game: the winning playthrough, then
variants with a few random moves and a level RESET before each level).

CORPUS is a folder of toolkit recordings of the dev games (e.g. `aria bench --record` exploration runs).
The tokenizer and world model learn from the training games' recordings; the policy heads, by default,
from `aria distill` demonstrations made of those same recordings (OUT/demos: exploration recordings teach
dynamics, the distilled ones what to do; `--policy-data corpus` trains them on the corpus instead).
Without `--recordings`, the script makes its own: one `explore` run of `--record-actions` actions per
training game (at most `--max-train-games` of them, drawn with the fold seed), recorded through the
real toolkit.

Games are played by `aria bench` (`--jobs` worker processes, 2 by default), one results folder per agent
in OUT/play (a killed run resumes where it stopped with `--reuse`; training again clears them), merged
into OUT/play/all, where the learned variants are named by their options (`world-model+online` is
`world-model(adapt-every=8,wm-change=8,wm-novelty=8)`). Output: OUT/summary.json (every run; per agent
`aria bench`'s totals: levels, each game's mean over seeds summed, and by seed, wins, ms/action, the
official score, each game's best seed averaged over the games; `compared`: each agent against those after
it, the ratio of levels with its bootstrap interval) and `aria bench`'s tables.

The full configuration takes hours on 2 CPU cores; `--smoke` (4 held-out games, 6 training games, 200
actions, one seed, a minute of world-model training) only shows the machinery works: its figures are not a
result.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aria_cli.common import atomic  # noqa: E402
from aria_cli.common.errors import AriaError  # noqa: E402
from aria_cli.data.splits import draw_fold, leave_games_out, link_recordings  # noqa: E402
from aria_cli.play.bench import BenchConfig, bench, merge  # noqa: E402
from aria_cli.play.compare import compare  # noqa: E402

PREVIEW = ("ls20", "vc33", "ft09")
REALGAMES = ROOT.parent / "shared" / "realgames"
DEFAULT_ENVS = REALGAMES / "environment_files"


def dev_games(env_dir: Path) -> list[str]:
    return sorted(p.name for p in env_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def record_corpus(games: list[str], env_dir: Path, out: Path, actions: int) -> Path:
    """One explore run per game, recorded by the toolkit (when no corpus is given)."""
    compare(games, ["explore"], max_actions=actions, seeds=[0], environments_dir=env_dir, record_dir=out,
            show_progress=False)  # fmt: skip
    return out


def make_demos(games: list[str], env_dir: Path, out: Path, variants: int) -> Path:
    """The preview games' demos, from their winning playthroughs (../shared/realgames/make_demos.py)."""
    import shutil
    import subprocess

    for game in games:
        if (out / game).exists():  # complete: an interrupted one is never renamed into place
            continue
        partial = out / f".{game}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        subprocess.run([sys.executable, str(REALGAMES / "make_demos.py"), str(env_dir),
                        str(REALGAMES / "solutions" / f"{game}.jsonl"), game, str(partial), str(variants)],
                       check=True)  # fmt: skip
        partial.rename(out / game)
    return out


def distill_demos(train_files: list[Path], env_dir: Path, out: Path, held: list[str]) -> Path | None:
    """`aria distill` demonstrations of the training recordings (kept in `out` once complete); None when
    no training run completed a level."""
    from aria_cli.games.distill import distill

    done = out / ".complete"
    if not done.exists():
        distill(train_files, out, env_dir)
        out.mkdir(parents=True, exist_ok=True)
        done.touch()
    demos, of_held = leave_games_out(out, held)
    if of_held:  # made from training files only: a held-out game here is a bug
        raise SystemExit(f"{out}: distilled demonstrations of a held-out game")
    return out if demos else None


def train_all(data: Path, ck: Path, wm_minutes: float, wm_epochs: int | None, policy_epochs: int,
              vqvae_epochs: int, policy_data: Path) -> dict[str, float]:
    """Tokenizer, token cache and world model on `data`, policy heads on `policy_data`; seconds per stage."""
    from aria_cli.data.token_cache import build_token_cache
    from aria_cli.policy.train import PolicyTrainConfig, train_policy
    from aria_cli.tokenizer.model import tokenizer_exists
    from aria_cli.tokenizer.train import TokenizerTrainConfig, train_vqvae
    from aria_cli.world_model.train import WorldModelTrainConfig, train_world_model

    times, t = {}, time.time()
    if not tokenizer_exists(ck):  # a tokenizer trained on the same files before (an interrupted run) is kept
        train_vqvae(data, ck, TokenizerTrainConfig(epochs=vqvae_epochs), device="cpu", quiet=True)  # the large size
    times["train-vqvae"], t = time.time() - t, time.time()
    build_token_cache(data, ck, device="cpu")
    times["tokenize"], t = time.time() - t, time.time()
    budget = 0 if wm_epochs else wm_minutes  # on a busy machine the time cap can leave a handful of steps
    train_world_model(WorldModelTrainConfig(data=data, checkpoints=ck, device="cpu", time_budget=budget,
                                            epochs=wm_epochs, show=False))
    times["train-wm"], t = time.time() - t, time.time()
    train_policy(PolicyTrainConfig(data=policy_data, checkpoints=ck, device="cpu", epochs=policy_epochs))
    times["train-policy"] = time.time() - t
    return times


AGENTS = ["world-model", "world-model+novelty", "world-model+online", "explore", "random"]


def variant_options(agent: str, args) -> dict:
    """The `aria bench` options that play one of AGENTS (the learned variants by their options)."""
    return {"world-model+novelty": {"wm_novelty": args.wm_novelty},
            "world-model+online": {"adapt_every": args.adapt_every, "adapt_steps": args.adapt_steps,
                                   "wm_change": args.wm_change, "wm_novelty": args.wm_novelty}}.get(agent, {})


def play(games: list[str], ck: Path, folder: Path, args):
    """Each agent in its own `aria bench` folder (worker processes, resumable), then merged into
    `folder/all` with the folders of agents played before on the same games, seeds and actions (`--reuse`):
    the learned variants are named there by their options (aria_cli.play.bench.variant_name)."""
    for agent in args.agents:
        cfg = BenchConfig(env_dir=args.environments_dir, games=games, agents=[agent.split("+")[0]],
                          seeds=args.seeds, max_actions=args.actions, jobs=args.jobs, out=folder / agent,
                          resume=True, record=False, checkpoints=ck, **variant_options(agent, args))  # fmt: skip
        bench(cfg)
    folders = []
    for agent in AGENTS:
        meta = folder / agent / "bench.json"
        if meta.exists():
            m = json.loads(meta.read_text())
            if (m["games"], m["seeds"], m["max_actions"]) == (games, args.seeds, args.actions):
                folders.append(folder / agent)
            else:
                print(f"left out {folder / agent}: played on other games, seeds or actions", flush=True)
    return merge(folders, folder / "all")[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["fold", "preview", "demos"])
    ap.add_argument("--recordings", type=Path, help="corpus of recordings of the dev games (default: record one)")
    ap.add_argument("--environments-dir", type=Path, default=DEFAULT_ENVS)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--fold-size", type=int, default=40)
    ap.add_argument("--fold-seed", type=int, default=28)
    ap.add_argument("--actions", type=int, help="actions per run (fold: 2000, preview and demos: 4000)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--agents", nargs="+", help="default: world-model, world-model+online, explore, random "
                    "(demos: world-model, explore)")
    ap.add_argument("--demo-variants", type=int, default=5, help="demos: variants per preview game")
    ap.add_argument("--record-actions", type=int, default=1000, help="actions per recorded run without --recordings")
    ap.add_argument("--max-train-games", type=int, help="record at most this many training games")
    ap.add_argument("--wm-minutes", type=float, default=4.5)
    ap.add_argument("--wm-epochs", type=int, help="world-model epochs (instead of --wm-minutes)")
    ap.add_argument("--policy-epochs", type=int, default=50)
    ap.add_argument("--vqvae-epochs", type=int, default=24)
    ap.add_argument("--policy-data", choices=["distill", "corpus"], default="distill",
                    help="policy heads on distilled demonstrations of the training recordings, or on the corpus")
    ap.add_argument("--adapt-every", type=int, default=8)
    ap.add_argument("--adapt-steps", type=int, default=2)
    ap.add_argument("--wm-change", type=int, default=8)
    ap.add_argument("--wm-novelty", type=int, default=8)
    ap.add_argument("--jobs", type=int, default=2, help="worker processes for play (aria bench --jobs)")
    ap.add_argument("--reuse", action="store_true", help="play with OUT/checkpoints as they are (trained before); "
                    "the runs join those already in OUT/play, an interrupted play resumes")
    ap.add_argument("--smoke", action="store_true", help="4 games, 200 actions, 1 seed, tiny training (not a result)")
    args = ap.parse_args(argv)
    if args.smoke:
        args.fold_size, args.seeds, args.record_actions = 4, [0], 300
        args.actions = args.actions or 200
        args.max_train_games = args.max_train_games or 6
        args.wm_minutes, args.policy_epochs, args.vqvae_epochs = 1.0, 10, 4
    args.actions = args.actions or (2000 if args.mode == "fold" else 4000)
    demos = args.mode == "demos"
    args.agents = args.agents or (["world-model", "explore"] if demos else
                                  ["world-model", "world-model+online", "explore", "random"])
    unknown = [a for a in args.agents if a not in AGENTS]
    if unknown:
        raise SystemExit(f"--agents: unknown {', '.join(unknown)}; choose from {', '.join(AGENTS)}")

    games = dev_games(args.environments_dir)
    if args.mode == "fold":
        held = draw_fold(games, args.fold_size, args.fold_seed)
    else:  # preview: the three games are held out; demos: trained on them, nothing is held out
        held = [] if demos else list(PREVIEW)
    played = list(PREVIEW) if demos else held
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    corpus = args.recordings
    if args.reuse:
        corpus = corpus or out / "corpus"
    elif corpus is None and demos:
        corpus = make_demos(played, args.environments_dir, out / "corpus", args.demo_variants)
    elif corpus is None:
        others = [g for g in games if g not in held]
        if args.max_train_games:
            others = draw_fold(others, min(args.max_train_games, len(others)), args.fold_seed)
        t = time.time()
        corpus = record_corpus(others, args.environments_dir, out / "corpus", args.record_actions)
        print(f"recorded {len(others)} training games in {time.time() - t:.0f} s", flush=True)
    train_files, held_files = leave_games_out(corpus, held)
    print(f"held out {len(held)} games ({len(held_files)} recordings set aside), "
          f"training on {len(train_files)} recordings", flush=True)  # fmt: skip
    data = link_recordings(train_files, out / "train-data")
    times, policy_data = {}, data
    if not args.reuse:
        if args.policy_data == "distill":
            t = time.time()
            policy_data = distill_demos(train_files, args.environments_dir, out / "demos", held)
            times["distill"] = time.time() - t
            if policy_data is None:
                print("no training run completed a level: the policy heads train on the corpus", flush=True)
                policy_data, args.policy_data = data, "corpus (nothing to distill)"
        times |= train_all(data, out / "checkpoints", args.wm_minutes, args.wm_epochs, args.policy_epochs,
                           args.vqvae_epochs, policy_data)
    play_dir = out / "play"
    if not args.reuse:  # runs of models trained before must not join these
        shutil.rmtree(play_dir, ignore_errors=True)
    t = time.time()
    try:
        both = play(played, out / "checkpoints", play_dir, args)
    except AriaError as e:  # --reuse with other seeds or actions than OUT/play's: bench's own one-line refusal
        raise SystemExit(f"{e} (bench_transfer.py: another --out, or the seeds and actions played there)") from None
    times["play"] = time.time() - t
    if args.reuse:
        before = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
        times = {**before.get("seconds", {}), **times}  # the earlier stages' seconds
        args.policy_data = before.get("policy_data", "corpus")  # what the checkpoints were trained on
    runs = [vars(r) for r in both.runs]
    summary = {"mode": args.mode, "smoke": args.smoke, "held_out": held, "played": played, "actions": args.actions,
               "seeds": args.seeds, "train_recordings": len(train_files), "policy_data": args.policy_data,
               "seconds": times, "agents": both.totals(), "compared": both.compared(), "runs": runs}  # fmt: skip
    atomic.write_text(out / "summary.json", json.dumps(summary, indent=1, default=str))
    Console(width=160).print(*both.tables())  # what `aria bench` prints: per game, totals, agent against agent
    print(f"wrote {out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
