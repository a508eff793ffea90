"""Long work shows progress where someone watches, and is bounded."""

import pytest

import mlsyslab as ml
from mlsyslab import progress


@pytest.mark.parametrize("env, shown", [({"MLSYSLAB_PROGRESS": "1"}, True), ({"MLSYSLAB_PROGRESS": "0"}, False),
                                        ({"MLSYSLAB_STATIC": "1"}, False)])
def test_bars_follow_the_environment(monkeypatch, env, shown):
    monkeypatch.delenv("MLSYSLAB_PROGRESS", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert progress.enabled() is shown


def test_a_long_simulation_shows_a_bar_and_a_static_run_shows_none(monkeypatch, capsys):
    kw = dict(rate=20, requests=40_000, prompt_tokens=500, output_tokens=200, seed=1)
    monkeypatch.setenv("MLSYSLAB_PROGRESS", "1")
    watched = ml.simulate("llama-3-8b", "h100-sxm", **kw)         # about 4 s: past the bar's delay
    assert "simulate" in capsys.readouterr().err
    monkeypatch.setenv("MLSYSLAB_PROGRESS", "0")
    quiet = ml.simulate("llama-3-8b", "h100-sxm", **kw)
    assert capsys.readouterr().err == ""
    assert quiet.ttft_p99_s == watched.ttft_p99_s                 # the bar changes nothing it reports


def test_simulate_is_bounded_and_says_what_to_do_instead():
    from mlsyslab.engine.simulation import MAX_SIMULATION_S, estimated_seconds

    assert estimated_seconds(50_000, 200) < MAX_SIMULATION_S < estimated_seconds(1_000_000, 200)
    with pytest.raises(ml.ValueRangeError, match="analytic load"):
        ml.simulate("llama-3-8b", "h100-sxm", rate=20, requests=1_000_000, output_tokens=200)


def test_plan_is_bounded_and_names_what_to_search_less_of():
    work = ml.Workload(rate=1, prompt_tokens=500, output_tokens=200)
    with pytest.raises(ml.ValueRangeError, match="bounded to"):
        ml.plan("llama-3-8b", workload=work, slo=ml.SLO(ttft_ms=2000, itl_ms=50),
                max_batch=list(range(1, 5001)))
