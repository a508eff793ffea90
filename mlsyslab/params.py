"""Every public parameter stated once: its unit, kind, range and whether arrays are allowed.

A `Param` is the declaration (in the spirit of scikit-learn's ``_parameter_constraints``
and pint's ``wraps``); `checked` applies the declarations at a public function's boundary,
so a bad value raises the package's own error, in one line, naming the parameter, what was given
and what is allowed. The command line builds its flags, ``--help`` lines and messages from the
same declarations (`Param.cli_type`, `Param.describe`), and ``PARAMETERS`` lists them
for the documentation's table of what each parameter accepts.

Values accepted for a quantity parameter: a number (read in the parameter's unit), a numpy
array or list (where ``array=True``), a pint quantity of a compatible dimension, or a string
such as ``"60 GB"``. NaN and infinities are refused unless stated.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import numbers
from dataclasses import dataclass, replace

import numpy as np

from .errors import MlsyslabError, UnitError, ValueRangeError
from .units import magnitude, split_list_text

__all__ = ["Param", "checked", "one", "PARAMETERS", "parameter_table"]


@dataclass(frozen=True)
class Param:
    """The declaration of one parameter.

    kind: ``"real"``, ``"int"``, ``"choice"`` (one of ``choices``), ``"bool"`` or ``"text"``.
    unit: the unit a plain number is read in (quantities convert from any of ``units``).
    low/high: the allowed range; ``low_open``/``high_open`` exclude the bound.
    array: arrays broadcast (``True``) or one value only. optional: ``None`` is allowed.
    """

    kind: str = "real"
    unit: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    array: bool = False
    optional: bool = False
    choices: tuple = ()
    units: tuple = ()
    help: str = ""

    # --- the rules ---------------------------------------------------------------------------
    def describe(self) -> str:
        """What is allowed, in words: 'a whole number >= 1 (request)'."""
        if self.kind == "choice":
            return "one of " + ", ".join(map(str, self.choices))
        if self.kind == "bool":
            return "true or false"
        if self.kind == "text":
            return "a name"
        what = "a whole number" if self.kind == "int" else "a number"
        rng = []
        if self.low is not None:
            rng.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            rng.append(f"{'<' if self.high_open else '<='} {self.high:g}")
        out = what + (" " + " and ".join(rng) if rng else "")
        if self.unit:
            out += f" ({self.unit})"
        if self.array:
            out += ", or an array of them"
        return out

    def check(self, name: str, value):
        """The value, converted and checked, or a package error naming ``name``."""
        if value is None:
            if self.optional:
                return None
            raise ValueRangeError(f"{name} is required: {self.describe()}")
        if self.kind == "choice":
            if isinstance(value, str) and value in self.choices:
                return value
            import difflib
            close = difflib.get_close_matches(str(value), [str(c) for c in self.choices], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueRangeError(f"{name} must be {self.describe()}; got {value!r}{hint}")
        if self.kind == "bool":
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            raise ValueRangeError(f"{name} must be true or false; got {value!r}")
        if self.kind == "text":
            if isinstance(value, str):
                return value
            raise ValueRangeError(f"{name} must be a name (text); got {type(value).__name__}")
        return self._number(name, value)

    def _number(self, name, value):
        if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and value != value:
            raise ValueRangeError(f"{name} must be {self.describe()}; got nan")
        if isinstance(value, (bool, np.bool_)):
            raise ValueRangeError(f"{name} must be {self.describe()}; got {value!r}")
        if isinstance(value, (list, tuple, np.ndarray)) and not self.array:
            if np.ndim(value) != 0:
                raise ValueRangeError(f"{name} takes one value, not an array: {self.describe()}")
        if isinstance(value, (list, tuple)):
            try:
                value = np.asarray(value, dtype=float)
            except (TypeError, ValueError):
                raise ValueRangeError(f"{name} must be {self.describe()}; got a list of mixed types") from None
        if isinstance(value, np.ndarray) and value.dtype.kind not in "biuf":
            raise ValueRangeError(f"{name} must be {self.describe()}; got an array of {value.dtype}")
        mag = None
        errors = []
        for unit in (self.unit, *self.units):
            try:
                mag = magnitude(value, unit, name)
                break
            except UnitError as exc:
                errors.append(exc)
            except (TypeError, OverflowError):
                raise ValueRangeError(f"{name} must be {self.describe()}; got {value!r}") from None
        if mag is None:
            raise errors[0]
        arr = np.asarray(mag, dtype=float)
        if arr.size == 0:
            raise ValueRangeError(f"{name} must be {self.describe()}; got an empty array")
        bad = ~np.isfinite(arr)
        if bad.any():
            raise ValueRangeError(f"{name} must be {self.describe()}; got {_first(arr, bad)}")
        if self.low is not None:
            bad = arr <= self.low if self.low_open else arr < self.low
            if bad.any():
                raise ValueRangeError(f"{name} must be {self.describe()}; got {_first(arr, bad)}")
        if self.high is not None:
            bad = arr >= self.high if self.high_open else arr > self.high
            if bad.any():
                raise ValueRangeError(f"{name} must be {self.describe()}; got {_first(arr, bad)}")
        if self.kind == "int":
            bad = arr != np.round(arr)
            if bad.any():
                raise ValueRangeError(f"{name} must be {self.describe()}; got {_first(arr, bad)}")
            return arr.astype(np.int64) if arr.ndim else int(arr)
        return arr if arr.ndim else float(arr)

    # --- the command line ------------------------------------------------------------------------
    def cli_type(self, flag: str):
        """An argparse ``type=`` that applies this declaration and names the flag on error."""
        import argparse

        def parse(text: str):
            try:
                if self.kind in ("choice", "text"):
                    return self.check(flag, text)
                # one number (with an optional unit), or a comma-separated list where a list is
                # declared; text is parsed, never evaluated (mlsyslab.units.parse_quantity_text)
                parts = split_list_text(text, flag) if self.array else [text]
                values = [self.check(flag, part.strip()) for part in parts]
                return values if self.array else values[0]
            except MlsyslabError as exc:
                msg = str(exc)
                for prefix in (f"{flag}: ", f"{flag} "):
                    if msg.startswith(prefix):
                        msg = msg[len(prefix):]
                raise argparse.ArgumentTypeError(msg) from None

        parse.__name__ = self.describe()
        return parse


def _first(arr, mask) -> str:
    v = np.atleast_1d(arr)[np.atleast_1d(mask)][0]
    return f"{v:g}" if np.isfinite(v) else str(v)


# --- the declarations, shared by every function that takes the parameter -------------------------

TOKENS_MAX = 1e12
P = {
    "batch": Param("int", "request", low=1, high=1e9, array=True, help="sequences that start together"),
    "concurrency": Param("int", "request", low=1, high=1e9, array=True, help="closed loop: clients"),
    "rate": Param("real", "request/s", low=0, low_open=True, high=1e9, array=True, units=("1/s", "query/s"),
                  help="open loop: Poisson arrivals"),
    "qps": Param("real", "request/s", low=0, low_open=True, high=1e9, units=("1/s", "query/s"),
                 help="target queries per second"),
    "prompt_tokens": Param("real", "token", low=1, high=TOKENS_MAX, array=True, help="prompt tokens"),
    "output_tokens": Param("real", "token", low=1, high=TOKENS_MAX, array=True, help="output tokens"),
    "cached_prompt_tokens": Param("real", "token", low=0, high=TOKENS_MAX, array=True,
                                  help="prompt prefix already in the KV cache"),
    "context": Param("real", "token", low=0, high=TOKENS_MAX, array=True, help="tokens per sequence"),
    "tp": Param("int", "", low=1, high=1024, array=True, optional=True, help="tensor-parallel degree"),
    "pp": Param("int", "", low=1, high=64, help="pipeline-parallel stages (across servers where needed)"),
    "ep": Param("int", "", low=1, high=4096, help="expert-parallel degree (MoE): GPUs per stage holding whole experts"),
    "expert_skew": Param("real", "", low=1, high=1e3, help="busiest GPU's share of routed tokens over the mean (1 = uniform)"),
    "weights": Param("text", help="weight precision"),
    "kv": Param("text", help="KV-cache precision"),
    "max_batch": Param("int", "request", low=1, high=1e9, optional=True,
                       help="cap on running sequences (default: the engine's)"),
    "max_batched_tokens": Param("int", "token", low=1, high=1e9, optional=True,
                                help="token budget of one step (default: the engine's)"),
    "kv_allocation": Param("choice", choices=("paged", "reserved"), optional=True,
                           help="KV-cache allocation policy (default: the engine's)"),
    "memory_utilization": Param("real", "", low=0, low_open=True, high=1, help="fraction of memory the engine may use"),
    "prompt_cv": Param("real", "", low=0, high=100, help="coefficient of variation of prompt lengths"),
    "output_cv": Param("real", "", low=0, high=100, help="coefficient of variation of output lengths"),
    "requests": Param("int", "request", low=10, high=1e7, help="requests to simulate"),
    "warmup": Param("real", "", low=0, high=0.9, high_open=True, help="fraction excluded at the start"),
    "seed": Param("int", "", low=0, high=2**63 - 1, help="random seed"),
    "replicas": Param("int", "", low=1, high=1e7, help="replicas"),
    "quality": Param("real", "", low=0, low_open=True, high=1, help="pass rate of answers"),
    "pass_rate": Param("real", "", low=0, low_open=True, high=1, help="pass rate of answers"),
    "retries": Param("int", "", low=0, high=1e6, help="retries of a failed answer"),
    "usd_per_gpu_hour": Param("real", "USD/hour", low=0, low_open=True, high=1e6, optional=True,
                              help="price of one GPU-hour"),
    "usd_per_hour": Param("real", "USD/hour", low=0, low_open=True, high=1e9, array=True, help="price per hour"),
    "tokens_per_second": Param("real", "token/s", low=0, low_open=True, high=1e12, array=True, help="throughput"),
    "seconds_per_query": Param("real", "s", low=0, low_open=True, high=1e9, array=True, help="GPU time per query"),
    "job_seconds": Param("real", "s", low=0, low_open=True, high=1e12, array=True, help="length of a job"),
    "minimum_seconds": Param("real", "s", low=0, high=1e12, help="minimum billed time"),
    "cost_per_attempt": Param("real", "USD", low=0, high=1e12, array=True, help="cost of one attempt"),
    "duration": Param("real", "day", low=0, low_open=True, high=36500, help="how long the fleet runs"),
    "days": Param("real", "day", low=0, low_open=True, high=36500, help="how long the fleet runs"),
    "steps": Param("int", "", low=1, high=1e5, help="reasoning steps K"),
    "tokens_per_step": Param("int", "token", low=1, high=1e7, help="tokens per reasoning step"),
    "answer_tokens": Param("int", "token", low=1, high=1e7, help="answer tokens"),
    "samples": Param("int", "", low=1, high=1e4, help="samples for best-of-n"),
    "branching": Param("int", "", low=1, high=1e3, help="tree branching factor"),
    "beam": Param("int", "", low=1, high=1e3, help="tree beam width"),
    "verifier_tokens": Param("int", "token", low=1, high=1e7, help="tokens per verdict"),
    "pue": Param("real", "", low=1, high=10, help="power usage effectiveness"),
    "power_fraction": Param("real", "", low=0, low_open=True, high=1, help="fraction of TDP drawn while busy"),
    "easy_fraction": Param("real", "", low=0, high=1, help="fraction of queries routed to the small model"),
    "escalation_rate": Param("real", "", low=0, high=1, help="fraction of small-model answers escalated"),
    "verify_tokens": Param("int", "token", low=0, high=1e6,
                           help="tokens the small model spends verifying each answer"),
    "small_steps": Param("int", "", low=0, high=1e5, help="reasoning steps of the small model"),
    "large_steps": Param("int", "", low=0, high=1e5, help="reasoning steps of the large model"),
    "sessions": Param("int", "", low=1, high=1e7, help="conversation sessions"),
    "rate_per_s": Param("real", "request/s", low=0, low_open=True, high=1e9, array=True, units=("1/s",),
                        help="requests per second"),
    "skew": Param("real", "", low=0, high=10, help="Zipf skew of session activity"),
    "max_inflight": Param("int", "request", low=1, high=1e9, optional=True, help="saturation threshold per replica"),
    "prefix_tokens": Param("real", "token", low=0, high=TOKENS_MAX, help="shared prefix tokens"),
    "new_tokens": Param("real", "token", low=0, high=TOKENS_MAX, help="new tokens per turn"),
    "hit_rate": Param("real", "", low=0, high=1, help="prefix-cache hit rate"),
    "ttl_s": Param("real", "s", low=0, low_open=True, high=1e9, optional=True, help="cache time to live"),
    "servers": Param("int", "", low=1, high=1e7, help="servers"),
    "service_time_s": Param("real", "s", low=0, low_open=True, high=1e12, help="service time"),
    "offered_load": Param("real", "", low=0, high=1e9, array=True, help="offered load in Erlangs"),
    "cv2": Param("real", "", low=0, high=1e4, help="squared coefficient of variation of service times"),
    "slo_s": Param("real", "s", low=0, low_open=True, high=1e9, help="latency target"),
    "percentile": Param("real", "", low=0, low_open=True, high=1, high_open=True, help="percentile as a fraction"),
    "slo_ttft_ms": Param("real", "ms", low=0, low_open=True, high=1e9, optional=True, help="TTFT target"),
    "slo_itl_ms": Param("real", "ms", low=0, low_open=True, high=1e9, optional=True, help="ITL target"),
    "max_concurrency": Param("int", "request", low=1, high=1e6, optional=True, help="largest concurrency swept"),
    "tokens": Param("real", "token", low=0, low_open=True, high=TOKENS_MAX, array=True, help="tokens in one pass"),
    "pool": Param("real", "GB", low=0, low_open=True, high=1e9, optional=True, help="KV memory per GPU"),
    "max_context": Param("real", "token", low=0, low_open=True, high=TOKENS_MAX, help="reserved context"),
    "actual_context": Param("real", "token", low=0, low_open=True, high=TOKENS_MAX, array=True,
                            help="context each sequence uses"),
    "block_size": Param("int", "token", low=1, high=1e6, help="tokens per KV block"),
    "uncached_tokens": Param("real", "token", low=0, high=TOKENS_MAX, help="uncached input tokens"),
    "cached_tokens": Param("real", "token", low=0, high=TOKENS_MAX, help="cached input tokens"),
    "read": Param("real", "", low=0, high=1e3, help="cache read price (x input)"),
    "output_ratio": Param("real", "", low=0, high=1e3, help="output price (x input)"),
    "usd_per_mtok_input": Param("real", "USD", low=0, high=1e6, help="price of a million input tokens"),
}
PARAMETERS = P


def one(name: str) -> Param:
    """The declaration of ``name`` for a function that takes one value, not an array."""
    return replace(P[name], array=False)
"""Every declared parameter by name: the one place its unit, kind and range are stated."""


def checked(*names: str, **overrides: Param):
    """Decorator: check the named parameters (declared in ``PARAMETERS``) at the call boundary.

    Each argument is replaced by its checked value (plain numbers in the declared unit, ints for
    whole numbers), so the function body sees clean inputs. ``overrides`` declare parameters
    particular to one function.
    """
    specs = {n: P[n] for n in names}
    specs.update(overrides)

    def wrap(fn):
        sig = inspect.signature(fn)
        missing = [n for n in specs if n not in sig.parameters]
        if missing:  # pragma: no cover - a wiring mistake, caught at import
            raise TypeError(f"{fn.__qualname__} has no parameter(s) {missing}")

        @functools.wraps(fn)
        def inner(*args, **kwargs):
            try:
                bound = sig.bind(*args, **kwargs)
            except TypeError as exc:
                raise ValueRangeError(f"{fn.__name__}(): {exc}") from None
            shapes = {}
            for n, spec in specs.items():
                if n in bound.arguments:
                    bound.arguments[n] = v = spec.check(n, bound.arguments[n])
                    if spec.array and np.ndim(v):
                        shapes[n] = np.shape(v)
            if len(shapes) > 1:
                try:
                    np.broadcast_shapes(*shapes.values())
                except ValueError:
                    listed = ", ".join(f"{n} {s}" for n, s in shapes.items())
                    raise ValueRangeError(f"{fn.__name__}(): these arrays do not broadcast together: {listed}; "
                                          f"give them compatible shapes (e.g. one as a column [:, None])") from None
            with np.errstate(all="ignore"):
                result = fn(*bound.args, **bound.kwargs)
            _refuse_overflow(fn.__name__, result)
            return result

        inner.__mlsyslab_params__ = specs
        return inner

    return wrap


def _refuse_overflow(fn_name: str, result) -> None:
    """No checked function returns a number that is not finite from finite inputs.

    A bare number (or quantity, or array) that came out infinite or NaN means an input was too
    extreme for floating point (a rate of 1e-308 tokens/s): say so instead of returning ``inf``.
    A result object (a frozen dataclass with ``feasible``) may carry NaN or infinity only where
    it is infeasible, and says why there; where it is feasible, every number it holds is finite,
    except the fields its ``not_applicable`` names (a part of the result that does not exist here,
    such as the transfer of a split that has no link, explained by the part's own reason).
    """
    mag = getattr(result, "magnitude", result)
    if isinstance(mag, (numbers.Real, np.ndarray)) and not isinstance(mag, bool):
        arr = np.asarray(mag)
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise ValueRangeError(f"{fn_name}(): the result is not a finite number for these inputs; "
                                  f"an input is outside any realistic range (too small or too large)")
        return
    if not dataclasses.is_dataclass(result) or isinstance(result, type) or not hasattr(result, "feasible"):
        return
    feasible = np.asarray(result.feasible, dtype=bool)
    if not feasible.any():
        return
    skipped = getattr(result, "not_applicable", frozenset())
    for f in dataclasses.fields(result):
        if f.name in skipped:
            continue
        value = getattr(result, f.name)
        value = getattr(value, "magnitude", value)
        if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.ndarray)):
            continue
        arr = np.asarray(value)
        if arr.dtype.kind != "f":
            continue
        try:
            where = np.broadcast_to(feasible, arr.shape) if feasible.ndim else np.ones(arr.shape, bool)
        except ValueError:          # a field of another shape (a per-step series): all of it counts
            where = np.ones(arr.shape, bool)
        if not np.all(np.isfinite(arr[where])):
            raise ValueRangeError(f"{fn_name}(): {f.name} is not a finite number in a result marked feasible; "
                                  f"an input is outside any realistic range (too small or too large)")


def parameter_table() -> str:
    """A Markdown table of every declared parameter: what it accepts and its unit."""
    rows = ["| parameter | accepts | meaning |", "|---|---|---|"]
    for name in sorted(P):
        rows.append(f"| `{name}` | {P[name].describe()} | {P[name].help} |")
    return "\n".join(rows)


def is_number(value) -> bool:
    """True for a real number that is not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(value)
