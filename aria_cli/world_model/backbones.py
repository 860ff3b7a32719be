"""Backbones for the world model: `--backbone tiny | smollm2-360m | <path or hub id>`.

- `tiny`: a small Llama config trained from scratch (the CPU default). Its whole vocabulary is aria's
  590 tokens (base = 0) and every weight trains.
- `smollm2-360m` (the GPU default) and any other Llama-family causal LM given by local path or hub id:
  loaded through `transformers` (local Hugging Face cache first, then the hub), bf16 on a GPU, its
  vocabulary extended by aria's 590 tokens at IDs base..base+589 (base = the backbone's vocabulary
  size, 49152 for SmolLM2), LoRA adapters on q/k/v/o through `peft`, and only the new tokens'
  embedding and output rows trainable besides LoRA (peft's `trainable_token_indices`), so an adapter
  checkpoint is a few MB. The backbone's own embedding rows stay frozen.

New token rows start informed rather than random: VQ code k from the frame tokenizer's codebook
vector k through a fixed random projection to the hidden size (scaled to the backbone's embedding
statistics), and ACT_LOC_j from the mean embedding of the codes seen at cell j in the training data,
so a click location starts out "looking like" what is usually drawn there.
"""

from __future__ import annotations

import os
import socket
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch

from aria_cli.common.errors import AriaError
from aria_cli.vocab import LOC_NULL, N_CELLS, N_CODES, N_SPECIAL, STEP_TOKENS, Vocab
from aria_cli.world_model.presets import PRESETS as _PRESETS
from aria_cli.world_model.presets import TINY, Preset

PRESETS = {name: p.source for name, p in _PRESETS.items() if p.source}  # preset name → hub id
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")
FIX = "use --backbone tiny, or --backbone /path/to/a/local/llama-model"


@dataclass
class TinyArch:
    """The from-scratch preset: a 2-layer Llama sized for >= 3,000 training tokens/s on 2 CPU cores
    (benchmarks/bench_train_wm.py).

    Its few minutes of CPU training go to what changes between frames, not to rediscovering that most
    cells do not: `copy_heads` heads of layer 0 start as "previous frame" heads — attention at the
    relative offset of one step (STEP_TOKENS - 1 back from the position that predicts a code is the same
    cell of the previous frame), from q/k biases alone, so it does not depend on the content, and a
    value/output path that passes the attended token through — so a fresh model predicts the copy
    baseline (and repeats the last action). With `zero_init_residual` the other residual branches
    (the remaining heads' output projections and every MLP's down projection) start at zero, so random
    layers do not drown that path at the start. Every weight trains from there. Recordings are few,
    so the model overfits within a few epochs; attention dropout delays that.
    """

    hidden_size: int = 256
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    intermediate_size: int = 768
    max_position_embeddings: int = 4096
    tie_word_embeddings: bool = True
    attention_bias: bool = True  # the copy heads' position-only queries and keys are biases
    copy_heads: int = 2
    zero_init_residual: bool = True
    attention_dropout: float = 0.1  # regularises: held-out frame accuracy peaked higher and later with it

    def llama_config(self):
        from transformers import LlamaConfig

        cfg = LlamaConfig(
            vocab_size=N_SPECIAL,
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            num_key_value_heads=self.num_attention_heads,
            max_position_embeddings=self.max_position_embeddings,
            tie_word_embeddings=self.tie_word_embeddings,
            attention_bias=self.attention_bias,
            attention_dropout=self.attention_dropout,
            rms_norm_eps=1e-5,
            bos_token_id=None,
            eos_token_id=None,
            pad_token_id=None,
        )
        cfg._attn_implementation = "sdpa"
        return cfg


@dataclass
class LoraSettings:
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: list(LORA_TARGETS))


@dataclass
class Backbone:
    """A loaded backbone, ready for training: `model` is a plain HF model (tiny) or a PeftModel."""

    name: str  # as the user gave it: "tiny", "smollm2-360m", a path or a hub id
    source: str | None  # what was loaded: hub id or absolute path; None for tiny
    base: int  # first aria token ID (the backbone's own vocabulary size)
    model: torch.nn.Module
    lora: LoraSettings | None
    arch: dict | None  # TinyArch fields, for tiny

    @property
    def vocab(self) -> Vocab:
        return Vocab(self.base)


def default_backbone(device: str) -> str:
    return Preset.for_device(device).name


def resolve_source(name: str) -> str:
    """`smollm2-360m` → its hub id; an existing folder → its absolute path; anything else as given (hub id)."""
    if name in PRESETS:
        return PRESETS[name]
    p = Path(name).expanduser()
    if p.exists():
        return str(p.resolve())
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise AriaError(f"--backbone {name}: no such folder; {FIX}")
    return name


