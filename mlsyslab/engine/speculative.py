r"""Speculative decoding: a small draft model proposes, the target model verifies in one pass.

Each round, for every sequence of a batch of ``B`` at context ``c``:

    draft        gamma steps of the draft model:        t_d = gamma * t_draft(B, c)
    verify       one target pass over B (gamma + 1) tokens, reading each sequence's KV once:
                 t_v = t_target(decode B at c, plus B gamma more tokens attending to c)
    accepted     E = (1 - alpha^(gamma + 1)) / (1 - alpha)   tokens per sequence per round
                 (Leviathan et al., 2023: each drafted token is accepted with probability alpha,
                 independently; the first rejection ends the round; E = gamma + 1 when alpha = 1)

    ITL_spec = (t_d + t_v) / E,   speed-up = t_target(B, c) / ITL_spec

At batch 1 decode is bound by reading the weights, so verifying ``gamma + 1`` tokens costs
about as much as one and the speed-up approaches ``E / (1 + gamma t_draft / t_target)``. As the
batch grows, the verifying pass does ``gamma + 1`` times the matmul work of a plain step and
turns compute-bound: the speed-up fades and, past some batch, drops below 1.

The draft is a separate small model on the same GPUs (its weights come out of the KV pool), or
``draft="mtp"``: the target's own multi-token-prediction module (DeepSeek-V3, GLM-5, Qwen3.5,
MiniMax-M2 ship one), one decoder layer that reuses the target's embedding and lm_head, so a
draft step costs one layer of the target plus its lm_head, ``t_draft = (t_target - t_step) / L +
W_vocab / BW + t_step``, and no extra weights beyond that layer.

Memory: the target's batch at ``c + gamma`` tokens and the draft's weights and KV must fit, or
the result is infeasible with the reason. Assumptions: acceptance is independent of position
and batch; no tree drafting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ValueRangeError
from ..params import Param, checked
from ..report import Report
from .deployment import Deployment, as_deployment, valid_tps

__all__ = ["speculative", "SpeculativeResult", "expected_tokens_per_round"]


def expected_tokens_per_round(alpha, gamma):
    """``(1 - alpha^(gamma+1)) / (1 - alpha)``: tokens a sequence gains per verify pass."""
    a = np.asarray(alpha, dtype=float)
    g = np.asarray(gamma, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        e = (1.0 - a ** (g + 1.0)) / (1.0 - a)
    return np.where(a >= 1.0, g + 1.0, e)


@dataclass(frozen=True)
class SpeculativeResult(Report):
    """Speculative decoding against plain decoding (arrays broadcast like the inputs).

    Attributes
    ----------
    target : str
        The model whose output is kept.
    draft : str
        The small model that proposes tokens.
    batch : array
        Sequences decoding together.
    context : float
        Tokens of context of each sequence.
    gamma : array
        Tokens the draft proposes per round.
    alpha : array
        Probability that the target accepts a drafted token.
    tokens_per_round : array
        Expected tokens kept per verify pass (`expected_tokens_per_round`).
    plain_itl_s : array
        Inter-token latency without speculation.
    itl_s : array
        Inter-token latency with it.
    draft_s : array
        Time of the draft's gamma steps in a round.
    verify_s : array
        Time of the target's verification pass over gamma + 1 tokens.
    speedup : array
        ``plain_itl / itl``: below 1 where speculation slows decoding.
    """

    target: str
    draft: str
    batch: np.ndarray
    context: float
    gamma: np.ndarray
    alpha: np.ndarray
    tokens_per_round: np.ndarray
    plain_itl_s: np.ndarray
    itl_s: np.ndarray
    draft_s: np.ndarray
    verify_s: np.ndarray
    speedup: np.ndarray
    feasible: bool = True
    reason: str | None = None

    def stops_paying(self):
        """The smallest batch in ``batch`` where the speed-up falls below 1 (None if it never does)."""
        b, s = np.broadcast_arrays(np.asarray(self.batch, dtype=float), np.asarray(self.speedup, dtype=float))
        if b.ndim != 1:
            raise ValueRangeError("stops_paying() needs a one-dimensional sweep over batch")
        worse = np.nonzero(s < 1.0)[0]
        return None if len(worse) == 0 else int(b[worse[0]])

    def __str__(self) -> str:
        if np.ndim(self.speedup):
            return (f"speculative decoding of {self.target} with {self.draft}: {np.size(self.speedup)} "
                    f"configurations (speed-up {np.nanmin(self.speedup):.2f}x to {np.nanmax(self.speedup):.2f}x)")
        if not np.all(self.feasible):
            return (f"speculative decoding of {self.target} with {self.draft} at batch {float(self.batch):g}, "
                    f"context {self.context:,.0f}\n  INFEASIBLE: {self.reason}")
        return (f"speculative decoding of {self.target} with {self.draft} at batch {float(self.batch):g}, "
                f"context {self.context:,.0f}: gamma {float(self.gamma):g}, acceptance {float(self.alpha):.0%} -> "
                f"{float(self.tokens_per_round):.2f} tokens per verify pass; ITL {float(self.itl_s) * 1e3:.2f} ms "
                f"against {float(self.plain_itl_s) * 1e3:.2f} ms plain ({float(self.speedup):.2f}x; draft "
                f"{float(self.draft_s) * 1e3:.2f} ms + verify {float(self.verify_s) * 1e3:.2f} ms a round)")


@checked("batch", "context",
         gamma=Param("int", "token", low=1, high=64, array=True),
         alpha=Param("real", "", low=0, high=1, array=True))
def speculative(target, draft, *, batch=1, context=2048, gamma=4, alpha=0.7) -> SpeculativeResult:
    """Speculative decoding of ``target`` with ``draft``; see the module docstring.

    Parameters
    ----------
    target : Deployment
        The model that verifies.
    draft : str, Model or Deployment
        The draft model; a name is deployed on the target's accelerator at the target's tp where
        its heads allow, else on one GPU; ``"mtp"`` is the target's own MTP module.
    batch : int or array [request]
        Sequences decoding together, > 0.
    context : int [token]
        Mean context each sequence attends to.
    gamma : int or array
        Tokens drafted per round, 1 to 64.
    alpha : float or array
        Probability that a drafted token is accepted, in [0, 1].

    Examples
    --------
    >>> target = ml.Deployment("llama-3-70b", "h100-sxm", tp=4, weights="fp8")
    >>> s = ml.speculative(target, "llama-3-8b", batch=[1, 64], gamma=4, alpha=0.7)
    >>> s.speedup.round(2)
    array([1.41, 1.03])
    """
    t = as_deployment(target)
    B = np.asarray(batch, dtype=float)
    c = float(context)
    g = np.asarray(gamma, dtype=float)
    a = np.asarray(alpha, dtype=float)
    plain = t.step_seconds(B, c)
    if isinstance(draft, str) and draft.strip().lower() == "mtp":
        if not t.model.mtp_layers:
            raise ValueRangeError(f"{t.model.name} ships no multi-token-prediction module (mtp_layers = 0); "
                                  f"give a draft model instead")
        f = t.forward
        one_layer = (plain - f.step_fixed) / t.model.layers
        draft_name, draft_step = "mtp", one_layer + f.w_lm / f.bw + f.step_fixed
        extra_weights = t.weight_bytes_per_gpu / t.model.layers * t.model.mtp_layers / t.stage_share
        draft_kv = t.kv_bytes_for(B, c + g) / t.model.layers * t.model.mtp_layers
    else:
        if isinstance(draft, Deployment):
            d = draft
        else:
            tp = int(np.max(t.tp))
            dm = Deployment(draft, t.hardware, weights=t.weights, kv=t.kv).model
            d_tp = tp if tp in valid_tps(dm, t.hardware) else 1
            d = Deployment(dm, t.hardware, tp=d_tp, weights=t.weights, kv=t.kv)
        if d.hardware.key != t.hardware.key:
            raise ValueRangeError("the draft must run on the target's accelerator")
        draft_name, draft_step = d.model.key, d.step_seconds(B, c)
        extra_weights = d.weight_bytes_per_gpu
        draft_kv = d.kv_bytes_for(B, c + g)
    draft_s = g * draft_step
    verify_s = t.step_seconds(B, c, B * g, c)
    e = expected_tokens_per_round(a, g)
    itl = (draft_s + verify_s) / e
    # memory: the target's batch at c + gamma, plus the draft's weights and KV, in the KV pool
    need = t.kv_bytes_for(B, c + g) + extra_weights + draft_kv
    fits = np.asarray(need <= t.kv_pool_bytes()) & np.asarray(t.within_window(c + g))
    feasible = bool(np.all(fits))
    reason = None
    if not feasible:
        worst = float(np.max(np.broadcast_to(need, np.shape(fits))[~np.broadcast_to(fits, np.shape(fits))]))
        reason = (f"the batch's KV at {c:,.0f} + gamma tokens and the draft ({draft_name}: "
                  f"{float(np.max(extra_weights)) / 1e9:,.2f} GB of weights per GPU) need up to "
                  f"{worst / 1e9:,.1f} GB, more than the {float(np.max(t.kv_pool_bytes())) / 1e9:,.1f} GB "
                  f"KV pool per GPU of {t}; use a smaller batch or context, or more GPUs")
    nan = np.where(fits, 1.0, np.nan)
    out = np.broadcast_arrays(B, g, a, e, plain, itl * nan, draft_s * nan, verify_s * nan)
    B, g, a, e, plain, itl, draft_s, verify_s = (x if x.ndim else float(x) for x in out)
    return SpeculativeResult(target=t.model.key, draft=draft_name, batch=B, context=c, gamma=g, alpha=a,
                             tokens_per_round=e, plain_itl_s=plain, itl_s=itl, draft_s=draft_s,
                             verify_s=verify_s, speedup=np.asarray(plain) / np.asarray(itl)
                             if np.ndim(itl) else plain / itl, feasible=feasible, reason=reason)
