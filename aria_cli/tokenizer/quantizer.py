"""The VQ-VAE's codebook: nearest-code lookup, EMA updates, dead-code resets."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class EMAQuantizer(nn.Module):
    """Nearest-code quantizer whose codebook follows the encoder outputs by exponential moving averages.

    The codebook is not trained by gradients: after each step, each code moves toward the (weighted)
    mean of the vectors assigned to it. Codes that stop being used are reset onto vectors the model
    reconstructs worst, so the codebook keeps covering the data.
    """

    def __init__(self, codebook_size: int, dim: int, decay: float, eps: float = 1e-5):
        super().__init__()
        self.decay, self.eps = decay, eps
        self.register_buffer("embedding", torch.randn(codebook_size, dim) * 0.1)
        self.register_buffer("cluster_size", torch.zeros(codebook_size))
        self.register_buffer("embed_sum", self.embedding.clone())
        self.register_buffer("unused_steps", torch.zeros(codebook_size, dtype=torch.int64))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    @property
    def codebook_size(self) -> int:
        return self.embedding.shape[0]

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """(M, dim) → (M,) index of the nearest code (||e||² − 2 z·e; ||z||² is the same for every code)."""
        e = self.embedding
        return torch.addmm((e * e).sum(1), z, e.t(), alpha=-2.0).argmin(1)

    @torch.no_grad()
    def init_from(self, z: torch.Tensor, rng: np.random.Generator) -> None:
        """Data-dependent start: codes are random encoder outputs (with a little noise when repeated)."""
        k = self.codebook_size
        pick = torch.as_tensor(rng.choice(len(z), size=k, replace=len(z) < k), device=z.device)
        e = z[pick] + (torch.randn_like(z[pick]) * 1e-3 if len(z) < k else 0.0)
        self.embedding.copy_(e)
        self.embed_sum.copy_(e)
        self.cluster_size.fill_(1.0)
        self.unused_steps.zero_()
        self.initialized.fill_(True)

    @torch.no_grad()
    def ema_update(self, z: torch.Tensor, codes: torch.Tensor, weights: torch.Tensor) -> None:
        k = self.codebook_size
        counts = torch.zeros(k, device=z.device).index_add_(0, codes, weights)
        sums = torch.zeros_like(self.embed_sum).index_add_(0, codes, z * weights[:, None])
        self.unused_steps.add_(1).masked_fill_(counts > 0, 0)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        n = self.cluster_size.sum()
        size = (self.cluster_size + self.eps) / (n + k * self.eps) * n  # Laplace smoothing: no division by 0
        self.embedding.copy_(self.embed_sum / size[:, None])

    @torch.no_grad()
    def reset_dead(self, dead_after: int, candidates: torch.Tensor) -> int:
        """Move dead codes onto `candidates` (vectors in order of preference). Returns how many moved."""
        dead = torch.nonzero(self.unused_steps >= dead_after).flatten()
        n = min(len(dead), len(candidates))
        if n == 0:
            return 0
        dead = dead[:n]
        self.embedding[dead] = candidates[:n]
        self.embed_sum[dead] = candidates[:n]
        self.cluster_size[dead] = 1.0
        self.unused_steps[dead] = 0
        return n

    def used(self, dead_after: int) -> float:
        """Share of codes chosen within the last `dead_after` steps."""
        return float((self.unused_steps < dead_after).float().mean())
