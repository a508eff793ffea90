"""Numeric precisions of weights and KV cache: bytes per element and the tensor-core math they use.

| name | bytes per weight (with scales) | matmuls run on | elsewhere |
|---|---|---|---|
| fp16 / bf16 | 2 | 16-bit tensor cores, on every accelerator in the catalog | |
| fp8 | 1.0002 (a 32-bit scale per 128 x 128 block) | fp8 tensor cores where the chip has them (its catalog entry lists an fp8 peak: H100, H200, GH200, B200, B300, L4, L40S, RTX 4090, RTX PRO 6000, MI300X, MI325X, MI355X) | weight-only: dequantised to 16-bit on the fly (Marlin kernels on A100): bandwidth saved, compute not |
| int8 | 1.0 (per-channel scales) | weight-only int8, dequantised to 16-bit, as most serving stacks do | |
| int4 | 0.5195 (AWQ/GPTQ: a 16-bit scale and a 4-bit zero per group of 128) | weight-only int4, dequantised to 16-bit: bandwidth saved, compute not | |
| fp4 | 0.5625 (NVFP4: an 8-bit scale per 16) | fp4 tensor cores (NVFP4, MXFP4) where the chip has them (an fp4 peak: B200, B300, GB200, GB300, RTX PRO 6000, MI355X) | refused: no fp4 path is modelled on older chips |

Quantised checkpoints keep the vocabulary matrices (input embedding and lm_head) in 16 bits
(AWQ, GPTQ, ModelOpt and compressed-tensors all leave ``lm_head`` and the embedding out), so a
deployment's weight bytes are ``body params x bytes per weight + vocabulary params x 2``
(`VOCABULARY_BYTES`). MXFP4 keeps one scale per 32 (0.53 bytes); gpt-oss ships its experts in
MXFP4 and its attention in 16-bit, where a deployment here uses one precision for the body.

Attention runs on 16-bit tensor cores unless the KV cache is fp8 on a chip with fp8 tensor cores
(FlashAttention-3, FlashInfer and TensorRT-LLM's fp8 attention kernels): the weights' precision
does not change the attention's math (`attention_math_precision`).

KV caches are stored in fp16/bf16 (the default: the model's activation dtype, vLLM's
``kv_cache_dtype="auto"``) or fp8 (1 byte, ``kv_cache_dtype="fp8"``).
"""

from __future__ import annotations

import difflib

from ..errors import ValueRangeError

BYTES_PER_ELEMENT = {"fp16": 2.0, "bf16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5, "fp4": 0.5625}
"""Bytes of one stored element (a KV-cache entry; a weight before its quantisation scales)."""
BYTES_PER_WEIGHT = {"fp16": 2.0, "bf16": 2.0, "fp8": 1.0 + 4.0 / (128 * 128), "int8": 1.0,
                    "int4": 0.5 + (2.0 + 0.5) / 128, "fp4": 0.5625}
"""Bytes of one quantised weight with its scales (the table above)."""
VOCABULARY_BYTES = 2.0
"""Bytes per parameter of the input embedding and lm_head, which quantised checkpoints keep in 16 bits."""
WEIGHT_PRECISIONS = ("fp16", "bf16", "fp8", "int8", "int4", "fp4")
KV_PRECISIONS = ("fp16", "bf16", "fp8")
DEFAULT_KV = "fp16"
"""The KV-cache precision assumed unless stated: the model's 16-bit activation dtype."""

__all__ = ["BYTES_PER_ELEMENT", "BYTES_PER_WEIGHT", "VOCABULARY_BYTES", "WEIGHT_PRECISIONS",
           "KV_PRECISIONS", "DEFAULT_KV", "check_precision", "math_precision",
           "attention_math_precision", "check_native"]


def check_precision(value: str, allowed: tuple[str, ...], what: str) -> str:
    """Return the normalised precision name or raise a clear error listing what is allowed."""
    name = str(value).strip().lower().replace("float", "fp").replace("bfloat", "bf")
    name = {"nvfp4": "fp4", "mxfp4": "fp4"}.get(name, name)
    if name in allowed:
        return name
    close = difflib.get_close_matches(name, allowed, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueRangeError(f"unknown {what} precision {value!r}{hint} (allowed: {', '.join(allowed)})")


def math_precision(weights: str, peak_flops: dict) -> str:
    """The precision whose peak FLOP/s applies to the matmuls, given the weight precision."""
    if weights in ("fp8", "fp4") and weights in peak_flops:
        return weights
    return "fp16"


def attention_math_precision(kv: str, peak_flops: dict) -> str:
    """The precision attention's matmuls run at: fp8 with an fp8 KV cache on a chip with fp8
    tensor cores, else 16-bit (whatever the weights)."""
    return "fp8" if kv == "fp8" and "fp8" in peak_flops else "fp16"


def check_native(weights: str, hardware) -> None:
    """Refuse fp4 weights on an accelerator without fp4 tensor cores (with the reason)."""
    if weights == "fp4" and "fp4" not in hardware.peak_tflops:
        raise ValueRangeError(
            f"fp4 weights need fp4 tensor cores (NVFP4/MXFP4: B200, B300, GB200, GB300, RTX PRO 6000, "
            f"MI355X); "
            f"{hardware.name} has none: use fp8 or int4 weights there (engines that run MXFP4 weights "
            f"on older chips dequantise them to 16-bit on the fly, which int4 models: 4-bit reads, "
            f"16-bit math)")
