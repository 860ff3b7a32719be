"""The world model: a Llama-family causal LM over aria's token layout (aria_cli.vocab).

Everything outside this module speaks base-0 tokens, exactly as they sit in the token cache; the
`WorldModel` adds its backbone's `base` on the way in and returns logits over aria's 590 tokens only
(index i is token base+i), so callers never see the backbone's own vocabulary.

    wm = WorldModel.load(training.checkpoints.world_model_best(checkpoints), device="cpu")
    logits = wm.logits(tokens)                          # (B, T, 590), teacher-forced
    h = wm.hidden_states(vocab.mask_actions(tokens))    # (B, T, hidden): features for the policy
    state = wm.prefill(tokens)                          # KV-cached stepping for the agent:
    logits, state = wm.extend(state, more_tokens)       #   logits (B, n, 590) for the new positions

Each VQ code's input embedding also gets a learned embedding of its cell in the frame (0..63): RoPE
gives only relative positions, and pointing at a cell (ACT_LOC) needs the absolute one.

A click's ACT_LOC logits also get a pointer score: after an ACT_TYPE token, the hidden state there
(the query) is compared with the hidden states of the frame's 64 code positions (the keys), the way the
policy's location head points. Through the LM head alone the tiny model learned only which cells are
clicked often, whatever the board showed (qtgl: 465 of 510 val predictions were one of three cells).
The pointer starts at zero, so a fresh model behaves exactly like its backbone.

Checkpoint folder (`world_model/best`, `world_model/last`): `config.json` (backbone, source, vocab
base, context, LoRA settings, tiny architecture, plus training info) and either `model.safetensors`
(tiny: every weight) or `adapter.safetensors` (LoRA weights, the 590 new-token rows, the cell
embedding and the location pointer only; the backbone itself is reloaded from its source).
Checkpoints saved before the pointer existed load with it at zero (what they were trained without).
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from aria_cli.common import atomic
from aria_cli.common.errors import CheckpointError
from aria_cli.training.checkpoints import CONFIG_FILE, MODEL_FILE, read_config
from aria_cli.vocab import DEFAULT_CODES, N_CELLS, STEP_TOKENS, VOCAB_VERSION, Vocab
from aria_cli.world_model.backbones import (
    TINY,
    Backbone,
    LoraSettings,
    TinyArch,
    build_pretrained,
    build_tiny,
    init_new_tokens,
)
from aria_cli.world_model.layers import LocationPointer, WMState, _add_scores, cell_index
from aria_cli.world_model.loss import LossWeights, WorldModelOutput, target_weights, weighted_loss  # noqa: F401 (re-exported)

ADAPTER_FILE = "adapter.safetensors"
CELL_KEY = "aria.cell_embedding"  # the cell embedding's tensor in an adapter file
POINTER_PREFIX = "loc_pointer."  # the location pointer's tensors (module names; in an adapter file too)
FORMAT = "aria-world-model"


@dataclass
class WorldModelConfig:
    backbone: str = TINY  # as given: "tiny", "smollm2-360m", a path or a hub id
    source: str | None = None  # what was loaded (hub id or absolute path); None for tiny
    base: int = 0
    context_steps: int = 8
    lora: dict | None = None  # LoraSettings fields
    arch: dict | None = None  # TinyArch fields (tiny only)
    tokenizer_fingerprint: str | None = None
    vocab_version: int = VOCAB_VERSION
    n_codes: int = DEFAULT_CODES  # code slots of the token layout: follows the tokenizer's codebook size

    @property
    def context_tokens(self) -> int:
        """Longest window: GAME_START + context_steps steps (each with a possible LEVEL_COMPLETE) + the
        next step's [FRAME] (aria_cli.world_model.data)."""
        return 1 + self.context_steps * (STEP_TOKENS + 1) + 1


