r"""Plan a deployment: the cheapest configuration that meets an SLO, and how to launch it.

The search
----------
For a `Workload` (Poisson arrivals at ``rate``, mean prompt and answer lengths) and an `SLO`,
`plan` tries every

    accelerator x weight precision x KV precision x tp (x pp where nothing fits one server)
              x batch cap (max_num_seqs) x chunked-prefill budget (max_num_batched_tokens)

(the defaults: ``DEFAULT_PLAN_HARDWARE``, fp16/fp8/int4 weights, fp16/fp8 KV, every tp that
divides the heads, ``DEFAULT_BATCH_CAPS`` and ``DEFAULT_PREFILL_BUDGETS``)

and sizes each the way `mlsyslab.fleet` does, with the load model: one replica's largest
Poisson rate that still meets the SLO, ``r*``, is found on a grid of ``GRID`` fractions of its
capacity (so ``r*`` is low by at most one grid step, about 3% of capacity), then

    replicas = ceil(rate / r*),   USD/hour = replicas x GPUs per replica x USD per GPU-hour
    USD per million tokens = USD/hour / (rate x (prompt + answer tokens) x 3600) x 1e6

Each target is met with a margin (`SLO.for_sizing`: 90% of every target, ``SIZING_MARGIN``), the
load model's accuracy against its simulation (mean ITL within about 8%, mean and p99 TTFT within
about 10% for a Poisson stream up to 80% of capacity), as `mlsyslab.fleet` does; a test re-runs the best plans through the
simulation (6,000 requests, three seeds) and finds every target met. The operating point (each replica at
``rate / replicas``) gives the latencies reported. All tp
degrees and batch caps of one accelerator, precision and prefill budget are one vectorised call
of `load`, so a search of a thousand-odd candidates takes seconds (``make bench`` measures it). A candidate that does not fit, or misses
the SLO even at a trickle of traffic, stays in the table with the reason.

Verification: before it returns, `plan` re-runs the cheapest candidate and the frontier's
fastest through the step-by-step simulation (`mlsyslab.simulate`, ``VERIFY_REQUESTS`` Poisson
requests at the replica's share of the traffic, with its batch cap and prefill budget) and checks
the SLO itself, not the sizing margin. A pick that misses it there is marked infeasible with the
simulated miss as its reason, and the next is checked (up to ``VERIFY_TRIES`` at each end); the
``verified`` column says which rows were checked and passed.

The Pareto frontier keeps the candidates no other beats on both cost and mean end-to-end
latency. `PlanResult.launch` writes the chosen plan as a vLLM, SGLang or TensorRT-LLM command,
each flag named as that engine's documentation names it (``data/engines.toml``, with sources).
"""

from __future__ import annotations

import math
import re
import textwrap
from dataclasses import dataclass, field, replace

import numpy as np

from ..catalog.hardware import HARDWARE, accelerator
from ..catalog.models import model as _model
from ..catalog.precision import KV_PRECISIONS, WEIGHT_PRECISIONS, check_precision
from ..catalog.reader import read_data
from ..engine.deployment import DEFAULT_MAX_BATCHED_TOKENS, Deployment, valid_tps
from ..engine.load import load
from ..engine.slo import SLO
from ..errors import UnknownNameError, ValueRangeError
from ..params import P, Param, checked
from ..progress import bar
from ..report import Report

__all__ = ["Workload", "plan", "PlanResult", "ENGINES", "DEFAULT_PLAN_HARDWARE", "GRID"]

