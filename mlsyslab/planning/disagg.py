r"""Disaggregated serving: prefill and decode on separate pools, or both on one.

A colocated replica runs prompts' prefill and other requests' decode steps in the same forward
passes (continuous batching with chunked prefill), so every prompt that arrives stretches the
inter-token latency of everyone decoding: with a tight ITL target a colocated pool must run at
low load. A disaggregated system (DistServe, Splitwise, Mooncake, NVIDIA Dynamo, vLLM's and
SGLang's PD disaggregation) gives each phase its own pool and tensor-parallel degree and moves
each request's KV cache from the prefill pool to the decode pool over the network.

Model
-----
With Poisson traffic of ``rate`` requests/s, prompts of ``S`` tokens and answers of ``N``:

    KV per request      V = S * kv_bytes_per_token                         (whole model)
    transfer            t_kv = alpha_net + V / (tp_prefill * eta_link * scale_out_bandwidth)
    prefill pool        fleet(output = 2 tokens, p99 TTFT <= target - t_kv)
    decode pool         fleet(prompt S with S - 1 tokens' KV already there, the ITL target,
                              admission within the TTFT target)
    colocated pool      fleet(S, N, the same SLO)
    link load           rate * V / (prefill GPUs * eta_link * scale_out_bandwidth)  must be < 1

Each pool is sized by `mlsyslab.fleet` with the load model (queueing, chunked prefill, memory),
trying every tensor-parallel degree. The split wins when its two pools together need fewer GPUs
than the colocated pool at the same SLO. The transfer is counted in TTFT, as in engines that
stream the answer from the decode worker (vLLM's disaggregated prefill proxy); engines that return
the first token from the prefill worker delay the second token by ``t_kv`` instead.

Assumptions: the KV of each request moves once, in the KV-cache precision, over the prefill
replica's network links in parallel (one NIC per GPU), overlapping nothing; prefill and decode
pools use the same accelerator; the decode pool's admission wait counts against the TTFT target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..catalog.hardware import LINKS, accelerator
from ..catalog.models import model as _model
from ..economics.tco import Fleet, fleet
from ..engine.deployment import Deployment
from ..engine.slo import SLO
from ..errors import ValueRangeError
from ..params import P, Param, checked, one
from ..report import Report
from ..units import magnitude

__all__ = ["disaggregate", "DisaggregationResult"]


@dataclass(frozen=True)
class DisaggregationResult(Report):
    """Colocated against split serving for one workload and SLO.

    Attributes
    ----------
    rate_rps : float
        Requests per second served.
    colocated : Fleet
        The fleet that serves prefill and decode on the same replicas.
    prefill : Fleet
        The prefill pool of the split.
    decode : Fleet
        The decode pool of the split.
    kv_bytes_per_request : float
        KV bytes moved from a prefill to a decode replica per request.
    kv_transfer_s : float
        Time of that transfer over the link.
    link_utilisation : float
        Share of the link's bandwidth the transfers use.
    choice : str
        ``"colocated"`` or ``"split"``: the one with fewer GPUs that meets the SLO.
    """

    model: str
    hardware: str
    rate_rps: float
    prompt_tokens: int
    output_tokens: int
    slo: SLO
    colocated: Fleet
    prefill: Fleet
    decode: Fleet
    kv_bytes_per_request: float
    kv_transfer_s: float
    link_utilisation: float
    feasible: bool
    choice: str                  # "split", "colocated" or "neither"
    reason: str | None

    @property
    def not_applicable(self) -> frozenset:
        """Fields that do not apply to this result: with no link between the pools there is no
        transfer to time (the split is infeasible, and its pools say why)."""
        if math.isfinite(self.kv_transfer_s):
            return frozenset()
        return frozenset({"kv_transfer_s", "link_utilisation"})

    @property
    def split_gpus(self) -> int:
        """GPUs of the prefill and decode pools together (0 where the split is infeasible)."""
        return self.prefill.gpus + self.decode.gpus if self.split_feasible else 0

    @property
    def split_feasible(self) -> bool:
        return bool(self.prefill.feasible and self.decode.feasible and self.link_utilisation < 1)

    @property
    def saving(self) -> float:
        """Fraction of the colocated pool's GPUs the split saves (negative: the split costs more)."""
        if not (self.split_feasible and self.colocated.feasible):
            return float("nan")
        return 1.0 - self.split_gpus / self.colocated.gpus

    def summary(self) -> dict:
        def pool(f: Fleet) -> dict:
            return {"feasible": f.feasible, "reason": f.reason, "gpus": f.gpus, "tp": f.tp,
                    "replicas": f.replicas,
                    "ttft_p99_ms": round(f.ttft_p99_s * 1e3, 2) if f.feasible else None,
                    "itl_ms": round(f.itl_s * 1e3, 3) if f.feasible else None}

        return {"model": self.model, "gpu": self.hardware, "rate_rps": self.rate_rps,
                "prompt_tokens": self.prompt_tokens, "output_tokens": self.output_tokens,
                "slo": str(self.slo), "choice": self.choice, "reason": self.reason,
                "colocated": pool(self.colocated), "prefill": pool(self.prefill),
                "decode": pool(self.decode), "split_gpus": self.split_gpus,
                "kv_mb_per_request": round(self.kv_bytes_per_request / 1e6, 3),
                "kv_transfer_ms": _finite(self.kv_transfer_s * 1e3, 3),
                "link_utilisation": _finite(self.link_utilisation, 4)}

    def __str__(self) -> str:
        head = (f"{self.model} on {self.hardware} at {self.rate_rps:g} req/s "
                f"({self.prompt_tokens:,} in / {self.output_tokens:,} out), SLO: {self.slo}")

        def gpus(n):
            return f"{n:,} GPU{'s' if n != 1 else ''}"

        def pool(name, f, what):
            if not f.feasible:
                return f"  {name}: infeasible: {f.reason}"
            return f"  {name}: {gpus(f.gpus)} ({f.replicas:,} x {f.split}), {what(f)}"

        lines = [head,
                 pool("colocated", self.colocated, lambda f: f"p99 TTFT {f.ttft_p99_s * 1e3:,.0f} ms, "
                                                             f"mean ITL {f.itl_s * 1e3:.1f} ms"),
                 pool("prefill pool", self.prefill, lambda f: f"p99 TTFT {f.ttft_p99_s * 1e3:,.0f} ms "
                                                              f"before the transfer"),
                 pool("decode pool", self.decode, lambda f: f"mean ITL {f.itl_s * 1e3:.1f} ms, p99 "
                                                            f"admission {f.ttft_p99_s * 1e3:,.0f} ms"),
                 f"  KV per request {self.kv_bytes_per_request / 1e6:,.1f} MB, "
                 + (f"moved in {self.kv_transfer_s * 1e3:,.1f} ms; the prefill pool's links are "
                    f"{self.link_utilisation:.0%} busy" if math.isfinite(self.kv_transfer_s)
                    else "with no link to move it over")]
        if self.choice == "split":
            verdict = f"split wins: {gpus(self.split_gpus)} against {self.colocated.gpus:,}"
        elif self.choice == "neither":
            verdict = f"neither meets the SLO: {self.reason}"
        elif not self.split_feasible:
            verdict = f"colocated wins: the split is infeasible ({self.reason})"
        elif self.split_gpus == self.colocated.gpus:
            verdict = f"a tie at {gpus(self.split_gpus)}: colocated, the simpler system, wins"
        else:
            verdict = f"colocated wins: {gpus(self.colocated.gpus)} against {self.split_gpus:,}"
        return "\n".join(lines + ["  " + verdict])


