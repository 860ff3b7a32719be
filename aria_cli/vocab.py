"""The token layout: the one module that knows which token ID means what.

IDs are offsets from `base`, the backbone's own vocabulary size (49152 for SmolLM2, 0 for the tiny
from-scratch model). The layout follows the tokenizer's codebook: `n_codes` code slots first, the
other token kinds after them. With the default 512 (any codebook of up to 512 codes) it is exactly
docs/DESIGN.md §3's:

    base+0   .. base+511   VQ codes                         (base+0 .. base+n_codes-1)
    base+512 .. base+519   ACT_TYPE_0..7   (RESET, ACTION1..ACTION7)
    base+520 .. base+584   ACT_LOC_0..63, ACT_LOC_NULL (=64)
    base+585 FRAME, base+586 ACT, base+587 LEVEL_COMPLETE, base+588 GAME_START, base+589 MASK

A codebook of 1024 codes (`aria train-vqvae --codebook-size 1024`) moves ACT_TYPE_0 to base+1024,
FRAME to base+1097, and so on. Everything that builds or reads tokens takes its `Vocab` from the
checkpoint it works with (`layout_codes(codebook_size)`, recorded by the world model as `n_codes`).

An episode is

    [GAME_START] ([FRAME] vq_0..vq_63 [ACT] <TYPE> <LOC> [LEVEL_COMPLETE]?)* [FRAME] vq_0..vq_63

69 tokens per step; LEVEL_COMPLETE follows the action that completed a level, so
P(LEVEL_COMPLETE | context, action) is read at the position after ACT_LOC. The final observation
(the frame after the last action) closes the episode without an action.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aria_cli.common.errors import CheckpointError

# Bump when the layout changes: every cache keyed on the vocabulary is then rebuilt by itself.
VOCAB_VERSION = 2

DEFAULT_CODES = 512  # code slots of the seed's layout; smaller codebooks leave the rest unused
MAX_CODES = 4096
N_TYPES = 8
N_CELLS = 64
LOC_NULL = 64
N_LOCS = 65
GRID = 8  # 8x8 cells of 8x8 pixels
FRAME_SIZE = 64
CELL_PIXELS = FRAME_SIZE // GRID
N_POINTS = CELL_PIXELS * CELL_PIXELS  # the pixels of a cell: where in its cell a click lands (not a token)
FRAME_TOKENS = 1 + N_CELLS  # [FRAME] + 64 codes
ACTION_TOKENS = 3  # [ACT] <TYPE> <LOC>
STEP_TOKENS = FRAME_TOKENS + ACTION_TOKENS  # 69
SPECIALS = ("FRAME", "ACT", "LEVEL_COMPLETE", "GAME_START", "MASK")  # after the codes, types and locs

ACTION_NAMES = ("RESET", "ACTION1", "ACTION2", "ACTION3", "ACTION4", "ACTION5", "ACTION6", "ACTION7")
RESET = 0  # restarts the level; an agent answers GAME_OVER with it
CLICK = 6  # ACTION6 is the only action with coordinates


def layout_codes(codebook_size: int) -> int:
    """Code slots of the layout for a tokenizer of `codebook_size` codes: at least the seed's 512, so
    every codebook up to 512 keeps the original IDs."""
    if not 2 <= codebook_size <= MAX_CODES:
        raise ValueError(f"codebook size must be 2..{MAX_CODES}, got {codebook_size}")
    return max(DEFAULT_CODES, int(codebook_size))


def check_layout(world_model_codes: int, tokenizer_codes: int, world_model_at, tokenizer_at) -> None:
    """A world model reads only the token layout it was trained on (the code slots of its tokenizer):
    refuse, in one line naming what to retrain, a tokenizer (or token cache) of another."""
    if world_model_codes != tokenizer_codes:
        raise CheckpointError(
            f"{world_model_at}: trained on a token layout of {world_model_codes} code slots, but {tokenizer_at} "
            f"gives {tokenizer_codes}; retrain the world model on this tokenizer (`aria train-wm`, then `aria train-policy`)"
        )


def action_name(action_type: int) -> str:
    return ACTION_NAMES[action_type]


def pixel_to_cell(x: int, y: int) -> int:
    """The VQ cell (0..63) that contains pixel (x, y)."""
    return (y // CELL_PIXELS) * GRID + (x // CELL_PIXELS)


def cell_to_pixel(cell: int) -> tuple[int, int]:
    """Pixel (x, y) at the centre of a cell; where the agent clicks for that cell."""
    return (cell % GRID) * CELL_PIXELS + CELL_PIXELS // 2, (cell // GRID) * CELL_PIXELS + CELL_PIXELS // 2


def click_point(x: int, y: int) -> int:
    """Where pixel (x, y) lies inside its cell: 0..63, row-major (the policy's click-point target)."""
    return (y % CELL_PIXELS) * CELL_PIXELS + x % CELL_PIXELS


def point_pixel(cell: int, point: int) -> tuple[int, int]:
    """Pixel (x, y) of `point` (click_point) inside `cell`."""
    return (cell % GRID) * CELL_PIXELS + point % CELL_PIXELS, (cell // GRID) * CELL_PIXELS + point // CELL_PIXELS


@dataclass(frozen=True)
class Vocab:
    """Token IDs for a given `base` and number of code slots. `size` is the embedding rows a model needs."""

    base: int = 0
    n_codes: int = DEFAULT_CODES

    def __post_init__(self) -> None:
        if not DEFAULT_CODES <= self.n_codes <= MAX_CODES:
            raise ValueError(f"a layout has {DEFAULT_CODES}..{MAX_CODES} code slots, got {self.n_codes}")

    @property
    def code0(self) -> int:
        return self.base

    @property
    def type0(self) -> int:
        return self.base + self.n_codes

    @property
    def loc0(self) -> int:
        return self.type0 + N_TYPES

    @property
    def frame(self) -> int:
        return self.loc0 + N_LOCS

    @property
    def act(self) -> int:
        return self.frame + 1

    @property
    def level_complete(self) -> int:
        return self.frame + 2

    @property
    def game_start(self) -> int:
        return self.frame + 3

    @property
    def mask(self) -> int:
        return self.frame + 4

    @property
    def n_special(self) -> int:
        """aria's own tokens: codes, types, locs and the five specials (590 in the default layout)."""
        return self.n_codes + N_TYPES + N_LOCS + len(SPECIALS)

    @property
    def size(self) -> int:
        return self.base + self.n_special

    def at(self, base: int) -> Vocab:
        """The same layout at another base."""
        return Vocab(base, self.n_codes)

    def code(self, c: int) -> int:
        return self.code0 + c

    def act_type(self, t: int) -> int:
        return self.type0 + t

    def act_loc(self, loc: int) -> int:
        return self.loc0 + loc

    # Vectorised role tests: used for loss weights, masks and metrics.
    def is_code(self, ids: np.ndarray) -> np.ndarray:
        return (ids >= self.code0) & (ids < self.type0)

    def is_type(self, ids: np.ndarray) -> np.ndarray:
        return (ids >= self.type0) & (ids < self.type0 + N_TYPES)

    def is_loc(self, ids: np.ndarray) -> np.ndarray:
        return (ids >= self.loc0) & (ids < self.loc0 + N_LOCS)

    def is_action_token(self, ids: np.ndarray) -> np.ndarray:
        """ACT, ACT_TYPE and ACT_LOC: what the policy context must never contain."""
        return (ids == self.act) | self.is_type(ids) | self.is_loc(ids)

    def name(self, token: int) -> str:
        """Readable name of one of aria's tokens (IDs below `base` are the backbone's own)."""
        t = int(token)
        if t < self.base or t >= self.size:
            return f"<backbone:{t}>"
        if t < self.type0:
            return f"VQ_{t - self.code0}"
        if t < self.loc0:
            return f"ACT_TYPE_{t - self.type0}"
        if t < self.frame:
            loc = t - self.loc0
            return "ACT_LOC_NULL" if loc == LOC_NULL else f"ACT_LOC_{loc}"
        return SPECIALS[t - self.frame]

    def names(self, tokens) -> list[str]:
        return [self.name(t) for t in tokens]


def episode_tokens(
    vocab: Vocab,
    codes: np.ndarray,
    action_types: np.ndarray,
    action_locs: np.ndarray,
    level_up: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Token sequence of one episode, and the offset of each step's [FRAME] token.

    codes: (T+1, 64) VQ codes of every observed frame; action_types/action_locs/level_up: (T,) the
    action taken after frame t and whether it completed a level. Returns (tokens int32, frame_offsets
    int64 of length T+1).
    """
    codes = np.asarray(codes)
    n_frames = codes.shape[0]
    n_actions = len(action_types)
    if codes.ndim != 2 or codes.shape[1] != N_CELLS:
        raise ValueError(f"codes must be (frames, 64), got {codes.shape}")
    if n_actions != n_frames - 1 or len(action_locs) != n_actions or len(level_up) != n_actions:
        raise ValueError(f"need one action per frame but the last: {n_frames} frames, {n_actions} actions")
    if codes.size and (codes.min() < 0 or codes.max() >= vocab.n_codes):
        raise ValueError(f"codes must be 0..{vocab.n_codes - 1} in this layout, got up to {codes.max()}")
    level_up = np.asarray(level_up, dtype=bool)
    step_len = np.full(n_frames, FRAME_TOKENS, dtype=np.int64)
    step_len[:-1] += ACTION_TOKENS + level_up
    offsets = 1 + np.concatenate([[0], np.cumsum(step_len[:-1])])
    tokens = np.empty(1 + int(step_len.sum()), dtype=np.int32)
    tokens[0] = vocab.game_start
    tokens[offsets] = vocab.frame
    tokens[offsets[:, None] + 1 + np.arange(N_CELLS)] = vocab.code0 + codes
    a = offsets[:-1] + FRAME_TOKENS
    tokens[a] = vocab.act
    tokens[a + 1] = vocab.type0 + np.asarray(action_types)
    tokens[a + 2] = vocab.loc0 + np.asarray(action_locs)
    tokens[a[level_up] + 3] = vocab.level_complete
    return tokens, offsets


def mask_actions(vocab: Vocab, tokens: np.ndarray) -> np.ndarray:
    """The policy's view of a context: every action token replaced by MASK, so it cannot copy history."""
    out = np.array(tokens, copy=True)
    out[vocab.is_action_token(out)] = vocab.mask
    return out