GRID = 32
"""Fractions of a replica's capacity on which the largest rate within the SLO is searched."""
DEFAULT_PLAN_HARDWARE = ("h100-sxm", "h200", "b200", "mi300x", "a100-80gb", "l40s")
"""Accelerators `plan` searches when none are given: the data-centre parts clouds rent today."""
DEFAULT_BATCH_CAPS = (8, 16, 32, 64, 128, 256, None)
"""Batch caps tried (``None``: only memory bounds the batch)."""
DEFAULT_PREFILL_BUDGETS = (2048, DEFAULT_MAX_BATCHED_TOKENS)
"""Chunked-prefill budgets tried: a small one (short ITL spikes) and the engines' usual default."""
VERIFY_REQUESTS = 2000
"""Requests `plan` simulates for each pick it verifies (fewer where that would pass ``VERIFY_SECONDS``)."""
VERIFY_SECONDS = 8.0
"""Most work, in seconds of a 2-core machine, one verifying simulation may take."""
VERIFY_TRIES = 4
"""Picks `plan` tries at each end of the frontier before it gives up verifying that end."""
ENGINES = read_data("engines.toml")
"""Each engine's launch command, documented flags and their source (``data/engines.toml``)."""
NO_CAP = 1e9


_WORKLOAD_PARAMS = {
    "rate": Param("real", "request/s", low=0, low_open=True, high=1e7, units=("1/s", "query/s")),
    "prompt_tokens": replace(P["prompt_tokens"], array=False, kind="int"),
    "output_tokens": Param("int", "token", low=2, high=P["output_tokens"].high),
    "prompt_cv": P["prompt_cv"], "output_cv": P["output_cv"],
}


@dataclass(frozen=True)
class Workload:
    """Traffic to serve: Poisson arrivals of requests with mean prompt and answer lengths.

    Parameters
    ----------
    rate : float
        Requests per second, > 0.
    prompt_tokens : int
        Mean prompt length, >= 1.
    output_tokens : int
        Mean answer length (reasoning tokens included), >= 2.
    prompt_cv : float
        Coefficient of variation of prompt lengths, >= 0.
    output_cv : float
        Coefficient of variation of answer lengths, >= 0.
    """

    rate: float
    prompt_tokens: int = 512
    output_tokens: int = 256
    prompt_cv: float = 0.0
    output_cv: float = 0.0

    def __post_init__(self):
        for name, spec in _WORKLOAD_PARAMS.items():   # the package's declarations, checked once
            object.__setattr__(self, name, spec.check(name, getattr(self, name)))

    @property
    def tokens_per_second(self) -> float:
        """Prompt and answer tokens the workload brings per second."""
        return self.rate * (self.prompt_tokens + self.output_tokens)


