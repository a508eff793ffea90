r"""Prompt-caching economics: when reuse pays, how the TTL and the arrival rate decide, what it saves.


Prices are in multiples of the provider's input-token price ``p_in`` (so 1 = an uncached input
token); presets and their sources are in ``mlsyslab/data/cache_providers.toml``.

Break-even reuse
    A prefix written once at ``p_write`` and then read at ``p_read`` saves ``p_in - p_read`` per
    read. Against not caching, the first call costs ``p_write`` instead of ``p_in``, so only the
    premium must be recovered:

        N = (p_write - p_in) / (p_in - p_read)   reads   (a 1.25x write, 0.1x read: 0.28)

    and a write priced like a normal input (1x, OpenAI's automatic caching) can never lose. The
    common rule of thumb ``N = p_write / (p_in - p_read)`` (1.39) counts the whole write as if
    the first call were free without caching: it overstates the reuse needed by
    ``p_in / (p_in - p_read)`` reads. `break_even_calls` gives both (``against=``).

TTL fit (Poisson arrivals of rate ``lambda`` for one prefix; a hit refreshes the TTL)
    The next request finds the prefix cached if it comes within the TTL:

        hit rate   h = 1 - exp(-lambda * TTL)
        cost/req   = h * p_read + (1 - h) * p_write + storage * E[min(gap, TTL)]
        E[min(gap, TTL)] = (1 - exp(-lambda * TTL)) / lambda     (storage rent runs while cached)
        savings    = 1 - cost/req   (per prefix token, as a fraction of the uncached price)

    A cache-breaking change (a timestamp at the top of the system prompt) makes every prefix
    unique: ``h = 0`` and every request pays the write price.

Request cost split
    ``cost = p_in * (uncached + read * cached + output_ratio * output)``; with 3,000 uncached and
    5,500 cached input tokens, 250 output tokens at 5x and reads at 0.1x, output is ~26%.

Serving side
    A cached prefix skips its prefill FLOPs (TTFT falls) but its KV still occupies memory and is
    read by every decode step: `serving_effect` runs both through `mlsyslab.serve`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np

from ..catalog.reader import read_data, read_sources
from ..engine.serving import serve
from ..errors import CatalogError, UnknownNameError, ValueRangeError
from ..params import Param, checked, one
from ..report import Report
from ..units import magnitude

__all__ = ["CacheProvider", "CACHE_PROVIDERS", "cache_provider", "break_even_calls",
           "request_cost", "CacheEconomics", "ttl_fit", "serving_effect", "ServingCacheEffect"]


@dataclass(frozen=True)
class CacheProvider:
    """A prompt-cache price structure, in multiples of the input-token price.

    Attributes
    ----------
    key : str
        The preset's catalog key.
    name : str
        The provider and its cache, in words.
    write : float
        Price of writing a cached token, as a multiple of the input price.
    read : float
        Price of reading a cached token, as a multiple of the input price.
    ttl_s : float
        How long an unused entry stays cached.
    storage_per_token_hour : float
        Storage price of a cached token an hour, as a multiple of the input price (0 if none).
    source : str
        Where the prices come from, with its date.
    """

    key: str
    name: str
    write: float
    read: float
    ttl_s: float
    storage_per_token_hour: float = 0.0   # x input price, per cached token per hour
    source: str = ""

    def __post_init__(self):
        if self.write <= 0 or not 0 <= self.read < 1:
            raise ValueRangeError(f"cache provider {self.key!r}: need write > 0 and 0 <= read < 1 (x input price)")
        if self.ttl_s <= 0 or self.storage_per_token_hour < 0:
            raise ValueRangeError(f"cache provider {self.key!r}: need ttl_s > 0 and storage >= 0")


def _load() -> dict:
    data = read_data("cache_providers.toml")
    sources = read_sources(data, "cache_providers.toml")
    out = {}
    for key, raw in data["providers"].items():
        if raw.get("src") not in sources:
            raise CatalogError(f"cache_providers.toml: {key} names no known source")
        storage = raw.get("storage", 0.0)
        per_token_hour = storage / raw["storage_ref_input_usd_per_mtok"] if storage else 0.0
        out[key] = CacheProvider(key, raw["name"], raw["write"], raw["read"], raw["ttl_s"],
                                 per_token_hour, str(sources[raw["src"]]))
    return out


CACHE_PROVIDERS: dict[str, CacheProvider] = _load()


def cache_provider(name) -> CacheProvider:
    """A preset by name (``anthropic-5m``, ``anthropic-1h``, ``openai``, ``google``) or pass one through.

    Parameters
    ----------
    name : str or CacheProvider
        A preset's key (close misspellings are suggested) or a `CacheProvider`, returned unchanged.

    Returns
    -------
    CacheProvider
        The provider's write and read prices (multiples of its input price), TTL and source.

    Examples
    --------
    >>> p = ml.cache_provider("anthropic-5m")
    >>> p.write, p.read, p.ttl_s
    (1.25, 0.1, 300)
    """
    if isinstance(name, CacheProvider):
        return name
    key = str(name).strip().lower().replace("_", "-").replace(" ", "-")
    if key in CACHE_PROVIDERS:
        return CACHE_PROVIDERS[key]
    close = difflib.get_close_matches(key, list(CACHE_PROVIDERS), n=2, cutoff=0.4)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownNameError(f"unknown cache provider {name!r}{hint} (known: {', '.join(CACHE_PROVIDERS)})")


def break_even_calls(provider="anthropic-5m", *, write: float | None = None,
                     read: float | None = None, against: str = "no cache") -> float:
    """Reads after which caching a prefix has paid for itself.

    ``against="no cache"`` (the right comparison): the first call pays ``p_write`` instead of
    ``p_in``, so only the premium must be recovered, ``N = (p_write - p_in) / (p_in - p_read)``
    (0.28 reads for a 1.25x write and a 0.1x read; never negative: a write at 1x cannot lose).
    ``against="free write"``: the rule of thumb ``p_write / (p_in - p_read)`` (1.39), which
    counts the whole write against the reads as if the first call were free without caching, and
    so overstates the reuse needed by ``p_in / (p_in - p_read)`` reads.

    Parameters
    ----------
    provider : str or CacheProvider
        The cache prices: a preset of `cache_provider`.
    write : float, optional
        Override the write price (a multiple of the input price).
    read : float, optional
        Override the read price (a multiple of the input price).
    against : str
        ``"no cache"`` (the right comparison) or ``"free write"`` (the rule of thumb).

    Returns
    -------
    float
        Reads after which the cached prefix has paid for itself (0 where a write cannot lose).

    Examples
    --------
    >>> round(ml.break_even_calls("anthropic-5m"), 2), round(ml.break_even_calls("anthropic-5m", against="free write"), 2)
    (0.28, 1.39)
    """
    p = cache_provider(provider)
    w = p.write if write is None else write
    r = p.read if read is None else read
    if not 0 <= r < 1 or w <= 0:
        raise ValueRangeError("need write > 0 and 0 <= read < 1 (multiples of the input price)")
    if against == "no cache":
        return max(w - 1.0, 0.0) / (1.0 - r)
    if against == "free write":
        return w / (1.0 - r)
    raise ValueRangeError(f"against must be 'no cache' or 'free write'; got {against!r}")


@checked("uncached_tokens", "cached_tokens", "read", "output_ratio", output_tokens=Param("real", "token", low=0, high=1e12), input_price=Param("real", "", low=0, low_open=True, high=1e6))
def request_cost(uncached_tokens, cached_tokens=0, output_tokens=0, *, input_price: float = 1.0,
                 read: float = 0.1, output_ratio: float = 5.0) -> dict:
    """Cost of one request split into uncached input, cached input and output (``input_price`` per token).

    ``total = input_price * (uncached + read * cached + output_ratio * output)``; ``output_share``
    is the output's part of it. A request has at least one token (a request of none has no
    cost to split, and is refused).

    Parameters
    ----------
    uncached_tokens : float [token]
        Input tokens not in the cache.
    cached_tokens : float [token]
        Input tokens read from the cache.
    output_tokens : float [token]
        Output tokens.
    input_price : float
        Price of one uncached input token (any currency; the result is in the same).
    read : float
        Price of a cached input token, as a multiple of ``input_price``.
    output_ratio : float
        Price of an output token, as a multiple of ``input_price``.

    Returns
    -------
    dict
        ``"uncached input"``, ``"cached input"``, ``"output"``, ``"total"`` and ``"output_share"``.

    Examples
    --------
    >>> c = ml.request_cost(1000, cached_tokens=9000, output_tokens=500)
    >>> {k: round(v, 3) for k, v in c.items()}
    {'uncached input': 1000.0, 'cached input': 900.0, 'output': 2500.0, 'total': 4400.0, 'output_share': 0.568}
    """
    u = magnitude(uncached_tokens, "token", "uncached_tokens", minimum=0)
    c = magnitude(cached_tokens, "token", "cached_tokens", minimum=0)
    o = magnitude(output_tokens, "token", "output_tokens", minimum=0)
    parts = {"uncached input": u * input_price, "cached input": c * input_price * read,
             "output": o * input_price * output_ratio}
    if np.any(np.asarray(u) + np.asarray(c) + np.asarray(o) <= 0):
        raise ValueRangeError("a request needs at least one token (uncached, cached or output); got none")
    total = sum(parts.values())
    t = np.asarray(total, dtype=float)
    share = np.divide(parts["output"], t, out=np.zeros_like(t), where=t > 0)   # free (cached at 0x): no share
    return {**parts, "total": total, "output_share": share if share.ndim else float(share)}


@dataclass(frozen=True)
class CacheEconomics(Report):
    """Expected economics of caching one prefix at a given request rate (see `ttl_fit`)."""

    provider: str
    rate_per_s: float
    ttl_s: float
    hit_rate: float
    breakeven_calls: float                 # reads that repay the write, against not caching
    rule_of_thumb_breakeven_calls: float   # the same, counting the whole write (overstated)
    cost_fraction: float       # expected cost per prefix token with caching / without
    savings_fraction: float    # 1 - cost_fraction (negative: caching loses money)

    def summary(self) -> dict:
        return {"provider": self.provider, "rate_per_s": self.rate_per_s, "ttl_s": self.ttl_s,
                "breakeven_calls": round(self.breakeven_calls, 4),
                "rule_of_thumb_breakeven_calls": round(self.rule_of_thumb_breakeven_calls, 4),
                "hit_rate": round(self.hit_rate, 6), "savings_fraction": round(self.savings_fraction, 6)}

    def __str__(self) -> str:
        verdict = "saves" if self.savings_fraction > 0 else "loses"
        return (f"{self.provider}: break-even after {self.breakeven_calls:.2f} reads; at "
                f"{self.rate_per_s:g} requests/s and a {self.ttl_s:g} s TTL the hit rate is "
                f"{self.hit_rate:.1%} and caching {verdict} {abs(self.savings_fraction):.1%} of the prefix's input cost")


@checked("rate_per_s", "ttl_s", cache_breaking=Param("bool"))
def ttl_fit(provider="anthropic-5m", *, rate_per_s, ttl_s=None, cache_breaking: bool = False) -> CacheEconomics:
    """Hit rate and expected savings for Poisson arrivals at ``rate_per_s`` (see module docstring).

    ``rate_per_s`` may be an array (a sweep); ``ttl_s`` defaults to the provider's TTL.

    Parameters
    ----------
    provider : str or CacheProvider
        The cache prices and default TTL: a preset of `cache_provider`.
    rate_per_s : float or array [request/s]
        Poisson arrival rate of requests sharing the prefix.
    ttl_s : float, optional [s]
        The cache's time to live (default: the provider's).
    cache_breaking : bool
        True where the prompt changes the cached prefix on every call (a timestamp at the top), so
        every call writes and none reads: the cache never hits.

    Returns
    -------
    CacheEconomics
        Hit rate, expected cost per request against no cache, and the saving.

    Examples
    --------
    >>> e = ml.ttl_fit("anthropic-5m", rate_per_s=[0.001, 0.01])
    >>> e.hit_rate.round(2)
    array([0.26, 0.95])
    """
    p = cache_provider(provider)
    lam = magnitude(rate_per_s, "1/s", "rate_per_s", minimum=0)
    ttl = p.ttl_s if ttl_s is None else magnitude(ttl_s, "s", "ttl_s", strictly_positive=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = 0.0 * lam if cache_breaking else 1.0 - np.exp(-np.asarray(lam) * ttl)
        cached_hours = np.where(np.asarray(lam) > 0, (1 - np.exp(-np.asarray(lam) * ttl)) / np.asarray(lam),
                                ttl) / 3600.0
    cost = h * p.read + (1 - h) * p.write + p.storage_per_token_hour * cached_hours
    if cache_breaking:
        cost = p.write + p.storage_per_token_hour * ttl / 3600.0
    cost = np.broadcast_to(cost, np.shape(h)) * 1.0

    def out(x):
        return float(x) if np.ndim(x) == 0 else x

    return CacheEconomics(
        provider=p.key, rate_per_s=out(lam), ttl_s=float(ttl), hit_rate=out(h),
        breakeven_calls=break_even_calls(p),
        rule_of_thumb_breakeven_calls=break_even_calls(p, against="free write"),
        cost_fraction=out(cost), savings_fraction=out(1 - cost),
    )


@dataclass(frozen=True)
class ServingCacheEffect(Report):
    """Prefix caching on the serving side: TTFT saved, and the memory a shared prefix saves.

    A prefix cached once serves every sequence that starts with it: the batch's KV holds it once
    (``memory_per_gpu_bytes``) instead of once per sequence (``memory_unshared_per_gpu_bytes``).
    """

    hit_rate: float
    ttft_cold_s: float
    ttft_warm_s: float
    ttft_expected_s: float
    prefill_flops_saved: float   # fraction of prefill compute skipped on average
    prefix_kv_bytes: float       # KV the shared prefix keeps resident (one copy)
    memory_per_gpu_bytes: float  # weights, workspace and KV per GPU with the prefix stored once
    memory_unshared_per_gpu_bytes: float = 0.0  # the same with a copy of the prefix per sequence

    def __str__(self) -> str:
        return (f"hit rate {self.hit_rate:.0%}: TTFT {self.ttft_cold_s * 1e3:,.0f} ms cold, "
                f"{self.ttft_warm_s * 1e3:,.0f} ms warm, {self.ttft_expected_s * 1e3:,.0f} ms expected; "
                f"{self.prefill_flops_saved:.0%} of prefill skipped; the prefix holds "
                f"{self.prefix_kv_bytes / 1e9:,.2f} GB of KV once, and sharing it saves "
                f"{(self.memory_unshared_per_gpu_bytes - self.memory_per_gpu_bytes) / 1e9:,.2f} GB per GPU")


@checked("prefix_tokens", "hit_rate", prompt_tokens=one("prompt_tokens"), batch=one("batch"),
         output_tokens=one("output_tokens"))
def serving_effect(model, hardware=None, *, prompt_tokens, prefix_tokens, hit_rate, batch=1,
                   output_tokens=256, **serve_kw) -> ServingCacheEffect:
    """TTFT with and without a cached prefix of ``prefix_tokens``, weighted by ``hit_rate``.

    Examples
    --------
    >>> print(ml.serving_effect("llama-3-8b", "h100-sxm", prompt_tokens=6000, prefix_tokens=5000, hit_rate=0.9, batch=16))
    hit rate 90%: TTFT 2,157 ms cold, 414 ms warm, 588 ms expected; 74% of prefill skipped;
        the prefix holds 0.66 GB of KV once, and sharing it saves 9.83 GB per GPU
    """
    P = magnitude(prompt_tokens, "token", "prompt_tokens", minimum=1)
    C = magnitude(prefix_tokens, "token", "prefix_tokens", minimum=0)
    if C >= P:
        raise ValueRangeError("prefix_tokens must be smaller than prompt_tokens")
    cold = serve(model, hardware, batch=batch, prompt_tokens=P, output_tokens=output_tokens, **serve_kw)
    warm = serve(model, hardware, batch=batch, prompt_tokens=P, output_tokens=output_tokens,
                 cached_prompt_tokens=C, **serve_kw)
    unshared = serve(model, hardware, batch=batch, prompt_tokens=P, output_tokens=output_tokens,
                     cached_prompt_tokens=C, prefix_group=1, **serve_kw)
    cold.require_feasible()
    dep = cold.deployment
    full, part = dep.prefill_flops(P), dep.prefill_flops(P, C)
    return ServingCacheEffect(
        hit_rate=hit_rate, ttft_cold_s=cold.ttft_s, ttft_warm_s=warm.ttft_s,
        ttft_expected_s=hit_rate * warm.ttft_s + (1 - hit_rate) * cold.ttft_s,
        prefill_flops_saved=float(hit_rate * (1 - part / full)),
        prefix_kv_bytes=float(dep.kv_bytes_per_sequence(C)), memory_per_gpu_bytes=warm.memory_per_gpu_bytes,
        memory_unshared_per_gpu_bytes=unshared.memory_per_gpu_bytes,
    )
