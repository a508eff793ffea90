"""Every input checked once: arbitrary values into every public function and CLI subcommand.

The contract: a bad value raises the package's own error (one line, naming the parameter); any
other value gives a result that is finite or explicitly infeasible; no warning leaks; the CLI
exits 0 or 2 with one line on stderr and prints standard JSON (no NaN, no Infinity).
"""

import dataclasses
import json
import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mlsyslab as ml
from mlsyslab.cli import build_parser, main
from mlsyslab.params import PARAMETERS

FLEET = ml.fleet("llama-3-8b", "h100-sxm", qps=1.0, tp=1)

# a valid call of every public function that declares its parameters
CALLS = {
    "serve": (("llama-3-8b", "h100-sxm"), {}),
    "decode_step": (("llama-3-8b", "h100-sxm"), {}),
    "arithmetic_intensity": (("llama-3-8b",), {"tokens": 8}),
    "load": (("llama-3-8b", "h100-sxm"), {"concurrency": 4}),
    "simulate": (("llama-3-8b", "h100-sxm"), {"concurrency": 2, "requests": 40}),
    "goodput": (("llama-3-8b", "h100-sxm"), {"rate": 1.0, "slo": ml.SLO(ttft_ms=500)}),
    "batch_frontier": (("llama-3-8b", "h100-sxm"), {"max_concurrency": 8}),
    "fleet": (("llama-3-8b", "h100-sxm"), {"qps": 1.0, "tp": 1}),
    "tco": ((FLEET,), {}),
    "cost_per_million_tokens": ((3.5, 1000), {}),
    "cost_per_query": ((3.5, 8), {}),
    "billed_cost": ((45, 3.5), {}),
    "cost_per_accepted": ((1.0, 0.5), {}),
    "reason": (("llama-3-8b", "h100-sxm"), {}),
    "kv_bytes_per_token": (("llama-3-8b",), {}),
    "kv_bytes_per_sequence": (("llama-3-8b", 1024), {}),
    "kv_pool": (("llama-3-8b", "h100-sxm"), {}),
    "max_sequences": (("llama-3-8b", 1024), {"pool": 60}),
    "kv_cache": (("llama-3-8b", 1024), {"pool": 60}),
    "allocation_waste": (("llama-3-8b", 4096, 1000), {}),
    "request_cost": ((3000, 5500, 250), {}),
    "ttl_fit": (("anthropic-5m",), {"rate_per_s": 0.01}),
    "serving_effect": (("llama-3-8b", "h100-sxm"), {"prompt_tokens": 2000, "prefix_tokens": 1000, "hit_rate": 0.5}),
    "cascade": (("llama-3-8b", "llama-3-70b", "h100-sxm"), {"qps": 2.0, "easy_fraction": 0.5}),
    "replica_routing": ((), {"replicas": 2, "sessions": 20, "rate_per_s": 2.0, "duration_s": 30}),
    "erlang_b": ((4, 2.0), {}),
    "erlang_c": ((4, 2.0), {}),
    "queue": ((1.0, 2, 0.5), {}),
    "max_rate_for_slo": ((4, 1.0, 3.0), {}),
    "disaggregate": (("llama-3-8b", "h100-sxm"), {"rate": 1.0, "slo_itl_ms": 20}),
    "plan": (("llama-3-8b",), {"workload": ml.Workload(rate=2.0), "slo": ml.SLO(ttft_ms=1000),
                               "hardware": "l4"}),
    "traffic": ((), {"hours": 2.0}),
    "speculative": ((ml.Deployment("llama-3-8b", "h100-sxm"), "llama-3.2-1b"), {}),
    "spot_cost": ((), {"on_demand_usd_h": 3.0, "spot_usd_h": 1.5, "interruptions_per_hour": 0.5}),
    "semantic_cache": ((), {"hit_rate": 0.3, "false_hit_rate": 0.01, "request_usd": 0.002,
                            "lookup_usd": 0.00005, "wrong_answer_usd": 0.1}),
    "autoscale": ((ml.Deployment("llama-3-8b", "h100-sxm"), ml.traffic(hours=2.0)),
                  {"slo": ml.SLO(ttft_ms=2000), "long_tokens": 2000}),
}
SLOW = {"cascade", "fleet", "simulate", "replica_routing", "batch_frontier", "disaggregate", "plan", "autoscale"}


