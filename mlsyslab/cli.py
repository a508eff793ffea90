"""Command line: ``mlsyslab models|hardware|serve|load|kv|reason|tco|cache|route|goodput``.

Readable summaries by default, JSON with ``--json``. Bad input (unknown name, non-positive size,
unknown precision, wrong unit) exits with status 2 and one line on stderr; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace

import numpy as np

from .errors import MlsyslabError
from .params import P, Param

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (status 2), not usage + error."""

    def error(self, message):  # noqa: D401 - argparse API
        self.exit(2, f"{self.prog}: error: {message}\n")


def _emit(args, payload: dict, text: str) -> None:
    if args.json:
        print(json.dumps(_jsonable(payload), indent=2, allow_nan=False))
    else:
        print(text)


def _jsonable(obj):
    """Standard JSON: NaN and infinities become null, numpy scalars and arrays plain values."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    return obj


# --- commands --------------------------------------------------------------------------------

def _source(src) -> dict | None:
    return None if src is None else {"title": src.title, "url": src.url, "date": src.date}


def _cmd_models(args) -> None:
    from dataclasses import fields

    from .catalog.models import MODELS

    rows = []
    for m in MODELS.values():
        row = {f.name: getattr(m, f.name) for f in fields(m) if f.name != "source"}
        row["source"] = _source(m.source)
        rows.append(row)
    lines = [f"{'key':32} {'params':>9} {'active':>8} {'layers':>6} {'context':>8}  attention"]
    lines += [f"{r['key']:32} {r['params_b']:>8g}B {r['active_params_b']:>7g}B {r['layers']:>6} "
              f"{r['max_context'] or 0:>8,}  {r['attention'].upper()}"
              f"{' MoE' if r['experts'] > 1 else ''}{' (hypothetical)' if r['hypothetical'] else ''}"
              for r in rows]
    _emit(args, {"models": rows}, "\n".join(lines))


def _cmd_hardware(args) -> None:
    from dataclasses import fields

    from .catalog.hardware import HARDWARE

    rows = []
    for h in HARDWARE.values():
        row = {f.name: getattr(h, f.name) for f in fields(h) if f.name not in ("sources", "scale_up_link")}
        link = h.scale_up_link
        row["scale_up_link"] = {"key": link.key, "name": link.name,
                                "allreduce_tp2_us": link.allreduce_tp2_us,
                                "allreduce_tp8_us": link.allreduce_tp8_us}
        row["sources"] = {name: _source(src) for name, src in h.sources.items()}
        rows.append(row)
    lines = [f"{'key':14} {'memory':>8} {'GB/s':>6} {'fp16 TF':>8} {'fp8 TF':>7} {'fp4 TF':>7} {'W':>5} {'$/h':>6}"]
    def peak(r, p):
        return f"{r['peak_tflops'][p]:g}" if p in r["peak_tflops"] else "-"

    lines += [f"{r['key']:14} {r['memory_gb']:>6.1f}GB {r['memory_bandwidth_gb_s']:>6g} "
              f"{peak(r, 'fp16'):>8} {peak(r, 'fp8'):>7} {peak(r, 'fp4'):>7} {r['tdp_w']:>5g} "
              f"{r['on_demand_usd_h']:>6.2f}" for r in rows]
    _emit(args, {"hardware": rows}, "\n".join(lines))


def _cmd_host(args) -> None:
    from dataclasses import asdict

    from .measure import measure_host

    host = measure_host(args.threads, repeats=args.repeats, library=args.library)
    _emit(args, {"host": asdict(host)}, f"{host}\n(use it as an accelerator: ml.measure_host().accelerator())")


def _cmd_serve(args) -> None:
    from .engine.serving import serve

    r = serve(args.model, args.gpu, batch=args.batch, prompt_tokens=args.prompt,
              output_tokens=args.output, tp=args.tp, pp=args.pp, ep=args.ep, weights=args.weights, kv=args.kv)
    _emit(args, r.summary(), str(r))


def _cmd_load(args) -> None:
    from .engine.load import load

    if (args.concurrency is None) == (args.rate is None):
        raise MlsyslabError("give exactly one of --concurrency or --rate")
    r = load(args.model, args.gpu, concurrency=None if args.concurrency is None else np.array(args.concurrency),
             rate=None if args.rate is None else np.array(args.rate, dtype=float), prompt_tokens=args.prompt,
             output_tokens=args.output, prompt_cv=args.prompt_cv, output_cv=args.output_cv,
             tp=args.tp, pp=args.pp, ep=args.ep, weights=args.weights, kv=args.kv, max_batch=args.max_batch,
             max_batched_tokens=args.max_batched_tokens, kv_allocation=args.kv_allocation)
    keys = ("concurrency" if args.rate is None else "rate", "ttft_ms", "ttft_p99_ms", "itl_ms",
            "itl_p99_ms", "e2e_ms", "throughput_tok_s", "batch", "queue", "bottleneck", "feasible", "reason")
    rows = [{k: row[k] for k in keys} for row in r.rows()]
    head = (f"{r.deployment}; {args.prompt:,} in / {args.output:,} out, "
            f"{'closed loop' if args.rate is None else 'Poisson arrivals'}")
    lines = [head, f"{keys[0]:>11} {'TTFT ms':>9} {'p99':>9} {'ITL ms':>8} {'p99':>8} {'e2e ms':>10} "
                   f"{'tokens/s':>10} {'batch':>7}  bound by"]
    for row in rows:
        if not row["feasible"]:
            lines.append(f"{row[keys[0]]:>11g}  infeasible: {row['reason']}")
            continue
        lines.append(f"{row[keys[0]]:>11g} {row['ttft_ms']:>9,.0f} {row['ttft_p99_ms']:>9,.0f} "
                     f"{row['itl_ms']:>8.1f} {row['itl_p99_ms']:>8.1f} {row['e2e_ms']:>10,.0f} "
                     f"{row['throughput_tok_s']:>10,.0f} {row['batch']:>7.1f}  {row['bottleneck']}")
    _emit(args, {"rows": rows}, "\n".join(lines))


def _cmd_kv(args) -> None:
    from .engine.kv import kv_cache

    if args.kv_pool is not None and args.gpu is not None:
        raise MlsyslabError("give either --kv-pool or --gpu, not both")
    r = kv_cache(args.model, args.context, args.kv, pool=args.kv_pool, hardware=args.gpu,
                 tp=args.tp, weights=args.weights)
    _emit(args, r.summary(), str(r))


def _cmd_reason(args) -> None:
    from .economics.reasoning import reason

    r = reason(args.model, args.gpu, strategy=args.strategy, steps=args.steps,
               tokens_per_step=args.tokens_per_step, prompt_tokens=args.prompt,
               answer_tokens=args.answer, samples=args.samples, parallel=not args.series,
               branching=args.branching, beam=args.beam, verifier=args.verifier,
               concurrency=args.concurrency, tp=args.tp, weights=args.weights, kv=args.kv)
    _emit(args, r.summary(), str(r))


def _fleet(args):
    from .economics.tco import fleet

    output = args.output + (args.steps * args.tokens_per_step if args.steps else 0)
    return fleet(args.model, args.gpu, qps=args.qps, prompt_tokens=args.prompt, output_tokens=output,
                 slo_ttft_ms=args.slo_ttft_ms, slo_itl_ms=args.slo_itl_ms, tp=args.tp, pp=args.pp, ep=args.ep,
                 weights=args.weights, kv=args.kv, max_batch=args.max_batch,
                 plan="naive" if args.naive else "batched")


def _cmd_fleet(args) -> None:
    f = _fleet(args)
    _emit(args, f.summary(), str(f))


def _cmd_tco(args) -> None:
    from .economics.tco import Pricing, tco

    f = _fleet(args)
    if not f.feasible:
        payload = {**f.summary(), "annual_usd": None, "usd_per_million_output_tokens": None,
                   "usd_per_query": None}
        _emit(args, payload, str(f))
        return
    price = Pricing(kind=args.pricing, usd_per_gpu_hour=args.usd_per_gpu_hour)
    t = tco(f, duration=args.days, pricing=price)
    _emit(args, t.summary(), str(t))


def _cmd_cache(args) -> None:
    from .economics.cache import break_even_calls, cache_provider, ttl_fit

    p = cache_provider(args.provider)

    if args.rate is None:
        payload = {"provider": p.key, "breakeven_calls": round(break_even_calls(p), 4),
                   "rule_of_thumb_breakeven_calls": round(break_even_calls(p, against="free write"), 4),
                   "hit_rate": None, "savings_fraction": None}
        text = (f"{p.name}: caching a prefix pays for itself after {payload['breakeven_calls']:.2f} reads "
                f"(the rule of thumb that counts the first call as free says "
                f"{payload['rule_of_thumb_breakeven_calls']:.2f})")
    else:
        r = ttl_fit(p, rate_per_s=args.rate, ttl_s=args.ttl, cache_breaking=args.cache_breaking)
        payload, text = r.summary(), str(r)
    if args.prefix_tokens is not None:
        payload["prefix_tokens"] = args.prefix_tokens
    _emit(args, payload, text)


def _cmd_route(args) -> None:
    from .economics.routing import cascade, replica_routing

    if args.route == "cascade":
        r = cascade(args.small, args.large, args.gpu, qps=args.qps, easy_fraction=args.easy_fraction,
                    escalation_rate=args.escalation, verify_tokens=args.verify_tokens,
                    small_steps=args.small_steps,
                    large_steps=args.large_steps, prompt_tokens=args.prompt, answer_tokens=args.answer,
                    slo_itl_ms=args.slo_itl_ms, slo_ttft_ms=args.slo_ttft_ms)
        payload = r.summary()
        payload["hit_rate"] = None
        payload["mean_ttft_ms"] = None
    else:
        r = replica_routing(args.policy, replicas=args.replicas, sessions=args.sessions,
                            rate_per_s=args.rate, skew=args.skew, max_inflight=args.max_inflight,
                            model=args.model, hardware=args.gpu, prefix_tokens=args.prefix_tokens,
                            seed=args.seed)
        payload = r.summary()
        payload["gpus"] = None
    _emit(args, payload, str(r))


def _cmd_goodput(args) -> None:
    from .engine.goodput import goodput
    from .engine.slo import SLO

    slo = SLO(ttft_ms=args.slo_ttft_ms, itl_ms=args.slo_itl_ms, ttft_stat=args.ttft_stat,
              itl_stat=args.itl_stat)
    r = goodput(args.model, args.gpu, rate=args.rate, slo=slo, replicas=args.replicas,
                max_batch=args.max_batch, prompt_tokens=args.prompt, output_tokens=args.output,
                quality=args.quality, tp=args.tp, weights=args.weights, kv=args.kv)
    _emit(args, r.summary(), str(r))


def _cmd_plan(args) -> None:
    from .engine.slo import SLO
    from .planning.plan import Workload, plan

    if args.slo_ttft_ms is None and args.slo_itl_ms is None:
        raise MlsyslabError("give a target: --slo-ttft-ms and/or --slo-itl-ms")
    gpus = None if args.gpu is None else [g.strip() for g in args.gpu.split(",") if g.strip()]
    r = plan(args.model, workload=Workload(rate=args.rate, prompt_tokens=args.prompt, output_tokens=args.output),
             slo=SLO(ttft_ms=args.slo_ttft_ms, itl_ms=args.slo_itl_ms), hardware=gpus,
             pricing=args.pricing)
    text = str(r)
    out = r.summary()
    if args.emit:
        r.require_feasible()
        out["launch"] = r.launch(args.emit)
        text += "\n\n" + out["launch"]
    _emit(args, out, text)


def _cmd_disagg(args) -> None:
    from .planning.disagg import disaggregate

    r = disaggregate(args.model, args.gpu, rate=args.rate, prompt_tokens=args.prompt,
                     output_tokens=args.output, slo_ttft_ms=args.slo_ttft_ms, slo_itl_ms=args.slo_itl_ms,
                     weights=args.weights, kv=args.kv, link=args.link, link_gb_s=args.link_gb_s)
    _emit(args, r.summary(), str(r))


# --- parser ----------------------------------------------------------------------------------

def _add_common(p, *, json_flag=True):
    if json_flag:
        p.add_argument("--json", action="store_true", help="print JSON instead of a summary")


def _arg(p, flag: str, param: str | Param, *, default=None, required=False, help: str | None = None,
         list_ok=False):
    """A flag whose type, help line and messages come from a declared parameter."""
    spec = P[param] if isinstance(param, str) else param
    if not list_ok and spec.array:
        spec = replace(spec, array=False)
    text = help or spec.help
    allowed = spec.describe()
    if list_ok:
        allowed = allowed.replace(", or an array of them", "") + "; several separated by commas"
    tail = "required" if required else (f"default {default}" if default is not None else "optional")
    p.add_argument(flag, type=spec.cli_type(flag), default=default, required=required,
                   metavar=spec.unit.upper().replace("/", "_PER_") or "N" if spec.kind in ("int", "real") else None,
                   help=f"{text}: {allowed}; {tail}")


def _name(p, flag, what, *, default=None, required=False):
    tail = "required" if required else f"default {default}"
    p.add_argument(flag, default=default, required=required, help=f"{what}; {tail}")


def _deployment_flags(p, *, tp_default=1, split=False):
    _name(p, "--model", "catalog key (e.g. llama-3-70b) or a path to a Hugging Face config.json", required=True)
    _name(p, "--gpu", "accelerator catalog key (e.g. h100-sxm)", required=True)
    _arg(p, "--tp", "tp", default=tp_default, help="tensor-parallel degree" + (
        "" if tp_default else " (default: every degree that fits is tried)"))
    if split:
        _arg(p, "--pp", Param("int", "", low=1, high=64, optional=True), default=1 if tp_default else None,
             help="pipeline-parallel stages" + ("" if tp_default else
                                               " (default: 1, or stages across servers when nothing fits one)"))
        _arg(p, "--ep", "ep", default=1, help="expert-parallel degree for MoE models (1: experts tensor-parallel)")
    _name(p, "--weights", "weight precision: fp16, bf16, fp8, int8, int4 or fp4", default="fp16")
    _name(p, "--kv", "KV-cache precision: fp16, bf16 or fp8", default="fp16")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mlsyslab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("models", help="the model catalog (every field and its source with --json)")
    _add_common(p)
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("hardware", help="the accelerator catalog (every field and its source with --json)")
    _add_common(p)
    p.set_defaults(func=_cmd_hardware)

    p = sub.add_parser("host", help="measure this machine's memory bandwidth and matmul rate, as an accelerator")
    _add_common(p)
    _arg(p, "--threads", Param("int", "", low=1, high=4096, optional=True), default=None,
         help="threads to measure with (default: the cores vLLM's CPU backend computes on, all but one)")
    _arg(p, "--repeats", Param("int", "", low=1, high=100), default=7, help="timed repeats of each kernel; the best counts")
    _name(p, "--library", "auto (the engine's torch where `make engine` installed it, else numpy), torch or numpy",
          default="auto")
    p.set_defaults(func=_cmd_host)

    p = sub.add_parser("serve", help="a batch that starts together: TTFT, ITL, throughput, memory")
    _deployment_flags(p, split=True)
    _arg(p, "--batch", "batch", default=1)
    _arg(p, "--prompt", "prompt_tokens", default=512)
    _arg(p, "--output", "output_tokens", default=256)
    _add_common(p)
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("load", help="serving under load: TTFT, ITL and throughput against concurrency or rate")
    _deployment_flags(p, split=True)
    _arg(p, "--concurrency", "concurrency", list_ok=True, help="closed loop: clients (e.g. 1,5,25,50,100)")
    _arg(p, "--rate", "rate", list_ok=True, help="open loop: Poisson arrivals")
    _arg(p, "--prompt", "prompt_tokens", default=512, help="mean prompt tokens")
    _arg(p, "--output", Param("real", "token", low=2, high=P["output_tokens"].high), default=256,
         help="mean output tokens")
    _arg(p, "--prompt-cv", "prompt_cv", default=0.0)
    _arg(p, "--output-cv", "output_cv", default=0.0)
    _arg(p, "--max-batch", "max_batch", help="cap on running sequences (default: the engine's, and memory)")
    _arg(p, "--max-batched-tokens", "max_batched_tokens",
         help="token budget of one step (chunked prefill; default: the engine's on this GPU)")
    _arg(p, "--kv-allocation", "kv_allocation",
         help="paged: KV grows on demand, preemption (vLLM); reserved: S+N reserved (TensorRT-LLM); "
              "default: the engine's")
    _add_common(p)
    p.set_defaults(func=_cmd_load)

    p = sub.add_parser("kv", help="KV-cache bytes and how many sequences fit")
    _name(p, "--model", "catalog key or a path to a Hugging Face config.json", required=True)
    _name(p, "--kv", "KV-cache precision: fp16, bf16 or fp8", default="fp16")
    _arg(p, "--context", Param("real", "token", low=1, high=P["context"].high), default=8192)
    _arg(p, "--kv-pool", "pool", help="KV memory per GPU, e.g. 60GB")
    _name(p, "--gpu", "accelerator catalog key (derives the pool)", default=None)
    _arg(p, "--tp", Param("int", "", low=1, high=1024), default=1, help="tensor-parallel degree")
    _name(p, "--weights", "weight precision (with --gpu)", default="fp16")
    _add_common(p)
    p.set_defaults(func=_cmd_kv)

    p = sub.add_parser("reason", help="what inference-time reasoning costs per query")
    _deployment_flags(p)
    _name(p, "--strategy", "cot, best-of-n, tree or verify", default="cot")
    _arg(p, "--steps", "steps", default=1, help="reasoning steps K (tree depth, verification rounds)")
    _arg(p, "--tokens-per-step", "tokens_per_step", default=256)
    _arg(p, "--prompt", Param("int", "token", low=1, high=1e7), default=512, help="prompt tokens")
    _arg(p, "--answer", "answer_tokens", default=256)
    _arg(p, "--samples", "samples", default=1)
    p.add_argument("--series", action="store_true", help="best-of-n samples one after another")
    _arg(p, "--branching", "branching", default=2)
    _arg(p, "--beam", "beam", default=1)
    _name(p, "--verifier", "verifier model (default: --model)", default=None)
    _arg(p, "--concurrency", Param("int", "request", low=1, high=1e6), default=1,
         help="queries served together on the replica")
    _add_common(p)
    p.set_defaults(func=_cmd_reason)

    for cmd, helptext, func in (("fleet", "replicas and GPUs that serve a target QPS within an SLO", _cmd_fleet),
                                ("tco", "fleet size and annual cost for a target QPS", _cmd_tco)):
        p = sub.add_parser(cmd, help=helptext)
        _deployment_flags(p, tp_default=None, split=True)
        _arg(p, "--qps", "qps", required=True)
        _arg(p, "--steps", Param("int", "", low=0, high=1e5), help="reasoning steps K (adds K x tokens-per-step output)")
        _arg(p, "--tokens-per-step", "tokens_per_step", default=256)
        _arg(p, "--prompt", Param("int", "token", low=1, high=1e9), default=512, help="prompt tokens")
        _arg(p, "--output", Param("int", "token", low=2, high=1e9), default=256, help="output tokens")
        _arg(p, "--slo-ttft-ms", "slo_ttft_ms", help="p99 time-to-first-token target (default 2000 when none is given)")
        _arg(p, "--slo-itl-ms", "slo_itl_ms", help="mean inter-token latency target")
        _arg(p, "--max-batch", "max_batch", help="cap on running sequences (default: the engine's, and memory)")
        p.add_argument("--naive", action="store_true", help="size the naive one-query-per-replica plan")
        if cmd == "tco":
            _arg(p, "--pricing", Param("choice", choices=("on-demand", "spot", "reserved", "owned")),
                 default="on-demand", help="how the GPUs are paid for")
            _arg(p, "--usd-per-gpu-hour", "usd_per_gpu_hour", help="override the catalog price")
            _arg(p, "--days", "days", default=365.0)
        _add_common(p)
        p.set_defaults(func=func)

    p = sub.add_parser("cache", help="prompt-caching break-even, hit rate and savings")
    _name(p, "--provider", "anthropic-5m, anthropic-1h, openai or google", default="anthropic-5m")
    _arg(p, "--prefix-tokens", Param("int", "token", low=1, high=1e12), help="tokens of the cached prefix")
    _arg(p, "--rate", "rate_per_s", help="requests per second reusing the prefix")
    _arg(p, "--ttl", "ttl_s", help="TTL (default: the provider's)")
    p.add_argument("--cache-breaking", action="store_true", help="a changing prefix (e.g. a timestamp)")
    _add_common(p)
    p.set_defaults(func=_cmd_cache)

    p = sub.add_parser("route", help="cascade routing or replica routing")
    route = p.add_subparsers(dest="route", required=True, parser_class=_Parser)
    c = route.add_parser("cascade", help="easy queries to a small model, the rest to a large one")
    _name(c, "--small", "the small model", required=True)
    _name(c, "--large", "the large model", required=True)
    _name(c, "--gpu", "accelerator catalog key", required=True)
    _arg(c, "--qps", "qps", required=True)
    _arg(c, "--easy-fraction", "easy_fraction", default=0.7)
    _arg(c, "--escalation", "escalation_rate", default=0.0)
    _arg(c, "--verify-tokens", "verify_tokens", default=0)
    _arg(c, "--small-steps", "small_steps", default=0)
    _arg(c, "--large-steps", "large_steps", default=8)
    _arg(c, "--prompt", Param("int", "token", low=1, high=1e9), default=512, help="prompt tokens")
    _arg(c, "--answer", Param("int", "token", low=1, high=1e9), default=256, help="answer tokens")
    _arg(c, "--slo-ttft-ms", "slo_ttft_ms", help="p99 TTFT target")
    _arg(c, "--slo-itl-ms", "slo_itl_ms", help="mean ITL target")
    _add_common(c)
    c.set_defaults(func=_cmd_route)
    r = route.add_parser("replicas", help="prefix-cache hit rate of a replica-routing policy")
    _arg(r, "--replicas", "replicas", default=8)
    _arg(r, "--policy", Param("choice", choices=("round-robin", "least-request", "prefix-aware", "sticky")),
         default="round-robin", help="routing policy")
    _arg(r, "--sessions", "sessions", default=400)
    _arg(r, "--rate", "rate_per_s", default=20.0)
    _arg(r, "--skew", "skew", default=0.0)
    _arg(r, "--max-inflight", "max_inflight")
    _name(r, "--model", "catalog key", default="llama-3-8b")
    _name(r, "--gpu", "accelerator catalog key", default="h100-sxm")
    _arg(r, "--prefix-tokens", "prefix_tokens", default=4000)
    _arg(r, "--seed", "seed", default=0)
    _add_common(r)
    r.set_defaults(func=_cmd_route)

    p = sub.add_parser("goodput", help="requests per second meeting TTFT, ITL and quality gates")
    _deployment_flags(p)
    _arg(p, "--rate", "rate", required=True)
    _arg(p, "--slo-ttft-ms", "slo_ttft_ms", help="TTFT target")
    _arg(p, "--slo-itl-ms", "slo_itl_ms", help="inter-token latency target")
    _arg(p, "--ttft-stat", Param("choice", choices=("mean", "p50", "p90", "p99")), default="p99",
         help="statistic the TTFT target bounds")
    _arg(p, "--itl-stat", Param("choice", choices=("mean", "p50", "p90", "p99")), default="mean",
         help="statistic the ITL target bounds")
    _arg(p, "--replicas", "replicas", default=1)
    _arg(p, "--max-batch", "max_batch", help="cap on running sequences (default: the engine's, and memory)")
    _arg(p, "--prompt", "prompt_tokens", default=512)
    _arg(p, "--output", Param("real", "token", low=2, high=1e12), default=256, help="output tokens")
    _arg(p, "--quality", "quality", default=1.0)
    _add_common(p)
    p.set_defaults(func=_cmd_goodput)

    p = sub.add_parser("plan", help="the cheapest configuration that meets an SLO, and its launch command")
    _name(p, "--model", "catalog key (e.g. llama-3-70b)", required=True)
    _name(p, "--gpu", "accelerators to search, comma-separated (default: h100-sxm,h200,b200,mi300x,a100-80gb,l40s)")
    _arg(p, "--rate", Param("real", "request/s", low=0, low_open=True, high=1e7), required=True,
         help="Poisson arrivals")
    _arg(p, "--prompt", Param("int", "token", low=1, high=1e7), default=512, help="mean prompt tokens")
    _arg(p, "--output", Param("int", "token", low=2, high=1e7), default=256, help="mean output tokens")
    _arg(p, "--slo-ttft-ms", "slo_ttft_ms", help="p99 TTFT target")
    _arg(p, "--slo-itl-ms", "slo_itl_ms", help="mean inter-token latency target")
    _arg(p, "--pricing", Param("choice", choices=("on-demand", "spot")), default="on-demand")
    _arg(p, "--emit", Param("choice", choices=("vllm", "sglang", "trtllm"), optional=True),
         help="print the launch command of the cheapest plan for this engine")
    _add_common(p)
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser("disagg", help="colocated or disaggregated prefill/decode, and how many GPUs of each")
    _name(p, "--model", "catalog key (e.g. llama-3.1-70b)", required=True)
    _name(p, "--gpu", "accelerator catalog key (e.g. h100-sxm)", required=True)
    _name(p, "--weights", "weight precision: fp16, bf16, fp8, int8, int4 or fp4", default="fp16")
    _name(p, "--kv", "KV-cache precision: fp16, bf16 or fp8", default="fp16")
    _arg(p, "--rate", "rate", required=True, help="Poisson arrivals of the whole workload")
    _arg(p, "--prompt", "prompt_tokens", default=512)
    _arg(p, "--output", Param("int", "token", low=2, high=1e9), default=256, help="output tokens")
    _arg(p, "--slo-ttft-ms", "slo_ttft_ms", default=2000.0, help="p99 TTFT target")
    _arg(p, "--slo-itl-ms", "slo_itl_ms", help="mean inter-token latency target")
    _arg(p, "--link", Param("choice", choices=("network", "nvlink")), default="network",
         help="what joins the pools")
    _arg(p, "--link-gb-s", Param("real", "GB/s", low=0, low_open=True, high=1e5, optional=True),
         help="override the link bandwidth per GPU")
    _add_common(p)
    p.set_defaults(func=_cmd_disagg)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors (status 2) and --help (status 0)
        return int(exc.code or 0)
    try:
        args.func(args)
    except MlsyslabError as exc:
        print(f"mlsyslab {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:    # the reader went away (`mlsyslab plan --json | head`): not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # no second error at exit
        return 0
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        print(f"mlsyslab {args.command}: internal error (a bug, please report it): "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