@dataclass(frozen=True)
class PlanResult(Report):
    """Every candidate of a `plan` search (``table``), the cheapest (``best``) and the frontier.

    Attributes
    ----------
    workload : Workload
        The traffic planned for.
    pricing : str
        How the GPUs are paid for.
    table : pandas.DataFrame
        Every candidate, feasible or not, with its GPUs, latency, cost and reason.
    seconds : float
        How long the search took.
    """

    model: str
    workload: Workload
    slo: SLO
    pricing: str
    table: object = field(repr=False)        # pandas DataFrame, one row per candidate
    seconds: float = 0.0

    @property
    def feasible(self) -> bool:
        return bool(self.table["feasible"].any())

    @property
    def reason(self) -> str | None:
        if self.feasible:
            return None
        reasons = self.table["reason"].dropna()
        return f"no candidate meets the SLO; for example {reasons.iloc[0]}" if len(reasons) else "no candidate"

    @property
    def ranked(self):
        """Feasible candidates, cheapest first (then the shortest end-to-end latency)."""
        return _rank(self.table[self.table["feasible"]]).reset_index(drop=True)

    @property
    def best(self):
        """The cheapest candidate that meets the SLO (a row); raises `InfeasibleError` if none."""
        self.require_feasible()
        return self.ranked.iloc[0]

    @property
    def frontier(self):
        """Candidates no other beats on both cost and mean end-to-end latency, cheapest first."""
        ok = self.ranked
        keep, best_e2e = [], math.inf
        for i, row in ok.iterrows():
            e2e = round(float(row["e2e_ms"]), 3)         # as `_rank` orders them: equals stay equal
            if e2e < best_e2e:
                keep.append(i)
                best_e2e = e2e
        return ok.loc[keep].reset_index(drop=True)

    def plot(self, ax=None):
        """Cost against latency: every candidate that meets the SLO, the frontier, the cheapest.

        A plan that nothing meets draws an empty frame whose title says so and why."""
        from ..course import plots

        if not self.feasible:
            import matplotlib.pyplot as plt

            if ax is None:
                _, ax = plt.subplots(figsize=(7.5, 3.2))
            ax.set_title(f"No plan meets {self.slo}", fontsize=10)
            ax.text(0.5, 0.5, "\n".join(textwrap.wrap(self.reason, 70)), ha="center", va="center",
                    fontsize=9, transform=ax.transAxes)
            ax.set_xlabel("mean end-to-end latency (s)")
            ax.set_ylabel("USD per million tokens")
            ax.set_xticks([])
            ax.set_yticks([])
            return ax
        ok, front = self.ranked, self.frontier
        b = self.best
        fastest = front.loc[front["e2e_ms"].idxmin()]
        premium = fastest["usd_per_million_tokens"] / b["usd_per_million_tokens"]
        title = (f"Speed costs: the fastest plan on the frontier is {premium:.1f}x the cheapest per token"
                 if len(front) > 1 else "One plan is both the cheapest and the fastest")
        ax = plots.frontier(front["e2e_ms"] / 1e3, front["usd_per_million_tokens"], title=title,
                            xlabel="mean end-to-end latency (s)", ylabel="USD per million tokens",
                            highlight=(b["e2e_ms"] / 1e3, b["usd_per_million_tokens"],
                                       f"cheapest: {b['hardware']} {b['weights']} tp={int(b['tp'])}"),
                            ax=ax)
        ax.lines[0].set_label("the frontier: the cheapest plan at each latency")
        ax.scatter(ok["e2e_ms"] / 1e3, ok["usd_per_million_tokens"], s=6, color="0.6", zorder=0,
                   label=f"the {len(ok):,} plans that meet the SLO")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8, markerscale=2.5)  # below
        return ax

    def deployment(self, row=None) -> Deployment:
        """The `Deployment` of a candidate row (the best by default)."""
        r = self.best if row is None else row
        return Deployment(self.model, r["hardware"], tp=int(r["tp"]), pp=int(r["pp"]),
                          weights=r["weights"], kv=r["kv"])

    def launch(self, engine: str = "vllm", row=None) -> str:
        """The command that launches one replica of a plan on ``engine`` (vllm, sglang, trtllm).

        Flags are named as the engine's documentation names them (``ENGINES[engine]["source"]``),
        with values the workload needs:

        - the batch cap, the prefill budget and the memory share the plan was sized with;
        - the context length (``--max-model-len`` and its kin) set to what the workload uses, not
          the model's whole window (an engine refuses to start when its KV pool cannot hold one
          sequence of the window): `context_length`;
        - the checkpoint: the 16-bit one where the engine quantises it at load (fp8 on vLLM and
          SGLang), otherwise a ``CHECKPOINT`` the command asks for (an AWQ or GPTQ int4, an fp4 or
          a ModelOpt checkpoint), so that it never serves 16-bit weights by mistake;
        - TensorRT-LLM's settings without a flag (chunked prefill, which the plan assumes and
          without which a prompt longer than ``max_num_tokens`` is rejected; an fp8 KV cache) in
          the YAML file its ``--extra_llm_api_options`` reads, written by the same lines.
        """
        if engine not in ENGINES["engines"]:
            raise UnknownNameError(f"engine {engine!r} is not one of {', '.join(ENGINES['engines'])}")
        e = ENGINES["engines"][engine]
        r = self.best if row is None else row
        m = _model(self.model)
        hf = _checkpoint(m)
        dep = self.deployment(r)
        fraction = float(dep.memory_utilization)
        if e.get("memory_fraction_of") == "free":   # of what is left after weights and buffers
            free = dep.capacity_bytes - float(dep.weight_bytes_per_gpu) - float(dep.workspace_bytes(int(r["max_batched_tokens"])))
            fraction = round(float(dep.kv_pool_bytes(int(r["max_batched_tokens"]))) / free, 2)
        values = {"tp": int(r["tp"]), "pp": int(r["pp"]), "max_seqs": int(r["batch_limit"]),
                  "max_batched_tokens": int(r["max_batched_tokens"]), "memory_fraction": fraction,
                  "max_context": self.context_length(r)}
        flags, notes, config, pre = [], [], [], []
        for setting in ("tp", "pp", "max_seqs", "max_batched_tokens", "memory_fraction", "max_context"):
            if setting == "pp" and values["pp"] == 1:
                continue
            flags.append(f"{e['flags'][setting]} {values[setting]:g}")
        keys = e.get("config_keys", {})
        if "chunked_prefill" in keys:
            config.append(keys["chunked_prefill"])
        kv = e.get("kv_cache_dtype", {}).get(r["kv"])
        if kv:
            flags.append(f"{e['flags']['kv_dtype']} {kv}")
        elif r["kv"] == "fp8" and "kv_fp8" in keys:
            config.append(keys["kv_fp8"])
        elif r["kv"] != "fp16":
            notes.append(e["notes"]["kv_dtype"].format(kv=r["kv"]))
        model_arg = hf
        q = e.get("quantization", {}).get(r["weights"])
        if q:
            flags.append(f"{e['flags']['quantization']} {q}")       # quantised by the engine at load
        elif r["weights"] not in ("fp16", "bf16"):
            notes.append(e["notes"]["quantization"].format(weights=r["weights"]))
            model_arg = '"$CHECKPOINT"'
            pre.append(f'CHECKPOINT="${{CHECKPOINT:?set it to a checkpoint of {hf} quantised to {r["weights"]}}}"')
        servers = int(r["servers"])
        if servers > 1:
            notes.append(e["notes"]["multi_node"].format(servers=servers))
        lines = [f"# {self.model} on {int(r['gpus_per_replica'])} x {r['hardware']}: one of "
                 f"{int(r['replicas'])} replicas",
                 f"# flag names as documented ({e['source']['date']}):", f"#   {e['source']['url']}"]
        lines += [f"# {line}" for n in notes for line in textwrap.wrap(n, 86)]
        lines += pre
        if config:
            name = f"{engine}-{self.model}.yaml"
            lines += [f"cat > {name} <<'YAML'", *"\n".join(config).splitlines(), "YAML"]
            flags.append(f"{e['config_flag']} {name}")
        lines.append(" \\\n    ".join([f"{e['command']} {model_arg}"] + flags))
        return "\n".join(lines)

    def context_length(self, row=None) -> int:
        """The context length a launch command sets for a plan's candidate (the best by default).

        Prompt and answer each at their mean plus three standard deviations (their CVs), rounded
        up to a multiple of 1,024 tokens, no longer than the model's window, and no longer than
        the candidate's KV pool holds for one sequence."""
        r = self.best if row is None else row
        w = self.workload
        need = w.prompt_tokens * (1 + 3 * w.prompt_cv) + w.output_tokens * (1 + 3 * w.output_cv)
        ctx = int(math.ceil(need / 1024) * 1024)
        window = _model(self.model).max_context
        if window:
            ctx = min(ctx, int(window))
        dep = self.deployment(r)
        while ctx > 1024 and int(np.max(dep.max_batch(ctx, int(r["max_batched_tokens"])))) < 1:
            ctx -= 1024
        return ctx

    def summary(self) -> dict:
        """The search as plain data (``mlsyslab plan --json``): the best, every candidate that meets
        the SLO ranked cheapest first, the frontier, and how many were rejected for each reason."""
        out = {"model": self.model, "rate": self.workload.rate, "prompt_tokens": self.workload.prompt_tokens,
               "output_tokens": self.workload.output_tokens, "slo": str(self.slo), "pricing": self.pricing,
               "candidates": int(len(self.table)), "feasible_candidates": int(self.table["feasible"].sum()),
               "feasible": self.feasible, "reason": self.reason}
        rejected = self.table.loc[~self.table["feasible"], "reason"].fillna("no reason recorded")
        out["rejected_by_reason"] = {str(k): int(v) for k, v in
                                     rejected.map(_reason_kind).value_counts().items()}
        if self.feasible:
            out["best"] = _plain(self.best)
            out["ranked"] = [_plain(r) for _, r in self.ranked.iterrows()]
            out["frontier"] = [_plain(r) for _, r in self.frontier.iterrows()]
        return out

    def __str__(self) -> str:
        w = self.workload
        head = (f"plan for {self.model}: {w.rate:g} req/s, {w.prompt_tokens:,} in / {w.output_tokens:,} out, "
                f"SLO: {self.slo}; {len(self.table):,} candidates searched, "
                f"{int(self.table['feasible'].sum()):,} meet it")
        if not self.feasible:
            return f"{head}\n  INFEASIBLE: {self.reason}"
        lines = [head, f"  {'hardware':<10} {'w/kv':<9} {'tp':>2} {'pp':>2} {'cap':>5} {'M':>6} {'GPUs':>5} "
                       f"{'USD/h':>8} {'USD/Mtok':>9} {'p99 TTFT':>9} {'ITL ms':>7}"]
        for _, r in self.frontier.head(8).iterrows():
            cap = "mem" if r["max_batch"] >= NO_CAP else f"{int(r['max_batch'])}"
            lines.append(f"  {r['hardware']:<10} {r['weights'] + '/' + r['kv']:<9} {int(r['tp']):>2} "
                         f"{int(r['pp']):>2} {cap:>5} {int(r['max_batched_tokens']):>6} {int(r['gpus']):>5} "
                         f"{r['usd_per_hour']:>8,.2f} {r['usd_per_million_tokens']:>9,.3f} "
                         f"{r['ttft_p99_ms']:>9,.0f} {r['itl_ms']:>7.1f}")
        lines.append("  (the cost-latency frontier, cheapest first)")
        checked = self.table[self.table["verified"].notna()]
        b = self.best
        if b["verified"] is True:
            s = self.slo
            lines.append(f"  the cheapest, re-run in the simulation: {s.ttft_stat} TTFT "
                         f"{b['simulated_ttft_ms']:,.0f} ms, {s.itl_stat} ITL {b['simulated_itl_ms']:,.1f} ms")
        dropped = int((checked["verified"] == False).sum())  # noqa: E712 (an object column)
        if dropped:
            lines.append(f"  {dropped} pick{'s' if dropped > 1 else ''} met the SLO in the load model but "
                         f"not in the simulation: dropped")
        return "\n".join(lines)