@checked("slo_ttft_ms", "slo_itl_ms", "prompt_cv", "output_cv", "max_batched_tokens", "memory_utilization",
         prompt_tokens=Param("int", "token", low=2, high=P["prompt_tokens"].high),
         output_tokens=Param("int", "token", low=2, high=P["output_tokens"].high),
         rate=Param("real", "request/s", low=0, low_open=True, high=1e7, units=("1/s", "query/s")),
         prefill_tp=one("tp"), decode_tp=one("tp"),
         link=Param("choice", choices=("network", "nvlink")),
         link_gb_s=Param("real", "GB/s", low=0, low_open=True, high=1e5, optional=True))
def disaggregate(model, hardware, *, rate, prompt_tokens=512, output_tokens=256,
                 slo: SLO | None = None, slo_ttft_ms=None, slo_itl_ms=None, weights="fp16",
                 kv="fp16", prefill_tp=None, decode_tp=None, link: str = "network", link_gb_s=None,
                 prompt_cv=0.0, output_cv=0.0, max_batched_tokens=None,
                 memory_utilization=0.9) -> DisaggregationResult:
    """Colocated or split, and with how many GPUs of each: see the module docstring.

    Parameters
    ----------
    model : str or Model
        Catalog key or a `Model`.
    hardware : str or Accelerator
        Catalog key or an `Accelerator` (both pools use it).
    rate : float or Quantity [request/s]
        Poisson arrival rate of the whole workload, > 0.
    prompt_tokens : int [token]
        Mean prompt length, >= 2.
    output_tokens : int [token]
        Mean answer length, >= 2.
    slo : SLO, optional
        The targets; or ``slo_ttft_ms`` (p99) and ``slo_itl_ms`` (mean). An ITL target is what
        makes the split worth having: without one, colocated pools run at high load.
    slo_ttft_ms : float, optional
        p99 TTFT target in ms when ``slo`` is not given (default 2,000).
    slo_itl_ms : float, optional
        Mean ITL target in ms when ``slo`` is not given (default: none).
    weights : str
        Weight precision, as in `Deployment`.
    kv : str
        KV-cache precision, as in `Deployment`; the transfer moves it at this precision.
    prefill_tp : int, optional
        Fix the prefill pool's tensor-parallel degree; by default every degree is tried.
    decode_tp : int, optional
        Fix the decode pool's tensor-parallel degree; by default every degree is tried.
    link : str
        ``"network"`` (the pools on different servers: ``scale_out_gb_s`` per GPU) or
        ``"nvlink"`` (both pools inside one scale-up domain, as on a GB200 NVL72 rack).
    link_gb_s : float or Quantity [GB/s], optional
        Override the link bandwidth per GPU per direction (a slower or faster network than the
        catalog's server design), > 0.

    Examples
    --------
    >>> d = ml.disaggregate("llama-3-70b", "h100-sxm", rate=4, prompt_tokens=4000, output_tokens=300, link="nvlink")
    >>> d.choice, d.colocated.gpus
    ('colocated', 8)
    """
    if slo is None:
        slo = SLO(ttft_ms=2000.0 if slo_ttft_ms is None else slo_ttft_ms, itl_ms=slo_itl_ms)
    elif not isinstance(slo, SLO):
        raise ValueRangeError(f"slo must be an mlsyslab.SLO; got {type(slo).__name__}")
    if slo.ttft_ms is None:
        raise ValueRangeError("disaggregate needs a TTFT target (slo.ttft_ms): the KV transfer is paid in it")
    m, hw = _model(model), accelerator(hardware)
    q = magnitude(rate, "request/s", "rate", strictly_positive=True)
    S, N = int(prompt_tokens), int(output_tokens)
    common = dict(weights=weights, kv=kv, max_batched_tokens=max_batched_tokens,
                  memory_utilization=memory_utilization, prompt_cv=prompt_cv)

    colocated = fleet(m, hw, qps=q, prompt_tokens=S, output_tokens=N, slo=slo, tp=None,
                      output_cv=output_cv, **common)

    bw = link_gb_s if link_gb_s is not None else (
        hw.interconnect_gb_s if link == "nvlink" else hw.scale_out_gb_s)
    one_gpu = Deployment(m, hw, weights=weights, kv=kv)
    eff, kv_bytes = one_gpu.efficiency, float(one_gpu.kv_bytes_per_sequence(S))
    latency = (hw.scale_up_link if link == "nvlink" else LINKS["network"]).p2p_latency_us * 1e-6

    if bw is None:
        no_link = (f"the catalog states no network between {hw.name} servers (scale_out_gb_s); "
                   f"give link='nvlink' if both pools share a server, or link_gb_s")
        dead = Fleet(model=m.key, hardware=hw, plan="batched", qps=float(q), prompt_tokens=S,
                     output_tokens=N, slo=slo, feasible=False, reason=no_link)
        choice = "colocated" if colocated.feasible else "neither"
        return DisaggregationResult(
            model=m.key, hardware=hw.key, rate_rps=float(q), prompt_tokens=S, output_tokens=N,
            slo=slo, colocated=colocated, prefill=dead, decode=dead,
            kv_bytes_per_request=float(kv_bytes), kv_transfer_s=float("inf"),
            link_utilisation=float("inf"), feasible=colocated.feasible, choice=choice,
            reason=no_link if colocated.feasible else f"colocated: {colocated.reason}; split: {no_link}")
    # prefill first at a provisional budget, then again with the transfer its tp implies
    transfer = latency + kv_bytes / (1 * bw * 1e9 * eff.interconnect)
    prefill = _prefill_pool(m, hw, q, S, slo, transfer, prefill_tp, common)
    if prefill.feasible:
        transfer = latency + kv_bytes / (prefill.tp * bw * 1e9 * eff.interconnect)
        prefill = _prefill_pool(m, hw, q, S, slo, transfer, prefill.tp, common)
    decode = fleet(m, hw, qps=q, prompt_tokens=S, output_tokens=N, cached_prompt_tokens=S - 1,
                   slo=slo, tp=decode_tp, output_cv=output_cv, **common)
    link_gpus = prefill.gpus if prefill.feasible else 1
    link_util = q * kv_bytes / (link_gpus * bw * 1e9 * eff.interconnect)

    split_ok = prefill.feasible and decode.feasible and link_util < 1
    why = None
    if not split_ok:
        why = ("the prefill pool: " + prefill.reason if not prefill.feasible else
               "the decode pool: " + decode.reason if not decode.feasible else
               f"the KV traffic ({q * kv_bytes / 1e9:,.1f} GB/s) needs more than the prefill "
               f"pool's links carry")
    if split_ok and (not colocated.feasible or prefill.gpus + decode.gpus < colocated.gpus):
        choice, reason = "split", None
    elif colocated.feasible:
        choice, reason = "colocated", why
    else:
        choice, reason = "neither", f"colocated: {colocated.reason}; split: {why}"
    return DisaggregationResult(
        model=m.key, hardware=hw.key, rate_rps=float(q), prompt_tokens=S, output_tokens=N, slo=slo,
        colocated=colocated, prefill=prefill, decode=decode, kv_bytes_per_request=float(kv_bytes),
        kv_transfer_s=float(transfer), link_utilisation=float(link_util),
        feasible=choice != "neither", choice=choice, reason=reason)


def _finite(x: float, nd: int):
    return round(x, nd) if x == x and abs(x) != float("inf") else None


def _prefill_pool(m, hw, q, S, slo: SLO, transfer_s: float, tp, common) -> Fleet:
    """The prefill pool: requests that end after their first token, TTFT target less the transfer."""
    budget_ms = slo.ttft_ms - transfer_s * 1e3
    if budget_ms <= 0:
        return Fleet(model=m.key, hardware=hw, plan="batched", qps=float(q), prompt_tokens=S,
                     output_tokens=2, slo=slo, feasible=False,
                     reason=f"moving the KV takes {transfer_s * 1e3:,.0f} ms, the whole TTFT target")
    target = replace(slo, ttft_ms=budget_ms, itl_ms=None, e2e_s=None)
    return fleet(m, hw, qps=q, prompt_tokens=S, output_tokens=2, slo=target, tp=tp, **common)