def test_every_public_function_declares_its_parameters():
    declared = {name for name in ml.__all__ if hasattr(getattr(ml, name), "__mlsyslab_params__")}
    assert declared == set(CALLS), declared ^ set(CALLS)


NASTY = st.one_of(
    st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308, -1, 0, 0.5, 2.5, 1, 3, 10**30,
                     "abc", "60 GB", "3 s", "", None, True, [1, "x"], [], (1, 2)]),
    st.builds(lambda x: np.array([1.0, x]), st.sampled_from([float("nan"), -1.0, 2.0])),
    st.builds(lambda v, u: ml.Q_(v, u), st.sampled_from([1.0, 100.0, -5.0]),
              st.sampled_from(["s", "ms", "GB", "token", "request/s", "query/s", "USD", "dimensionless"])),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-10**6, max_value=10**12),
)


def _finite_or_infeasible(result) -> None:
    """Every number a result carries is finite where it says it is feasible."""
    if isinstance(result, (int, float, np.floating, np.integer)):
        assert np.isfinite(float(result))
        return
    if hasattr(result, "magnitude"):        # a pint quantity
        assert np.all(np.isfinite(np.asarray(result.magnitude, dtype=float)))
        return
    if isinstance(result, np.ndarray):
        assert np.all(np.isfinite(result.astype(float)))
        return
    if isinstance(result, dict):
        for v in result.values():
            if isinstance(v, (int, float, np.ndarray)) or hasattr(v, "magnitude"):
                _finite_or_infeasible(v)
        return
    if not dataclasses.is_dataclass(result):
        return
    ok = np.asarray(getattr(result, "feasible", True), dtype=bool)
    if hasattr(result, "stable"):
        ok = ok & np.asarray(result.stable, dtype=bool)
    for f in dataclasses.fields(result):
        v = getattr(result, f.name)
        if isinstance(v, (float, np.ndarray)) and np.asarray(v).dtype.kind == "f":
            arr = np.broadcast_to(np.asarray(v, dtype=float), np.broadcast(np.asarray(v), ok).shape)
            mask = np.broadcast_to(ok, arr.shape)
            assert np.all(np.isfinite(arr[mask])), f.name
    if not np.all(ok):
        assert getattr(result, "reason", "stable") is not None


@pytest.mark.parametrize("fn_name", sorted(CALLS))
@settings(max_examples=int(os.environ.get("MLSYSLAB_FUZZ_EXAMPLES", 12)), deadline=None,
          suppress_health_check=list(HealthCheck), derandomize="MLSYSLAB_FUZZ_EXAMPLES" not in os.environ)
