"""Token caches for world-model tests, built from a tiny rule-based world in code space (no tokenizer).

The world: background code 1, a sprite (code 7) on one cell. ACTION1-4 move it up/down/left/right;
a click (ACTION6) paints code 9 on the clicked cell. A level is completed whenever the sprite reaches
the bottom-right cell, after which it restarts top-left. It is learnable in a few hundred steps and has
every token role: codes that change and codes that stay, types, click locations, LEVEL_COMPLETE.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from aria_cli.data.splits import assign_split
from aria_cli.data.token_cache import EpisodeEntry, TokenCache
from aria_cli.vocab import CLICK, LOC_NULL, N_POINTS, Vocab, episode_tokens

BG, SPRITE, PAINT = 1, 7, 9
MOVES = {1: (-1, 0), 2: (1, 0), 3: (0, -1), 4: (0, 1)}


def rule_episode(n_actions: int, seed: int, clicks: bool = True):
    """(codes (T+1, 64), action types, locations, level_up) of one episode in the rule world."""
    rng = np.random.default_rng(seed)
    grid = np.full(64, BG, dtype=np.int64)
    pos = 0
    frames = []
    types, locs, level = [], [], []
    for _ in range(n_actions + 1):
        f = grid.copy()
        f[pos] = SPRITE
        frames.append(f)
        if len(types) == n_actions:
            break
        if clicks and rng.random() < 0.25:
            cell = int(rng.integers(0, 64))
            types.append(CLICK)
            locs.append(cell)
            grid[cell] = PAINT
            level.append(False)
            continue
        a = int(rng.choice([2, 4, 4, 2, 1, 3]))
        r, c = divmod(pos, 8)
        dr, dc = MOVES[a]
        r, c = min(7, max(0, r + dr)), min(7, max(0, c + dc))
        pos = r * 8 + c
        done = pos == 63
        if done:
            pos = 0
        types.append(a)
        locs.append(LOC_NULL)
        level.append(done)
    return np.stack(frames), np.array(types), np.array(locs), np.array(level, dtype=bool)


def rule_points(types: np.ndarray) -> np.ndarray:
    """Where in its cell each click of a rule-world episode lands: the step's index mod 64 (-1: no click)."""
    return np.where(types == CLICK, np.arange(len(types)) % N_POINTS, -1).astype(np.int8)


def rule_cache(
    path: Path,
    games: dict[str, int] | None = None,
    n_actions: int = 40,
    clicks: dict[str, bool] | None = None,
    seed: int = 0,
) -> TokenCache:
    """A TokenCache (the real class) of rule-world episodes: games maps name → number of recordings."""
    games = games or {"tsta": 3, "tstb": 3}
    clicks = clicks or {}
    keys = [(f"{g}/ep{i}.jsonl", g) for g, n in games.items() for i in range(n)]
    split = assign_split(keys)
    parts, episodes, start = [], [], 0
    for k, (key, game) in enumerate(keys):
        codes, types, locs, level = rule_episode(n_actions, seed * 1000 + k, clicks.get(game, True))
        tokens, offsets = episode_tokens(Vocab(0), codes, types, locs, level)
        parts.append(tokens)
        episodes.append(
            EpisodeEntry(
                file=key, game=game, split=split[key], start=start, end=start + len(tokens),
                frame_offsets=offsets, click_points=rule_points(types),
                n_actions=len(types), levels_completed=int(level.sum()),
                action_types=sorted(set(types.tolist())), click_cells=sorted(set(locs[types == CLICK].tolist())),
            )
        )  # fmt: skip
        start += len(tokens)
    tokens = np.concatenate(parts).astype(np.int32)
    return TokenCache(tokens, episodes, f"rule-{seed}-{n_actions}-{sorted(games.items())}", Path(path))


def save_tiny_llama(folder: Path, vocab_size: int = 300, tie: bool = True, seed: int = 0) -> Path:
    """A random 2-layer Llama saved with save_pretrained: stands in for SmolLM2 without a download."""
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=tie,
    )
    LlamaForCausalLM(cfg).save_pretrained(folder)
    return folder