def build_tiny(arch: TinyArch | None = None) -> Backbone:
    from transformers import LlamaForCausalLM

    arch = arch or TinyArch()
    model = LlamaForCausalLM(arch.llama_config())
    init_copy_heads(model, arch.copy_heads, zero_init_residual=arch.zero_init_residual)
    return Backbone(TINY, None, 0, model, None, asdict(arch))


@torch.no_grad()
def init_copy_heads(model, n_heads: int, offset: int = STEP_TOKENS - 1, sharpness: float = 8.0,
                    zero_init_residual: bool = True) -> None:  # fmt: skip
    """Make the first `n_heads` heads of layer 0 attend `offset` positions back and pass that token on.

    With RoPE, a query q and key k at distance d score sum_i |q_i||k_i| cos(phase_i + d * theta_i) per
    rotary pair i; constant (bias-only) q and k whose phases are -offset * theta_i peak exactly at
    d = offset. `sharpness` scales them (the gap to d = offset +- 1 grows with its square).
    """
    cfg = model.config
    if n_heads and not cfg.attention_bias:
        raise ValueError("copy heads need attention_bias=True (their queries and keys are biases)")
    hidden, heads = cfg.hidden_size, cfg.num_attention_heads
    hd = hidden // heads
    if n_heads > heads:
        raise ValueError(f"copy_heads {n_heads} > attention heads {heads}")
    inv_freq = model.model.rotary_emb.inv_freq.float().cpu()  # (hd / 2,): HF rotates dims i and i + hd/2
    phase = -offset * inv_freq
    attn = model.model.layers[0].self_attn
    for h in range(n_heads):
        r = slice(h * hd, (h + 1) * hd)
        attn.q_proj.weight[r] = 0
        attn.k_proj.weight[r] = 0
        attn.q_proj.bias[r] = sharpness * torch.cat([torch.cos(phase), torch.sin(phase)])
        attn.k_proj.bias[r] = sharpness * torch.cat([torch.ones(hd // 2), torch.zeros(hd // 2)])
        attn.v_proj.weight[r] = 0
        attn.v_proj.weight[r, r] = torch.eye(hd)  # the head's slice of the (normalised) token...
        attn.o_proj.weight[:, r] = 0
        attn.o_proj.weight[r, r] = torch.eye(hd)  # ...written back to the same slice of the stream
    if zero_init_residual:
        for i, layer in enumerate(model.model.layers):
            layer.mlp.down_proj.weight.zero_()
            first_free = n_heads * hd if i == 0 else 0
            layer.self_attn.o_proj.weight[:, first_free:] = 0


def _hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP probe, so an offline machine fails in seconds instead of after the hub client's retries."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def load_pretrained(name: str, dtype: torch.dtype = torch.float32):
    """Load a causal LM by preset, path or hub id (local cache first); one-line AriaError if it cannot be."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # aria shows its own progress; no per-shard bars
    source = resolve_source(name)
    if Path(source).is_dir():
        return source, _from_folder(name, source, dtype)
    local = _cached_snapshot(source)
    if local is not None:
        return source, _from_folder(name, local, dtype)
    if not _hub_reachable():
        raise AriaError(
            f"--backbone {name}: {source} is not in the local Hugging Face cache and the hub is unreachable "
            f"(offline); {FIX}"
        )
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    except Exception as e:  # noqa: BLE001 - any hub failure becomes the same one-line message
        reason = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise AriaError(f"--backbone {name}: tried the local Hugging Face cache and the hub: {reason}; {FIX}") from None
    return source, model


def _cached_snapshot(repo_id: str) -> str | None:
    """The local snapshot folder of a hub model, or None when it is not cached (no network is used)."""
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(repo_id, local_files_only=True)
    except Exception:  # noqa: BLE001 - not cached, or not a valid repo id
        return None


def _from_folder(name: str, folder: str, dtype: torch.dtype):
    from transformers import AutoModelForCausalLM

    try:
        return AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, local_files_only=True)
    except (OSError, ValueError, KeyError) as e:
        reason = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise AriaError(f"--backbone {name}: cannot load a causal LM from {folder} ({reason}); {FIX}") from None


def _module_names(model: torch.nn.Module) -> set[str]:
    return {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}


def build_pretrained(name: str, lora: LoraSettings, dtype: torch.dtype = torch.float32) -> Backbone:
    """Load, extend the vocabulary by aria's tokens, wrap in LoRA with trainable new-token rows."""
    source, model = load_pretrained(name, dtype)
    missing = [t for t in lora.target_modules if t not in _module_names(model)]
    if missing:
        raise AriaError(
            f"--backbone {name}: {type(model).__name__} is not a Llama-family model (no {', '.join(missing)} "
            f"modules for LoRA); {FIX}"
        )
    base = model.get_input_embeddings().num_embeddings
    model.resize_token_embeddings(base + N_SPECIAL, mean_resizing=False)
    return Backbone(name, source, base, wrap_lora(model, base, lora), lora, None)


def _tied(model) -> bool:
    out = model.get_output_embeddings()
    return out is not None and out.weight is model.get_input_embeddings().weight


def wrap_lora(model, base: int, lora: LoraSettings):
    """LoRA on the target projections; the new tokens' embedding (and untied output) rows trainable."""
    from peft import LoraConfig, get_peft_model

    new_ids = list(range(base, base + N_SPECIAL))
    embed_name = next(n for n, m in model.named_modules() if m is model.get_input_embeddings()).rsplit(".", 1)[-1]
    if _tied(model):
        # peft wraps the tied output layer with the same delta rows.
        token_indices = {embed_name: new_ids}
    else:
        head_name = next(n for n, m in model.named_modules() if m is model.get_output_embeddings()).rsplit(".", 1)[-1]
        token_indices = {embed_name: new_ids, head_name: new_ids}
    cfg = LoraConfig(
        r=lora.rank,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
        trainable_token_indices=token_indices,
        bias="none",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # peft calls a transformers API deprecated for v6
        pm = get_peft_model(model, cfg)
    # Trainable rows live in the backbone's dtype (bf16 on GPU); keep them and LoRA in fp32 for AdamW.
    for p in pm.parameters():
        if p.requires_grad and p.dtype != torch.float32:
            p.data = p.data.float()
    return pm


def new_token_rows(model) -> list[torch.Tensor]:
    """The tensors that hold the new tokens' rows (input embedding, and the output head when untied)."""
    rows = []
    for name, p in model.named_parameters():
        if "trainable_tokens_delta" in name:
            rows.append(p)
    return rows


@torch.no_grad()
def init_new_tokens(
    backbone: Backbone,
    codebook: torch.Tensor | None = None,
    cell_code_counts: np.ndarray | None = None,
    seed: int = 0,
) -> None:
    """Initialise aria's 590 rows (see the module docstring). codebook: (512, d) from the frame tokenizer;
    cell_code_counts: (64, 512) how often code k was seen at cell j in the training frames."""
    model = backbone.model
    base = backbone.base
    emb = model.get_input_embeddings()
    weight = emb.weight if not hasattr(emb, "token_adapter") else emb.token_adapter.base_layer.weight
    hidden = weight.shape[1]
    g = torch.Generator().manual_seed(seed)
    if base > 0:
        old = weight[:base].float()
        mean, std = old.mean(0), old.std().item()
    else:
        mean, std = torch.zeros(hidden), float(getattr(model.config, "initializer_range", 0.02))
    rows = torch.randn(N_SPECIAL, hidden, generator=g) * std + mean
    if codebook is not None:
        cb = codebook.detach().float().cpu()
        proj = torch.randn(cb.shape[1], hidden, generator=g) / cb.shape[1] ** 0.5
        x = (cb - cb.mean(0)) @ proj
        # A tokenizer may use fewer than the 512 code slots (train-vqvae --codebook-size); the rest keep random rows.
        rows[: len(cb)] = x[:N_CODES] / x.std().clamp_min(1e-8) * std + mean
    if cell_code_counts is not None:
        counts = torch.as_tensor(np.asarray(cell_code_counts), dtype=torch.float32)
        seen = counts.sum(1) > 0
        w = counts / counts.sum(1, keepdim=True).clamp_min(1)
        loc = w @ rows[:N_CODES]
        # A little noise keeps cells with identical content distinguishable from the first step.
        loc += 0.1 * std * torch.randn(N_CELLS, hidden, generator=g)
        v = Vocab(0)
        rows[v.loc0 : v.loc0 + N_CELLS][seen] = loc[seen]
    assert LOC_NULL == N_CELLS  # ACT_LOC_NULL keeps its random row
    targets = new_token_rows(model) if backbone.lora is not None else [weight]
    if backbone.lora is None:
        out = model.get_output_embeddings()
        if out is not None and out.weight is not weight:
            targets.append(out.weight)
    for t in targets:
        t[-N_SPECIAL:] = rows.to(t.dtype).to(t.device)