SUMMARY_COLUMNS = ("hardware", "weights", "kv", "tp", "pp", "max_batch", "max_batched_tokens", "batch_limit",
                   "replicas", "gpus", "usd_per_hour", "usd_per_million_tokens", "ttft_p99_ms", "itl_ms",
                   "e2e_ms", "verified", "simulated_ttft_ms", "simulated_itl_ms")
"""The columns of a candidate in `PlanResult.summary` (and ``plan --json``)."""


def _rank(candidates):
    """Cheapest first, then the shortest end-to-end latency (to a microsecond, so that rounding
    cannot reorder equals), then the smaller batch cap: the same order on every run."""
    if candidates.empty:             # nothing meets the SLO: an empty table, not a KeyError
        return candidates
    keyed = candidates.assign(_e2e=candidates["e2e_ms"].round(3))
    return keyed.sort_values(["usd_per_hour", "_e2e", "max_batch"], kind="stable").drop(columns="_e2e")


def _plain(row) -> dict:
    """One candidate as JSON-ready values: numbers as numbers, no cap as None, unchecked as None."""
    out = {}
    for k in SUMMARY_COLUMNS:
        v = row.get(k)
        v = v.item() if hasattr(v, "item") else v
        if k == "max_batch" and v is not None and v >= NO_CAP:
            v = None                                     # memory bounds the batch
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        out[k] = v
    return out


