"""Command line: ``mlsyslab models|hardware|serve|load|kv|reason|tco|cache|route|goodput``.

Readable summaries by default, JSON with ``--json``. Bad input (unknown name, non-positive size,
unknown precision, wrong unit) exits with status 2 and one line on stderr; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from .errors import MlsyslabError

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (status 2), not usage + error."""

    def error(self, message):  # noqa: D401 - argparse API
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive_int(text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value != int(value) or value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return int(value)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than zero, got {text!r}")
    return value


def _fraction(text: str) -> float:
    value = _positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be a fraction in (0, 1], got {text!r}")
    return value


def _emit(args, payload: dict, text: str) -> None:
    if args.json:
        print(json.dumps(payload, indent=2, default=_json_default))
    else:
        print(text)


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


# --- commands --------------------------------------------------------------------------------

def _source(src) -> dict | None:
    return None if src is None else {"title": src.title, "url": src.url, "date": src.date}


def _cmd_models(args) -> None:
    from dataclasses import fields

    from .models import MODELS

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

    from .hardware import HARDWARE

    rows = []
    for h in HARDWARE.values():
        row = {f.name: getattr(h, f.name) for f in fields(h) if f.name != "sources"}
        row["sources"] = {name: _source(src) for name, src in h.sources.items()}
        rows.append(row)
    lines = [f"{'key':13} {'memory':>8} {'GB/s':>6} {'fp16 TF':>8} {'fp8 TF':>7} {'fp4 TF':>7} {'W':>5} {'$/h':>6}"]
    def peak(r, p):
        return f"{r['peak_tflops'][p]:g}" if p in r["peak_tflops"] else "-"

    lines += [f"{r['key']:13} {r['memory_gb']:>6.1f}GB {r['memory_bandwidth_gb_s']:>6g} "
              f"{peak(r, 'fp16'):>8} {peak(r, 'fp8'):>7} {peak(r, 'fp4'):>7} {r['tdp_w']:>5g} "
              f"{r['on_demand_usd_h']:>6.2f}" for r in rows]
    _emit(args, {"hardware": rows}, "\n".join(lines))


def _cmd_serve(args) -> None:
    from .serving import serve

    r = serve(args.model, args.gpu, batch=args.batch, prompt_tokens=args.prompt,
              output_tokens=args.output, tp=args.tp, weights=args.weights, kv=args.kv)
    _emit(args, r.summary(), str(r))


def _numbers(text: str, *, integer: bool) -> list:
    out = []
    for part in text.split(","):
        try:
            v = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None
        if not np.isfinite(v) or v <= 0 or (integer and v != int(v)):
            kind = "whole numbers >= 1" if integer else "finite numbers > 0"
            raise argparse.ArgumentTypeError(f"must be {kind}, got {part!r}")
        out.append(int(v) if integer else v)
    return out


def _int_list(text: str) -> list:
    return _numbers(text, integer=True)


def _float_list(text: str) -> list:
    return _numbers(text, integer=False)


def _cmd_load(args) -> None:
    from .load import load

    if (args.concurrency is None) == (args.rate is None):
        raise MlsyslabError("give exactly one of --concurrency or --rate")
    r = load(args.model, args.gpu, concurrency=None if args.concurrency is None else np.array(args.concurrency),
             rate=None if args.rate is None else np.array(args.rate), prompt_tokens=args.prompt,
             output_tokens=args.output, prompt_cv=args.prompt_cv, output_cv=args.output_cv,
             tp=args.tp, weights=args.weights, kv=args.kv, max_batch=args.max_batch,
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
    from .kv import kv_cache

    if args.kv_pool is not None and args.gpu is not None:
        raise MlsyslabError("give either --kv-pool or --gpu, not both")
    r = kv_cache(args.model, args.context, args.kv, pool=args.kv_pool, hardware=args.gpu,
                 tp=args.tp, weights=args.weights)
    _emit(args, r.summary(), str(r))


def _cmd_reason(args) -> None:
    from .reasoning import reason

    r = reason(args.model, args.gpu, strategy=args.strategy, steps=args.steps,
               tokens_per_step=args.tokens_per_step, prompt_tokens=args.prompt,
               answer_tokens=args.answer, samples=args.samples, parallel=not args.series,
               branching=args.branching, beam=args.beam, verifier=args.verifier,
               concurrency=args.concurrency, tp=args.tp, weights=args.weights, kv=args.kv)
    _emit(args, r.summary(), str(r))


def _fleet(args):
    from .tco import fleet

    output = args.output + (args.steps * args.tokens_per_step if args.steps else 0)
    return fleet(args.model, args.gpu, qps=args.qps, prompt_tokens=args.prompt, output_tokens=output,
                 slo_ttft_ms=args.slo_ttft_ms, slo_itl_ms=args.slo_itl_ms, tp=args.tp,
                 weights=args.weights, kv=args.kv, max_batch=args.max_batch,
                 plan="naive" if args.naive else "batched")


def _cmd_fleet(args) -> None:
    f = _fleet(args)
    _emit(args, f.summary(), str(f))


def _cmd_tco(args) -> None:
    from .tco import Pricing, tco

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
    from .cache import break_even_calls, cache_provider, ttl_fit

    p = cache_provider(args.provider)
    if args.rate is None:
        payload = {"provider": p.key, "breakeven_calls": round(break_even_calls(p), 4),
                   "hit_rate": None, "savings_fraction": None}
        text = f"{p.name}: a cached prefix pays back its write after {payload['breakeven_calls']:.2f} reads"
    else:
        r = ttl_fit(p, rate_per_s=args.rate, ttl_s=args.ttl, cache_breaking=args.cache_breaking)
        payload, text = r.summary(), str(r)
    if args.prefix_tokens is not None:
        payload["prefix_tokens"] = args.prefix_tokens
    _emit(args, payload, text)


def _cmd_route(args) -> None:
    from .routing import cascade, replica_routing

    if args.route == "cascade":
        r = cascade(args.small, args.large, args.gpu, qps=args.qps, easy_fraction=args.easy_fraction,
                    escalation_rate=args.escalation, small_steps=args.small_steps,
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
    from .goodput import goodput
    from .slo import SLO

    slo = SLO(ttft_ms=args.slo_ttft_ms, itl_ms=args.slo_itl_ms, ttft_stat=args.ttft_stat,
              itl_stat=args.itl_stat)
    r = goodput(args.model, args.gpu, rate=args.rate, slo=slo, replicas=args.replicas,
                max_batch=args.max_batch, prompt_tokens=args.prompt, output_tokens=args.output,
                quality=args.quality, tp=args.tp, weights=args.weights, kv=args.kv)
    _emit(args, r.summary(), str(r))


# --- parser ----------------------------------------------------------------------------------

def _add_common(p, *, json_flag=True):
    if json_flag:
        p.add_argument("--json", action="store_true", help="print JSON instead of a summary")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mlsyslab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("models", help="the model catalog")
    _add_common(p)
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("hardware", help="the accelerator catalog")
    _add_common(p)
    p.set_defaults(func=_cmd_hardware)

    p = sub.add_parser("serve", help="two-phase serving model: TTFT, ITL, throughput, memory")
    p.add_argument("--model", required=True)
    p.add_argument("--gpu", required=True)
    p.add_argument("--tp", type=_positive_int, default=1)
    p.add_argument("--batch", type=_positive_int, default=1)
    p.add_argument("--prompt", type=_positive_int, default=512, help="prompt tokens")
    p.add_argument("--output", type=_positive_int, default=256, help="output tokens")
    p.add_argument("--weights", default="fp16")
    p.add_argument("--kv", default="fp16")
    _add_common(p)
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("load", help="serving under load: TTFT, ITL and throughput against concurrency or rate")
    p.add_argument("--model", required=True, help="catalog key, e.g. llama-3-70b")
    p.add_argument("--gpu", required=True, help="catalog key, e.g. h100-sxm")
    p.add_argument("--concurrency", type=_int_list, default=None,
                   help="closed loop: clients, comma-separated (e.g. 1,5,25,50,100)")
    p.add_argument("--rate", type=_float_list, default=None,
                   help="open loop: Poisson arrivals in requests/s, comma-separated")
    p.add_argument("--prompt", type=_positive_int, default=512, help="mean prompt tokens (default 512)")
    p.add_argument("--output", type=_positive_int, default=256, help="mean output tokens, >= 2 (default 256)")
    p.add_argument("--prompt-cv", type=float, default=0.0, help="coefficient of variation of prompt lengths (default 0)")
    p.add_argument("--output-cv", type=float, default=0.0, help="coefficient of variation of output lengths (default 0)")
    p.add_argument("--tp", type=_positive_int, default=1, help="tensor-parallel degree (default 1)")
    p.add_argument("--weights", default="fp16", help="weight precision (default fp16)")
    p.add_argument("--kv", default="fp16", help="KV-cache precision (default fp16)")
    p.add_argument("--max-batch", type=_positive_int, default=None,
                   help="cap on running sequences (default: the memory limit)")
    p.add_argument("--max-batched-tokens", type=_positive_int, default=8192,
                   help="token budget of one step, chunked prefill (default 8192)")
    p.add_argument("--kv-allocation", default="paged", choices=["paged", "reserved"],
                   help="paged: KV grows on demand, preemption (vLLM); reserved: S+N reserved (TensorRT-LLM)")
    _add_common(p)
    p.set_defaults(func=_cmd_load)

    p = sub.add_parser("kv", help="KV-cache bytes and how many sequences fit")
    p.add_argument("--model", required=True)
    p.add_argument("--kv", default="fp16")
    p.add_argument("--context", type=_positive_int, default=8192, help="tokens per sequence")
    p.add_argument("--kv-pool", default=None, help="KV memory per GPU, e.g. 60GB")
    p.add_argument("--gpu", default=None)
    p.add_argument("--tp", type=_positive_int, default=1)
    p.add_argument("--weights", default="fp16")
    _add_common(p)
    p.set_defaults(func=_cmd_kv)

    p = sub.add_parser("reason", help="what inference-time reasoning costs per query")
    p.add_argument("--model", required=True)
    p.add_argument("--gpu", required=True)
    p.add_argument("--tp", type=_positive_int, default=1)
    p.add_argument("--weights", default="fp16")
    p.add_argument("--kv", default="fp16")
    p.add_argument("--strategy", default="cot", help="cot | best-of-n | tree | verify")
    p.add_argument("--steps", type=_positive_int, default=1, help="reasoning steps K (tree depth, rounds)")
    p.add_argument("--tokens-per-step", type=_positive_int, default=256)
    p.add_argument("--prompt", type=_positive_int, default=512)
    p.add_argument("--answer", type=_positive_int, default=256)
    p.add_argument("--samples", type=_positive_int, default=1, help="N for best-of-n")
    p.add_argument("--series", action="store_true", help="best-of-n samples one after another")
    p.add_argument("--branching", type=_positive_int, default=2)
    p.add_argument("--beam", type=_positive_int, default=1)
    p.add_argument("--verifier", default=None, help="verifier model (defaults to --model)")
    p.add_argument("--concurrency", type=_positive_int, default=1)
    _add_common(p)
    p.set_defaults(func=_cmd_reason)

    p = sub.add_parser("fleet", help="replicas and GPUs that serve a target QPS within an SLO")
    p.add_argument("--model", required=True)
    p.add_argument("--gpu", required=True)
    p.add_argument("--qps", type=_positive_float, required=True)
    p.add_argument("--steps", type=_positive_int, default=None, help="reasoning steps K (adds K x tokens-per-step output)")
    p.add_argument("--tokens-per-step", type=_positive_int, default=256)
    p.add_argument("--prompt", type=_positive_int, default=512)
    p.add_argument("--output", type=_positive_int, default=256)
    p.add_argument("--slo-ttft-ms", type=_positive_float, default=None,
                   help="p99 time-to-first-token target in ms (default 2000 when no target is given)")
    p.add_argument("--slo-itl-ms", type=_positive_float, default=None, help="mean inter-token latency target in ms")
    p.add_argument("--max-batch", type=_positive_int, default=None, help="cap on running sequences (default: memory)")
    p.add_argument("--tp", type=_positive_int, default=None, help="fix tp (default: cheapest that fits)")
    p.add_argument("--weights", default="fp16")
    p.add_argument("--kv", default="fp16")
    p.add_argument("--naive", action="store_true", help="size the naive one-query-per-replica plan")
    _add_common(p)
    p.set_defaults(func=_cmd_fleet)

    p = sub.add_parser("tco", help="fleet size and annual cost for a target QPS")
    p.add_argument("--model", required=True)
    p.add_argument("--gpu", required=True)
    p.add_argument("--qps", type=_positive_float, required=True)
    p.add_argument("--steps", type=_positive_int, default=None, help="reasoning steps K (adds K x tokens-per-step output)")
    p.add_argument("--tokens-per-step", type=_positive_int, default=256)
    p.add_argument("--prompt", type=_positive_int, default=512)
    p.add_argument("--output", type=_positive_int, default=256)
    p.add_argument("--slo-ttft-ms", type=_positive_float, default=None,
                   help="p99 time-to-first-token target in ms (default 2000 when no target is given)")
    p.add_argument("--slo-itl-ms", type=_positive_float, default=None, help="mean inter-token latency target in ms")
    p.add_argument("--max-batch", type=_positive_int, default=None, help="cap on running sequences (default: memory)")
    p.add_argument("--tp", type=_positive_int, default=None, help="fix tp (default: cheapest that fits)")
    p.add_argument("--weights", default="fp16")
    p.add_argument("--kv", default="fp16")
    p.add_argument("--pricing", default="on-demand", choices=["on-demand", "spot", "reserved", "owned"])
    p.add_argument("--usd-per-gpu-hour", type=_positive_float, default=None)
    p.add_argument("--days", type=_positive_float, default=365.0)
    p.add_argument("--naive", action="store_true", help="size the naive one-query-per-replica plan")
    _add_common(p)
    p.set_defaults(func=_cmd_tco)

    p = sub.add_parser("cache", help="prompt-caching break-even, hit rate and savings")
    p.add_argument("--provider", default="anthropic-5m", help="anthropic-5m | anthropic-1h | openai | google")
    p.add_argument("--prefix-tokens", type=_positive_int, default=None)
    p.add_argument("--rate", type=_positive_float, default=None, help="requests per second reusing the prefix")
    p.add_argument("--ttl", type=_positive_float, default=None, help="TTL in seconds (default: the provider's)")
    p.add_argument("--cache-breaking", action="store_true", help="a changing prefix (e.g. a timestamp)")
    _add_common(p)
    p.set_defaults(func=_cmd_cache)

    p = sub.add_parser("route", help="cascade routing or replica routing")
    route = p.add_subparsers(dest="route", required=True, parser_class=_Parser)
    c = route.add_parser("cascade", help="easy queries to a small model, the rest to a large one")
    c.add_argument("--small", required=True)
    c.add_argument("--large", required=True)
    c.add_argument("--gpu", required=True)
    c.add_argument("--qps", type=_positive_float, required=True)
    c.add_argument("--easy-fraction", type=_fraction, default=0.7)
    c.add_argument("--escalation", type=float, default=0.0, help="fraction of small answers escalated")
    c.add_argument("--small-steps", type=int, default=0)
    c.add_argument("--large-steps", type=int, default=8)
    c.add_argument("--prompt", type=_positive_int, default=512)
    c.add_argument("--answer", type=_positive_int, default=256)
    c.add_argument("--slo-ttft-ms", type=_positive_float, default=None, help="p99 TTFT target in ms")
    c.add_argument("--slo-itl-ms", type=_positive_float, default=None, help="mean ITL target in ms")
    _add_common(c)
    c.set_defaults(func=_cmd_route)
    r = route.add_parser("replicas", help="prefix-cache hit rate of a replica-routing policy")
    r.add_argument("--replicas", type=_positive_int, default=8)
    r.add_argument("--policy", default="round-robin", help="round-robin | least-request | prefix-aware | sticky")
    r.add_argument("--sessions", type=_positive_int, default=400)
    r.add_argument("--rate", type=_positive_float, default=20.0, help="requests per second")
    r.add_argument("--skew", type=float, default=0.0, help="Zipf skew of session activity")
    r.add_argument("--max-inflight", type=_positive_int, default=None, help="saturation threshold per replica")
    r.add_argument("--model", default="llama-3-8b")
    r.add_argument("--gpu", default="h100-sxm")
    r.add_argument("--prefix-tokens", type=_positive_int, default=4000)
    r.add_argument("--seed", type=int, default=0)
    _add_common(r)
    r.set_defaults(func=_cmd_route)

    p = sub.add_parser("goodput", help="requests per second meeting TTFT, ITL and quality gates")
    p.add_argument("--model", required=True)
    p.add_argument("--gpu", required=True)
    p.add_argument("--rate", type=_positive_float, required=True, help="requests per second")
    p.add_argument("--slo-ttft-ms", type=_positive_float, default=None, help="TTFT target in ms")
    p.add_argument("--slo-itl-ms", type=_positive_float, default=None, help="inter-token latency target in ms")
    p.add_argument("--ttft-stat", default="p99", choices=["mean", "p50", "p90", "p99"],
                   help="statistic the TTFT target bounds (default p99)")
    p.add_argument("--itl-stat", default="mean", choices=["mean", "p50", "p90", "p99"],
                   help="statistic the ITL target bounds (default mean)")
    p.add_argument("--replicas", type=_positive_int, default=1)
    p.add_argument("--max-batch", type=_positive_int, default=None, help="cap on running sequences (default: memory)")
    p.add_argument("--prompt", type=_positive_int, default=512)
    p.add_argument("--output", type=_positive_int, default=256)
    p.add_argument("--quality", type=_fraction, default=1.0, help="pass rate of answers")
    p.add_argument("--tp", type=_positive_int, default=1)
    p.add_argument("--weights", default="fp16")
    p.add_argument("--kv", default="fp16")
    _add_common(p)
    p.set_defaults(func=_cmd_goodput)
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
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        print(f"mlsyslab {args.command}: internal error (a bug, please report it): "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