class WorldModel(torch.nn.Module):
    """The world model as a torch module (so Accelerate/DDP can wrap it) with save/load and stepping."""

    def __init__(self, config: WorldModelConfig, model: torch.nn.Module, loss_weights: LossWeights | None = None):
        super().__init__()
        self.config = config
        self.model = model  # LlamaForCausalLM (tiny) or a PeftModel around one
        self.loss_weights = loss_weights or LossWeights()
        # Which cell of its frame each VQ code sits in, added to the code's input embedding. RoPE only
        # tells the model how far apart two tokens are; predicting a click's ACT_LOC_j (or anything tied to
        # a place on the screen, like a HUD) needs the absolute cell. Zero at the start, so a fresh model
        # behaves exactly like its backbone (the tiny preset's copy heads still predict the copy baseline).
        emb = model.get_input_embeddings().weight
        self.cell_embedding = torch.nn.Embedding(N_CELLS + 1, emb.shape[1], padding_idx=N_CELLS, device=emb.device)
        torch.nn.init.zeros_(self.cell_embedding.weight)
        self.loc_pointer = LocationPointer(emb.shape[1], device=emb.device)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_backbone(cls, bb: Backbone, context_steps: int, tokenizer_fingerprint: str | None = None) -> WorldModel:
        cfg = WorldModelConfig(
            n_codes=bb.n_codes,
            backbone=bb.name,
            source=bb.source,
            base=bb.base,
            context_steps=context_steps,
            lora=asdict(bb.lora) if bb.lora is not None else None,
            arch=bb.arch,
            tokenizer_fingerprint=tokenizer_fingerprint,
        )
        return cls(cfg, bb.model)

    @classmethod
    def create(
        cls,
        backbone: str = TINY,
        context_steps: int = 8,
        lora: LoraSettings | None = None,
        arch: TinyArch | None = None,
        dtype: torch.dtype = torch.float32,
        codebook: torch.Tensor | None = None,
        cell_code_counts: np.ndarray | None = None,
        tokenizer_fingerprint: str | None = None,
        seed: int = 0,
        n_codes: int = DEFAULT_CODES,
    ) -> WorldModel:
        """A fresh world model: tiny from scratch, or a pretrained backbone with LoRA and new token rows.
        `n_codes`: the token layout's code slots (the tokenizer's `vocab.n_codes`)."""
        torch.manual_seed(seed)
        if backbone == TINY:
            bb = build_tiny(arch, n_codes)
        else:
            bb = build_pretrained(backbone, lora or LoraSettings(), dtype, n_codes)
        init_new_tokens(bb, codebook, cell_code_counts, seed=seed)
        return cls.from_backbone(bb, context_steps, tokenizer_fingerprint)

    @property
    def vocab(self) -> Vocab:
        return Vocab(self.config.base, self.config.n_codes)

    @property
    def v0(self) -> Vocab:
        """Its layout at base 0: what its token arguments and logits are in."""
        return Vocab(0, self.config.n_codes)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def hidden_size(self) -> int:
        return self._lm().config.hidden_size

    def _lm(self):
        """The underlying *ForCausalLM (LoRA layers and trainable token rows are injected into it in place)."""
        return self.model.get_base_model() if self.config.lora is not None else self.model

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    # ------------------------------------------------------------------ forward
    def embed(self, tokens: torch.Tensor, cells: torch.Tensor | None = None) -> torch.Tensor:
        """Input embeddings of base-0 tokens (B, T) → (B, T, hidden): the token's row plus its cell's
        (`cells`: their `cell_index`, computed here when not given)."""
        tok = self.model.get_input_embeddings()(tokens + self.config.base)
        cells = cell_index(tokens, n_codes=self.config.n_codes) if cells is None else cells
        return tok + self.cell_embedding(cells).to(tok.dtype)

    def hidden_states(self, tokens: torch.Tensor) -> torch.Tensor:
        """Final-layer hidden states (after the final norm), (B, T, hidden), of base-0 tokens (B, T)."""
        out = self._lm().get_decoder()(inputs_embeds=self.embed(tokens), use_cache=False)
        return out.last_hidden_state

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        """Hidden states → logits over aria's 590 tokens (float32)."""
        logits = self._lm().get_output_embeddings()(hidden)
        base = self.config.base
        return logits[..., base : base + self.v0.n_special].float()

    def logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """Teacher-forced next-token logits (B, T, 590) for base-0 tokens (B, T)."""
        hidden = self.hidden_states(tokens)
        return _add_scores(self.v0, self.head(hidden), *self._pointer_scores(tokens, hidden))

    def _pointer_scores(
        self, tokens: torch.Tensor, hidden: torch.Tensor, cells: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The location pointer at every ACT_TYPE position of `tokens`: (rows, positions, (N, 64) scores).

        The keys are the code states of the frame before it ([FRAME] 64 codes [ACT] TYPE, fixed offsets):
        taken from `hidden` where the codes are among `tokens`, and from `cells` (the cached context's
        latest frame, by cell) for codes fed before them. Without `cells` (a full forward) a type token
        whose frame is not wholly in `tokens` (a window that starts mid-step) gets no scores."""
        b, p = torch.nonzero(self.v0.is_type(tokens), as_tuple=True)
        rel = p[:, None] - (N_CELLS + 1) + torch.arange(N_CELLS, device=tokens.device)  # the codes' positions
        if cells is None:
            whole = rel[:, 0] >= 1
            whole &= tokens[b, (rel[:, 0] - 1).clamp_min(0)] == self.v0.frame
            b, p, rel = b[whole], p[whole], rel[whole]
        keys = hidden[b[:, None], rel.clamp_min(0)]
        if cells is not None:
            keys = torch.where((rel >= 0)[..., None], keys, cells[b].to(keys.dtype))
        return b, p, self.loc_pointer(hidden[b, p], keys)

    def forward(
        self, tokens: torch.Tensor, valid: torch.Tensor | None = None, inputs: torch.Tensor | None = None
    ) -> WorldModelOutput:
        """Logits and the weighted next-token loss (see LossWeights) over a padded batch.

        tokens: (B, T) base-0; valid: (B, T) bool, False on padding (padding sits after the real tokens,
        so with a causal model it never influences them). `inputs` (same shape) is what the model reads
        when it differs from the targets `tokens`: train-wm's action-masked windows.
        """
        logits = self.logits(tokens if inputs is None else inputs)
        loss, wsum = weighted_loss(logits, tokens, valid, self.loss_weights, self.v0)
        return WorldModelOutput(logits, loss, wsum)

    def compute_loss(self, batch, inputs: torch.Tensor | None = None, module: torch.nn.Module | None = None
                     ) -> tuple[torch.Tensor, dict]:  # fmt: skip
        """(weighted loss, {"loss", "weight", "tokens"}) of a `world_model.data.Batch`, reading `inputs`
        in place of its tokens where given. `module`: what to run, when it is this model's data-parallel
        wrapper (its forward is what averages the gradients across processes)."""
        out = (module or self)(batch.tokens, batch.valid, inputs)
        metrics = {"loss": float(out.loss.detach()), "weight": float(out.weight_sum.detach()), "tokens": batch.n_tokens}
        return out.loss, metrics

    # ------------------------------------------------------------------ incremental stepping
    @torch.no_grad()
    def prefill(self, tokens: torch.Tensor) -> WMState:
        """Run a context (B, T) or (T,) of base-0 tokens and keep its KV cache."""
        return self.prefill_hidden(tokens)[1]

    @torch.no_grad()
    def extend(self, state: WMState, tokens: torch.Tensor) -> tuple[torch.Tensor, WMState]:
        """Feed more tokens (B, n) or (n,) after `state`; logits (B, n, 590) for each new position."""
        hidden, new_state, pointer = self._extend(state, tokens)
        return _add_scores(self.v0, self.head(hidden), *pointer), new_state

    @torch.no_grad()
    def prefill_hidden(self, tokens: torch.Tensor, pad: torch.Tensor | None = None) -> tuple[torch.Tensor, WMState]:
        """`prefill`, also returning the final-layer hidden states (B, T, hidden) (the policy reads them).
        `pad` (B,): padding tokens at the start of each row (see `prefill_left_padded`)."""
        from transformers import DynamicCache

        tokens = tokens if tokens.dim() == 2 else tokens[None]
        cache = DynamicCache(config=self._lm().config)
        return self.extend_hidden(WMState(cache, 0, torch.empty(0), pad=pad), tokens)

    @torch.no_grad()
    def prefill_left_padded(self, contexts: list[torch.Tensor]) -> WMState:
        """`prefill` of contexts of different lengths as one batch: each row is padded on the left, and the
        padding is masked out of attention and off the positions, so a row's logits are its own context's
        (the contexts must end alike, e.g. all after an action). Decoding several contexts in one batch
        costs little more than one where a step is bound by kernel launches (a GPU)."""
        longest = max(len(c) for c in contexts)
        tokens = torch.full((len(contexts), longest), self.v0.frame, dtype=torch.long, device=self.device)
        for i, c in enumerate(contexts):
            tokens[i, longest - len(c) :] = torch.as_tensor(c, dtype=torch.long, device=self.device)
        pad = torch.tensor([longest - len(c) for c in contexts], device=self.device)
        return self.prefill_hidden(tokens, pad)[1]

    @torch.no_grad()
    def extend_hidden(self, state: WMState, tokens: torch.Tensor) -> tuple[torch.Tensor, WMState]:
        """`extend`, returning the final-layer hidden states (B, n, hidden) of the new positions."""
        hidden, new_state, _ = self._extend(state, tokens)
        return hidden, new_state

    def _extend(self, state: WMState, tokens: torch.Tensor):
        tokens = tokens if tokens.dim() == 2 else tokens[None]
        n = tokens.shape[1]
        pos = torch.arange(state.length, state.length + n, device=tokens.device)
        cells = cell_index(tokens, state.code_run, self.config.n_codes)
        position_ids, attention_mask = pos[None].expand(tokens.shape[0], -1), None
        if state.pad is not None:  # a row's first real token sits at position 0, as it would alone
            position_ids = (position_ids - state.pad[:, None]).clamp_min(0)
            seen = torch.arange(state.length + n, device=tokens.device)
            attention_mask = (seen[None] >= state.pad[:, None]).long()
        decoder = self._lm().get_decoder()
        out = decoder(
            inputs_embeds=self.embed(tokens, cells),
            **{_cache_kwarg(decoder): state.cache},
            use_cache=True,
            position_ids=position_ids,
            attention_mask=attention_mask,
            cache_position=pos,
        )
        hidden = out.last_hidden_state
        pointer = self._pointer_scores(tokens, hidden, state.cells)
        frame = state.cells if state.cells is not None else hidden.new_zeros(len(hidden), N_CELLS, hidden.shape[-1])
        is_code = cells[0] < N_CELLS
        if is_code.any():  # keep the latest frame's code states for a type token fed later
            frame = frame.clone()
            frame[:, cells[0, is_code]] = hidden[:, is_code]
        b, p, scores = pointer
        at_last = p == n - 1
        last_logits = _add_scores(self.v0, self.head(hidden[:, -1:]), b[at_last], p[at_last] - (n - 1), scores[at_last])
        last = int(cells[0, -1])  # the context now ends with last + 1 codes, or none
        run = last + 1 if last < N_CELLS else 0
        cache = out.cache if "cache" in out else out.past_key_values
        new_state = WMState(cache, state.length + n, last_logits[:, 0], run, frame, state.pad)
        return hidden, new_state, pointer

    # ------------------------------------------------------------------ save / load
    def save(self, folder: str | Path, extra: dict | None = None) -> None:
        """Write config.json and the weights (atomically, file by file). `extra`: training info for config.json."""
        from safetensors.torch import save_file, save_model

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if self.config.lora is None:
            atomic.write_with(folder / MODEL_FILE, lambda p: save_model(self, str(p)))
        else:
            from peft import get_peft_model_state_dict

            sd = get_peft_model_state_dict(self.model, save_embedding_layers=False)
            sd[CELL_KEY] = self.cell_embedding.weight
            sd.update({f"aria.{POINTER_PREFIX}{k}": v for k, v in self.loc_pointer.state_dict().items()})
            sd = {k: v.detach().contiguous().cpu() for k, v in sd.items()}
            atomic.write_with(folder / ADAPTER_FILE, lambda p: save_file(sd, str(p)))
        atomic.write_json(folder / CONFIG_FILE, {"format": FORMAT, **asdict(self.config), **(extra or {})})

    @staticmethod
    def read_config(folder: str | Path) -> dict:
        path = Path(folder) / CONFIG_FILE
        if not path.is_file():
            raise CheckpointError(f"no world model at {Path(folder)} (missing {CONFIG_FILE}); train one with `aria train-wm`")
        raw = read_config(path, "world-model", "aria train-wm")
        if raw.get("format") != FORMAT:
            raise CheckpointError(f"{path}: not a world-model checkpoint; retrain with `aria train-wm`")
        if raw.get("vocab_version") != VOCAB_VERSION:
            raise CheckpointError(
                f"{path}: trained with token layout v{raw.get('vocab_version')}, this aria uses v{VOCAB_VERSION}; "
                "retrain with `aria train-wm`"
            )
        return raw

    @classmethod
    def config_of(cls, folder: str | Path) -> tuple[WorldModelConfig, TinyArch | LoraSettings]:
        """The checkpoint's configuration and its backbone settings (tiny's TinyArch or the LoRA settings),
        checked without building anything: a malformed config.json is a CheckpointError naming it."""
        path = Path(folder) / CONFIG_FILE
        cfg = _config_from(cls.read_config(folder), path)
        if cfg.lora is None:
            return cfg, _settings(TinyArch, cfg.arch, "arch", path)
        return cfg, _settings(LoraSettings, cfg.lora, "lora", path)

    @classmethod
    def load(
        cls, folder: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
    ) -> WorldModel:
        """Load a saved world model (tiny, or backbone + adapter) in eval mode on `device`."""
        folder = Path(folder)
        cfg, settings = cls.config_of(folder)
        if dtype is None:
            dtype = torch.bfloat16 if str(device).startswith("cuda") and cfg.lora is not None else torch.float32
        if cfg.lora is None:
            bb = build_tiny(settings, cfg.n_codes)
        else:
            bb = build_pretrained(cfg.source or cfg.backbone, settings, dtype, cfg.n_codes)
            if bb.base != cfg.base:
                raise CheckpointError(
                    f"{folder}: trained on a backbone with vocabulary size {cfg.base}, but {bb.source} has {bb.base}"
                )
        wm = cls(cfg, bb.model)
        wm.load_weights(folder)
        wm.to(device)
        wm.eval()
        return wm

    def load_weights(self, folder: str | Path) -> None:
        """Load the weights saved in `folder` into this (same-configuration) model."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file, load_model

        folder = Path(folder)
        path = folder / (MODEL_FILE if self.config.lora is None else ADAPTER_FILE)
        try:
            if self.config.lora is None:
                missing, unexpected = load_model(self, str(path), strict=False, device=str(self.device))
                missing = [k for k in missing if not k.startswith(POINTER_PREFIX)]  # saved before the pointer
                if missing or unexpected:
                    raise ValueError(f"missing {missing[:3]}, unexpected {sorted(unexpected)[:3]}")
            else:
                from peft import set_peft_model_state_dict

                sd = load_file(str(path), device=str(self.device))
                if CELL_KEY not in sd:
                    raise ValueError(f"no {CELL_KEY}")
                pointer = {k[len(f"aria.{POINTER_PREFIX}"):]: sd.pop(k) for k in list(sd)
                           if k.startswith(f"aria.{POINTER_PREFIX}")}
                with torch.no_grad():
                    self.cell_embedding.weight.copy_(sd.pop(CELL_KEY))
                if pointer:  # absent in adapters saved before the pointer: it stays at zero
                    self.loc_pointer.load_state_dict(pointer)
                res = set_peft_model_state_dict(self.model, sd)
                if getattr(res, "unexpected_keys", None):
                    raise CheckpointError(f"{path}: does not fit {self.config.source} (unexpected weights)")
        except (OSError, RuntimeError, ValueError, SafetensorError) as e:  # SafetensorError: a damaged file
            msg = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
            raise CheckpointError(f"{path}: cannot load ({msg}); retrain with `aria train-wm`") from None

    def fingerprint(self) -> str:
        """A hash of the trained weights and the configuration (what downstream caches, e.g. policy
        features, key on). Only the trainable part is hashed: the frozen backbone is named by `source`."""
        import hashlib

        h = hashlib.sha256(json.dumps(asdict(self.config), sort_keys=True).encode())
        for name, t in sorted(self.state_dict().items()):
            if self.config.lora is None or "lora_" in name or "trainable_tokens_delta" in name or "cell_" in name \
                    or name.startswith(POINTER_PREFIX):
                h.update(name.encode())
                h.update(t.detach().float().cpu().numpy().tobytes())
        return h.hexdigest()[:16]


def _config_from(raw: dict, path: Path) -> WorldModelConfig:
    names = set(WorldModelConfig.__dataclass_fields__)
    try:
        return WorldModelConfig(**{k: v for k, v in raw.items() if k in names})
    except TypeError as e:
        raise CheckpointError(f"{path}: not a valid world-model config ({e}); retrain with `aria train-wm`") from None


def _settings(cls, fields, key: str, path: Path):
    """`cls(**fields)` from config.json's `key`; a missing or malformed entry names the file."""
    try:
        if not isinstance(fields, dict):
            raise TypeError(f"'{key}' is missing" if fields is None else f"'{key}' is not an object")
        return cls(**fields)
    except TypeError as e:
        raise CheckpointError(f"{path}: not a valid world-model config ({e}); retrain with `aria train-wm`") from None


@functools.cache
def _cache_kwarg_of(forward) -> str:
    import inspect

    return "cache" if "cache" in inspect.signature(forward).parameters else "past_key_values"


def _cache_kwarg(decoder) -> str:
    """The decoder's name for the KV cache: `cache` in the transformers that deprecate `past_key_values`
    (which then warns on every call), `past_key_values` in those before."""
    return _cache_kwarg_of(type(decoder).forward)