@given(data=st.data())
def test_arbitrary_values_give_a_package_error_or_a_sound_result(fn_name, data):
    fn = getattr(ml, fn_name)
    args, kwargs = CALLS[fn_name]
    params = sorted(fn.__mlsyslab_params__)
    name = data.draw(st.sampled_from(params), label="parameter")
    value = data.draw(NASTY, label="value")
    if fn_name in SLOW and not isinstance(value, (str, type(None), list, tuple, bool)):
        # keep the slow functions' valid draws small
        if isinstance(value, (int, float)) and np.isfinite(float(value)) and abs(value) > 1e4:
            value = float(np.sign(value)) * 1e4
    call = dict(kwargs, **{name: value})
    sig_params = list(__import__("inspect").signature(fn).parameters)
    positional = list(args)
    if name in sig_params[:len(positional)]:
        positional[sig_params.index(name)] = call.pop(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            result = fn(*positional, **call)
        except ml.MlsyslabError as exc:
            msg = str(exc)
            assert msg and "\n" not in msg
            return
    _finite_or_infeasible(result)


# --- the command line ---------------------------------------------------------------------------

def _subcommands():
    parser = build_parser()
    out = {}
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, p in sub.choices.items():
        inner = [a for a in p._actions if a.__class__.__name__ == "_SubParsersAction"]
        if inner:
            for n2, p2 in inner[0].choices.items():
                out[f"{name} {n2}"] = p2
        else:
            out[name] = p
    return out


SUBCOMMANDS = _subcommands()
BASE_ARGV = {
    "serve": ["--model", "llama-3-8b", "--gpu", "h100"],
    "load": ["--model", "llama-3-8b", "--gpu", "h100", "--concurrency", "4"],
    "kv": ["--model", "llama-3-8b"],
    "reason": ["--model", "llama-3-8b", "--gpu", "h100"],
    "fleet": ["--model", "llama-3-8b", "--gpu", "h100", "--qps", "2", "--tp", "1"],
    "tco": ["--model", "llama-3-8b", "--gpu", "h100", "--qps", "2", "--tp", "1"],
    "cache": [],
    "route cascade": ["--small", "llama-3-8b", "--large", "llama-3-70b", "--gpu", "h100", "--qps", "2"],
    "route replicas": ["--replicas", "2", "--sessions", "20", "--rate", "2"],
    "goodput": ["--model", "llama-3-8b", "--gpu", "h100", "--rate", "1", "--slo-ttft-ms", "500"],
    "models": [],
    "hardware": [],
    "disagg": ["--model", "llama-3-8b", "--gpu", "h100", "--rate", "1"],
    "plan": ["--model", "llama-3-8b", "--gpu", "l4", "--rate", "1", "--slo-ttft-ms", "1000"],
    "host": ["--library", "numpy", "--repeats", "1", "--threads", "1"],
}
TEXT = st.sampled_from(["nan", "inf", "-inf", "-1", "0", "0.5", "2.5", "1e308", "abc", "", "1,2", "60GB",
                        "3", "100000", "llama-3-70b", "fp8", "p99", "-0", "1e-300"])


def test_every_subcommand_is_exercised():
    assert set(SUBCOMMANDS) == set(BASE_ARGV)


@pytest.mark.parametrize("command", sorted(BASE_ARGV))
@settings(max_examples=int(os.environ.get("MLSYSLAB_FUZZ_EXAMPLES", 10)), deadline=None,
          suppress_health_check=list(HealthCheck), derandomize="MLSYSLAB_FUZZ_EXAMPLES" not in os.environ)
@given(data=st.data())
def test_cli_exits_0_or_2_with_one_line_and_strict_json(command, data, capsys):
    flags = [a for a in SUBCOMMANDS[command]._actions
             if a.option_strings and a.option_strings[0] not in ("-h", "--json") and a.nargs != 0]
    argv = command.split() + list(BASE_ARGV[command])
    if flags:
        flag = data.draw(st.sampled_from(flags), label="flag").option_strings[0]
        argv += [flag + "=" + data.draw(TEXT, label="value")]
    argv.append("--json")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code = main(argv)
    out, err = capsys.readouterr()
    assert code in (0, 2), (argv, err)
    assert "Traceback" not in err and "internal error" not in err, (argv, err)
    if code == 2:
        assert out == "" and err.count("\n") == 1, (argv, err)
    else:
        def strict(token):
            raise AssertionError(f"non-standard JSON constant {token} in {argv}")
        json.loads(out, parse_constant=strict)


def test_the_parameter_table_covers_every_declaration():
    from mlsyslab.params import parameter_table
    table = parameter_table()
    for name in PARAMETERS:
        assert f"`{name}`" in table


def test_the_parameters_page_is_generated_and_fresh(root):
    import importlib.util
    spec = importlib.util.spec_from_file_location("page", root / "scripts" / "make_parameters_page.py")
    page = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(page)
    assert (root / "parameters.qmd").read_text(encoding="utf-8") == page.render(), "run make reference"


def test_a_result_that_overflows_is_refused_with_a_reason():
    """A rate of 1e-308 tokens/s passes every range check but gives an infinite cost: refused."""
    with pytest.raises(ml.MlsyslabError, match="not a finite number"):
        ml.cost_per_million_tokens(3.5, 1e-308)


def test_a_result_marked_feasible_never_carries_a_number_that_is_not_finite():
    from dataclasses import dataclass

    import numpy as np

    from mlsyslab.params import Param, checked

    @dataclass(frozen=True)
    class Result:
        cost: float
        feasible: bool
        reason: str | None = None

    @checked(x=Param("real", "", low=0, high=10))
    def costed(x, feasible=True):
        return Result(cost=np.inf if x > 5 else x, feasible=feasible, reason=None if feasible else "too big")

    assert costed(1.0).cost == 1.0
    assert costed(6.0, feasible=False).cost == np.inf          # infeasible: it says why instead
    with pytest.raises(ml.ValueRangeError, match="cost is not a finite number in a result marked feasible"):
        costed(6.0)


def test_a_split_without_a_network_says_so_instead_of_printing_infinity():
    text = str(ml.disaggregate("llama-3-8b", "l40s", rate=2, prompt_tokens=4000, output_tokens=300))
    assert "inf" not in text.replace("infeasible", "") and "no link" in text
