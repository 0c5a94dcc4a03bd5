"""Whether this CPU computes bfloat16 natively, which decides if bfloat16 autocast speeds training up or slows it.

bfloat16 autocast pays on CPUs with AVX-512 BF16 or AMX instructions: on an AMD EPYC with AVX-512 BF16 a x0.5 FER+
student trained at 77 img/s in it and 36 img/s in float32 (:mod:`affectstream.models.training.image_loop`). Without
them oneDNN emulates it, and the same training step is an order of magnitude *slower* than in float32: on an AMD EPYC
with AVX2 only, the default FER+ student at batch 128 on one thread trained at 72 img/s in float32 and 5.7 img/s under
bfloat16 autocast.
"""

from __future__ import annotations

import functools

import torch

__all__ = ["native_bf16"]


@functools.cache
def native_bf16() -> bool:
    """True when the CPU has AVX-512 BF16 or AMX tiles (torch's own CPU-feature probes)."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