def _reason_kind(reason: str) -> str:
    """A rejection reason without its numbers, so that alike reasons are counted together."""
    head = reason.split(":")[0] if reason.startswith(("does not fit", "misses the SLO in the")) else reason
    return re.sub(r"\d[\d,.]*", "#", head)


def _checkpoint(m) -> str:
    """The Hugging Face repository of a model's source config, or its catalog key."""
    url = getattr(m.source, "url", "") or ""
    found = re.search(r"huggingface\.co/([^/]+/[^/]+)", url)
    return found.group(1) if found else m.key


def _price(hw, pricing: str) -> float:
    if pricing == "spot":
        if hw.spot_usd_h is None:
            return math.nan
        return hw.spot_usd_h
    return hw.on_demand_usd_h if hw.on_demand_usd_h is not None else math.nan


def _candidates(m, hardware, weights, kvs):
    """(accelerator, weights, kv, Deployment or None, reason) for every combination."""
    for key in hardware:
        hw = accelerator(key)
        tps = np.array(valid_tps(m, hw))
        for w in weights:
            for kv in kvs:
                try:
                    dep = Deployment(m, hw, tp=tps[:, None], weights=w, kv=kv)
                except ValueRangeError as exc:
                    yield hw, w, kv, None, str(exc)
                    continue
                yield hw, w, kv, dep, None
                if not np.any(dep.weights_fit()) and hw.scale_out_gb_s:
                    # nothing fits one server: the fewest stages of the widest group that do
                    for stages in (2, 4, 8):
                        staged = Deployment(m, hw, tp=np.array([[int(tps[-1])]]), pp=stages, weights=w, kv=kv)
                        if np.any(staged.weights_fit()):
                            yield hw, w, kv, staged, None
                            break


