"""Traffic as load generators send it: length distributions and the closed-loop benchmark.

A serving benchmark (``vllm bench serve --max-concurrency C``, AIPerf, GenAI-Perf, InferenceX)
is not a steady stream: it creates ``R`` requests, lets at most ``C`` be in flight, starts them
together (or staggered), and draws prompt and answer lengths from a stated distribution (often
nearly fixed: InferenceX draws both uniformly in [0.8, 1] of the nominal). With nearly equal
lengths the ``C`` requests move in waves: prompts arrive together and queue behind each other's
prefill, and the statistics include the first wave and the final drain. `Benchmark` states such
a run; `mlsyslab.simulate` runs it request by request and `mlsyslab.load` predicts what it
prints. A production stream (staggered clients or Poisson arrivals, the default everywhere
else) is what fleets are sized for.

Length distributions (`Lengths`), each with its mean and coefficient of variation (CV):

- ``fixed``: every request the same length;
- ``uniform``: uniform in ``[low, high]`` (CV ``(high - low) / (sqrt(12) mean)``);
- ``gamma``: a gamma of the given mean and CV (the default for a CV without a shape);
- ``lognormal``: a lognormal of the given mean and CV (heavier tail than the gamma).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from ..errors import ValueRangeError

__all__ = ["Lengths", "Benchmark", "LENGTH_KINDS", "START_MODES", "sample_lengths"]

LENGTH_KINDS = ("fixed", "uniform", "gamma", "lognormal")
START_MODES = ("together", "staggered")


def _positive(name, v, allow_zero=False):
    ok = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)
    if not ok or v < 0 or (v == 0 and not allow_zero):
        raise ValueRangeError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0; got {v!r}")
    return float(v)


@dataclass(frozen=True)
class Lengths:
    """A distribution of token lengths: ``kind`` (fixed, uniform, gamma, lognormal), its mean and CV.

    Build one with `Lengths.fixed`, `Lengths.uniform`, `Lengths.gamma` or `Lengths.lognormal`.

    >>> Lengths.uniform(819, 1024).cv
    0.064...

    Attributes
    ----------
    mean : float
        Mean length in tokens.
    kind : str
        ``"fixed"``, ``"uniform"``, ``"gamma"`` or ``"lognormal"``.
    cv : float
        Coefficient of variation (gamma and lognormal).
    low : float, optional
        Lower end of a uniform range.
    high : float, optional
        Upper end of a uniform range.
    """

    mean: float
    kind: str = "fixed"
    cv: float = 0.0
    low: float | None = None
    high: float | None = None

    def __post_init__(self):
        _positive("mean length", self.mean)
        if self.kind not in LENGTH_KINDS:
            import difflib

            close = difflib.get_close_matches(str(self.kind), LENGTH_KINDS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueRangeError(f"length distribution must be one of {', '.join(LENGTH_KINDS)}; "
                                  f"got {self.kind!r}{hint}")
        _positive("length CV", self.cv, allow_zero=True)
        if self.cv > 10:
            raise ValueRangeError(f"length CV must be at most 10; got {self.cv:g}")
        if self.kind == "fixed" and self.cv:
            raise ValueRangeError("fixed lengths have no spread (CV 0)")

    @classmethod
    def fixed(cls, tokens) -> Lengths:
        """Every request ``tokens`` long."""
        return cls(mean=_positive("tokens", tokens))

    @classmethod
    def uniform(cls, low, high) -> Lengths:
        """Uniform in ``[low, high]`` tokens (InferenceX: ``[0.8 x, x]``)."""
        lo, hi = _positive("low", low), _positive("high", high)
        if hi < lo:
            raise ValueRangeError(f"uniform lengths need low <= high; got {lo:g} > {hi:g}")
        mean = (lo + hi) / 2
        return cls(mean=mean, kind="uniform", cv=(hi - lo) / (math.sqrt(12) * mean), low=lo, high=hi)

    @classmethod
    def gamma(cls, mean, cv) -> Lengths:
        """A gamma distribution of ``mean`` tokens and coefficient of variation ``cv``."""
        cv = _positive("cv", cv, allow_zero=True)
        return cls(mean=_positive("mean", mean), kind="gamma" if cv else "fixed", cv=cv)

    @classmethod
    def lognormal(cls, mean, cv) -> Lengths:
        """A lognormal of ``mean`` tokens and coefficient of variation ``cv``."""
        cv = _positive("cv", cv, allow_zero=True)
        return cls(mean=_positive("mean", mean), kind="lognormal" if cv else "fixed", cv=cv)

    @classmethod
    def of(cls, value, cv=0.0) -> Lengths:
        """A `Lengths` passed through, or a mean with a CV (gamma-distributed when the CV > 0)."""
        if isinstance(value, Lengths):
            return value
        return cls.gamma(value, cv)

    def sample(self, rng: np.random.Generator, n: int, minimum: int = 1) -> np.ndarray:
        """``n`` whole lengths drawn from the distribution (at least ``minimum``)."""
        if self.kind == "fixed" or self.cv < 1e-6:
            draws = np.full(n, self.mean)
        elif self.kind == "uniform":
            lo = self.low if self.low is not None else self.mean * (1 - math.sqrt(3) * self.cv)
            hi = self.high if self.high is not None else self.mean * (1 + math.sqrt(3) * self.cv)
            draws = rng.uniform(lo, hi, n)
        elif self.kind == "gamma":
            shape = 1.0 / (self.cv * self.cv)
            draws = rng.gamma(shape, self.mean / shape, n)
        else:
            sigma = math.sqrt(math.log1p(self.cv * self.cv))
            draws = rng.lognormal(math.log(self.mean) - sigma * sigma / 2, sigma, n)
        return np.maximum(np.rint(draws), minimum).astype(np.int64)

    def quantile(self, p: float) -> float:
        """The ``p``-quantile of the distribution (a normal approximation for the gamma)."""
        if self.kind == "fixed" or self.cv < 1e-9:
            return self.mean
        if self.kind == "uniform":
            lo = self.low if self.low is not None else self.mean * (1 - math.sqrt(3) * self.cv)
            hi = self.high if self.high is not None else self.mean * (1 + math.sqrt(3) * self.cv)
            return lo + p * (hi - lo)
        sigma = math.sqrt(math.log1p(self.cv * self.cv))
        return self.mean * math.exp(NormalDist().inv_cdf(p) * sigma - sigma * sigma / 2)

    def __str__(self) -> str:
        if self.kind == "fixed":
            return f"{self.mean:,.0f} tokens"
        if self.kind == "uniform":
            return f"uniform {self.low:,.0f}-{self.high:,.0f} tokens"
        return f"{self.kind} mean {self.mean:,.0f} tokens, CV {self.cv:.2g}"


@dataclass(frozen=True)
class Benchmark:
    """A closed-loop benchmark run: ``concurrency`` clients, ``requests`` in all, lengths drawn.

    Parameters
    ----------
    concurrency : int
        Requests in flight at most (the clients; ``--max-concurrency``), >= 1.
    prompt, output : Lengths or number
        Prompt and answer lengths (a number is a fixed length).
    requests : int, optional
        Requests in the run (default ``10 x concurrency``, InferenceX's ``--num-prompts``).
    start : str
        ``"together"``: every client sends its first request at once (``vllm bench serve``,
        AIPerf, InferenceX); ``"staggered"``: clients start spread over one request's latency.
    warmup : int
        Requests run before the measured ones and not counted (the server's warm-up; the
        measured run then starts afresh).

    >>> b = Benchmark.inferencex(64, isl=1024, osl=1024)
    >>> b.requests, round(b.prompt.mean)
    (640, 922)

    Examples
    --------
    >>> b = ml.Benchmark(concurrency=32, prompt=ml.Lengths(1000, "uniform", low=800, high=1000), output=ml.Lengths(200))
    >>> ml.load("llama-3-8b", "h100-sxm", benchmark=b).ttft.to("ms").round(0)
    <Quantity(305.0, 'millisecond')>
    """

    concurrency: int
    prompt: Lengths
    output: Lengths
    requests: int | None = None
    start: str = "together"
    warmup: int = 0

    def __post_init__(self):
        c = self.concurrency
        if not isinstance(c, (int, np.integer)) or isinstance(c, bool) or not 1 <= c <= 1_000_000:
            raise ValueRangeError(f"benchmark concurrency must be a whole number from 1 to 1,000,000; got {c!r}")
        object.__setattr__(self, "concurrency", int(c))
        object.__setattr__(self, "prompt", Lengths.of(self.prompt))
        object.__setattr__(self, "output", Lengths.of(self.output))
        if self.output.mean < 2:
            raise ValueRangeError("benchmark answers need at least 2 tokens on average (an inter-token gap)")
        r = 10 * self.concurrency if self.requests is None else self.requests
        if not isinstance(r, (int, np.integer)) or isinstance(r, bool) or not self.concurrency <= r <= 10_000_000:
            raise ValueRangeError(f"benchmark requests must be a whole number from the concurrency "
                                  f"({self.concurrency}) to 10,000,000; got {r!r}")
        object.__setattr__(self, "requests", int(r))
        if self.start not in START_MODES:
            raise ValueRangeError(f"benchmark start must be one of {', '.join(START_MODES)}; got {self.start!r}")
        if not isinstance(self.warmup, (int, np.integer)) or self.warmup < 0:
            raise ValueRangeError(f"benchmark warmup must be a whole number >= 0; got {self.warmup!r}")

    @classmethod
    def inferencex(cls, concurrency: int, *, isl: int, osl: int) -> Benchmark:
        """InferenceX's protocol: lengths uniform in [0.8, 1] x the nominal, 10 x C requests
        started together (SemiAnalysis InferenceX ``benchmark_serving.py --random-range-ratio 0.8
        --num-prompts 10*CONC --max-concurrency CONC --request-rate inf``)."""
        return cls(concurrency, Lengths.uniform(0.8 * isl, isl), Lengths.uniform(0.8 * osl, osl),
                   requests=10 * concurrency, start="together", warmup=2 * concurrency)

    def __str__(self) -> str:
        return (f"{self.requests:,} requests at concurrency {self.concurrency}, started {self.start}; "
                f"prompts {self.prompt}, answers {self.output}")


def sample_lengths(rng: np.random.Generator, mean: float, cv: float, n: int, minimum: int) -> np.ndarray:
    """``n`` whole lengths with the given mean and coefficient of variation (gamma; fixed if cv=0)."""
    return Lengths.gamma(mean, cv).sample(rng, n, minimum)