MAX_PLAN_CANDIDATES = 40_000
"""The most candidates one `plan` searches: about 1.7 ms each on a 2-core machine, so about a minute."""


@checked(pricing=Param("choice", choices=("on-demand", "spot")))
def plan(model, *, workload: Workload, slo: SLO, hardware=None, weights=("fp16", "fp8", "int4"),
         kv=("fp16", "fp8"), max_batch=DEFAULT_BATCH_CAPS, max_batched_tokens=DEFAULT_PREFILL_BUDGETS,
         pricing: str = "on-demand", verify: bool = True) -> PlanResult:
    """Search configurations for the cheapest that meets ``slo`` at ``workload``; see the module docstring.

    Parameters
    ----------
    model : str or Model
        What to serve.
    workload : Workload
        The traffic: rate, prompt and answer lengths.
    slo : SLO
        The latency targets every replica must meet at its share of the traffic.
    hardware : str or list of str, optional
        Accelerators to search; default ``DEFAULT_PLAN_HARDWARE``.
    weights : str or tuple of str
        Weight precisions to try (fp4 only where the chip has fp4 tensor cores).
    kv : str or tuple of str
        KV-cache precisions to try.
    max_batch : tuple
        Batch caps to try (``None``: memory only).
    max_batched_tokens : int or tuple of int
        Chunked-prefill budgets per forward pass to try (vLLM ``max_num_batched_tokens``).
    pricing : str
        ``"on-demand"`` or ``"spot"`` prices from the catalog.
    verify : bool
        Re-run the cheapest pick and the frontier's fastest through the simulation and drop a
        pick that misses the SLO there (default True; see the module docstring).

    Examples
    --------
    >>> w = ml.Workload(rate=2, prompt_tokens=1000, output_tokens=300)
    >>> p = ml.plan("llama-3-8b", workload=w, slo=ml.SLO(ttft_ms=1000, itl_ms=50), hardware=["h100-sxm"], weights=["fp16"], kv=["fp16"])
    >>> p.best["hardware"], int(p.best["gpus"]), round(float(p.best["usd_per_million_tokens"]), 2)
    ('h100-sxm', 1, 0.32)
    """
    import time

    import pandas as pd

    t0 = time.perf_counter()
    if not isinstance(workload, Workload):
        raise ValueRangeError("workload must be an mlsyslab.Workload(rate=..., prompt_tokens=..., output_tokens=...)")
    if not isinstance(slo, SLO) or slo.empty:
        raise ValueRangeError("slo must be an mlsyslab.SLO with at least one target")
    m = _model(model)
    keys = DEFAULT_PLAN_HARDWARE if hardware is None else ([hardware] if isinstance(hardware, str) else list(hardware))
    for k in keys:
        if k not in HARDWARE and not hasattr(k, "peak_tflops"):
            accelerator(k)          # raises with the closest name
    ws = (weights,) if isinstance(weights, str) else tuple(weights)
    kvs = (kv,) if isinstance(kv, str) else tuple(kv)
    for what, values in (("hardware", keys), ("weights", ws), ("kv", kvs)):
        if not values:
            raise ValueRangeError(f"plan needs at least one {what} to search; got an empty list")
    for w in ws:
        check_precision(w, WEIGHT_PRECISIONS, "weight")
    for k in kvs:
        check_precision(k, KV_PRECISIONS, "KV-cache")
    caps = np.array([NO_CAP if c is None else float(c) for c in max_batch], dtype=float)
    if caps.size == 0 or np.any(caps < 1):
        raise ValueRangeError("max_batch must list caps >= 1 (or None for memory only)")
    budgets = [max_batched_tokens] if np.ndim(max_batched_tokens) == 0 else list(max_batched_tokens)
    if not budgets or any(not float(b).is_integer() or b < 1 for b in budgets):
        raise ValueRangeError(f"max_batched_tokens must be whole numbers >= 1; got {max_batched_tokens!r}")
    lam = workload.rate
    frac = np.linspace(1.0 / GRID, 1.0 - 1.0 / GRID, GRID)
    sizing = slo.for_sizing()
    rows = []
    searched = [(c, int(b)) for c in _candidates(m, keys, ws, kvs) for b in budgets]
    if len(searched) * len(caps) > MAX_PLAN_CANDIDATES:
        raise ValueRangeError(f"plan is bounded to {MAX_PLAN_CANDIDATES:,} candidates (about a minute on a 2-core "
                              f"machine); these lists make {len(searched) * len(caps):,}: search fewer hardware, "
                              f"precisions, batch caps or prefill budgets at once")
    pbar = bar(len(searched), "plan", "layout")
    for (hw, w, kvp, dep, why), M in searched:
        pbar.update(1)
        wl = dict(prompt_tokens=workload.prompt_tokens, output_tokens=workload.output_tokens,
                  prompt_cv=workload.prompt_cv, output_cv=workload.output_cv, max_batched_tokens=M)
        price = _price(hw, pricing)
        common = {"hardware": hw.key, "weights": w, "kv": kvp, "max_batched_tokens": M}
        if dep is None:
            rows.append({**common, "tp": 0, "pp": 1, "max_batch": np.nan, "feasible": False, "reason": why})
            continue
        C = caps[:, None, None]
        base = load(dep, concurrency=1, max_batch=C, **wl)                         # (caps, tp, 1)
        cap_rps = np.where(base.feasible, base.capacity_rps, 0.0)
        rates = np.maximum(cap_rps * frac, 1e-12)                                   # (caps, tp, grid)
        met = np.asarray(sizing.met(load(dep, rate=rates, max_batch=C, **wl)), dtype=bool) & (cap_rps > 0)
        r_star = np.where(met, rates, 0.0).max(axis=-1)                             # (caps, tp)
        replicas = np.where(r_star > 0, np.ceil(lam / np.maximum(r_star, 1e-300) - 1e-9), 0).astype(int)
        replicas = np.maximum(replicas, np.where(r_star > 0, 1, 0))
        at = load(dep, rate=np.maximum(lam / np.maximum(replicas, 1), 1e-12)[..., None], max_batch=C, **wl)
        stats = slo.values(at)
        tp = np.broadcast_to(np.asarray(dep.tp)[:, 0], r_star.shape)
        gpus_rep = tp * dep.pp
        for i, cap in enumerate(caps):
            for j in range(r_star.shape[1]):
                ok_fit = bool(np.ravel(base.feasible[i, j])[0])
                row = {**common, "tp": int(tp[i, j]), "pp": dep.pp, "max_batch": cap,
                       "memory_utilization": dep.memory_utilization,
                       "gpus_per_replica": int(gpus_rep[i, j]),
                       "servers": int(-(-int(gpus_rep[i, j]) // hw.scale_up_gpus))}
                if not ok_fit:
                    reason = np.ravel(np.asarray(base.reason, dtype=object)[i, j])[0] if np.ndim(base.reason) else base.reason
                    rows.append({**row, "feasible": False, "reason": f"does not fit: {reason}"})
                    continue
                if r_star[i, j] <= 0:
                    rows.append({**row, "feasible": False,
                                 "reason": "misses the SLO even at a trickle of traffic"})
                    continue
                if not math.isfinite(price):
                    rows.append({**row, "feasible": False, "reason": f"the catalog has no {pricing} price for {hw.name}"})
                    continue
                R = int(replicas[i, j])
                usd_h = R * gpus_rep[i, j] * price
                rows.append({**row, "feasible": True, "reason": None, "replicas": R,
                             "gpus": int(R * gpus_rep[i, j]), "replica_rate": float(r_star[i, j]),
                             "batch_limit": int(np.ravel(at.batch_limit[i, j])[0]),
                             "usd_per_hour": float(usd_h),
                             "usd_per_million_tokens": float(usd_h / (workload.tokens_per_second * 3600) * 1e6),
                             "ttft_p99_ms": float(np.ravel(at.ttft_p99_s[i, j])[0] * 1e3),
                             "itl_ms": float(np.ravel(stats["itl"][i, j])[0] * 1e3),
                             "e2e_ms": float(np.ravel(at.e2e_s[i, j])[0] * 1e3)})
    pbar.close()
    table = pd.DataFrame(rows)
    for col in ("replicas", "gpus", "batch_limit"):
        if col not in table:
            table[col] = np.nan
    table["verified"] = pd.Series([None] * len(table), dtype=object)
    table["simulated_ttft_ms"] = table["simulated_itl_ms"] = np.nan
    result = PlanResult(model=m.key, workload=workload, slo=slo, pricing=pricing, table=table)
    if verify:
        _verify(result)
    return replace(result, seconds=time.perf_counter() - t0)


def _verify(result: PlanResult) -> None:
    """Simulate the cheapest pick and the frontier's fastest; mark a pick that misses the SLO
    there infeasible (with the simulated miss) and try the next, ``VERIFY_TRIES`` at each end."""
    from ..engine.simulation import estimated_seconds, simulate

    w, table = result.workload, result.table
    for end in ("cheapest", "fastest"):
        for _ in range(VERIFY_TRIES):
            ok = table[table["feasible"]]
            if ok.empty:
                return
            ranked = _rank(ok)
            if end == "cheapest":
                i = ranked.index[0]
            else:
                front = PlanResult(model=result.model, workload=w, slo=result.slo, pricing=result.pricing,
                                   table=ok).frontier
                i = ok.index[(ok["usd_per_hour"] == front["usd_per_hour"].iloc[-1])
                             & (ok["e2e_ms"] == front["e2e_ms"].iloc[-1])][0]
            if table.at[i, "verified"] is True:
                break
            r = table.loc[i]
            per_request = estimated_seconds(1, w.output_tokens)
            n = int(max(200, min(VERIFY_REQUESTS, VERIFY_SECONDS / per_request)))
            sim = simulate(result.deployment(r), rate=w.rate / int(r["replicas"]), prompt_tokens=w.prompt_tokens,
                           output_tokens=w.output_tokens, prompt_cv=w.prompt_cv, output_cv=w.output_cv,
                           requests=n, max_batch=int(r["batch_limit"]),
                           max_batched_tokens=int(r["max_batched_tokens"]), seed=0)
            miss = result.slo.misses(sim)
            seen = result.slo.values(sim)
            table.at[i, "simulated_ttft_ms"] = float(seen["ttft"]) * 1e3
            table.at[i, "simulated_itl_ms"] = float(seen["itl"]) * 1e3
            if miss is None:
                table.at[i, "verified"] = True
                break
            table.at[i, "verified"] = False
            table.at[i, "feasible"] = False
            table.at[i, "reason"] = f"misses the SLO in the simulation ({n:,} requests): {miss}"
