import json
import subprocess
import sys

import pytest

from mlsyslab.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


SERVE_KEYS = {"feasible", "reason", "ttft_ms", "itl_ms", "e2e_ms", "throughput_tok_s",
              "memory_per_gpu_gb", "memory_fraction", "bottleneck"}


def test_serve_json_contract(capsys):
    code, out, _ = run(capsys, "serve", "--model", "llama-3-8b", "--gpu", "h100-sxm", "--batch", "8",
                       "--prompt", "1024", "--output", "128", "--json")
    data = json.loads(out)
    assert code == 0 and SERVE_KEYS <= set(data)
    assert data["feasible"] is True and data["reason"] is None
    assert data["bottleneck"] == "memory bandwidth" and 0 < data["memory_fraction"] < 1
    assert data["e2e_ms"] == pytest.approx(data["ttft_ms"] + 127 * data["itl_ms"], rel=1e-3)


def test_serve_infeasible_is_reported_not_costed(capsys):
    code, out, _ = run(capsys, "serve", "--model", "llama-3-70b", "--gpu", "h100-sxm", "--json")
    data = json.loads(out)
    assert code == 0 and data["feasible"] is False and "needs 141.1 GB" in data["reason"]
    assert data["itl_ms"] is None and data["throughput_tok_s"] is None


def test_kv_json_contract(capsys):
    code, out, _ = run(capsys, "kv", "--model", "llama-3-8b", "--kv-pool", "60GB", "--context", "8192", "--json")
    data = json.loads(out)
    assert data["bytes_per_token"] == 131072 and data["bytes_per_sequence"] == 131072 * 8192
    assert data["max_sequences"] == 55
    code, out, _ = run(capsys, "kv", "--model", "llama-3-70b", "--gpu", "h100", "--tp", "2", "--json")
    assert json.loads(out)["max_sequences"] > 0
    code, out, _ = run(capsys, "kv", "--model", "llama-3-8b", "--json")
    assert "max_sequences" not in json.loads(out)


def test_tables_and_readable_summaries(capsys):
    assert run(capsys, "models")[1].count("\n") >= 10
    assert "h100-sxm" in run(capsys, "hardware")[1]
    assert "TTFT" in run(capsys, "serve", "--model", "mistral-7b", "--gpu", "l40s")[1]
    assert json.loads(run(capsys, "hardware", "--json")[1])["hardware"][0]["key"]


@pytest.mark.parametrize("argv, fragment", [
    (["serve", "--model", "llama-3-9b", "--gpu", "h100"], "did you mean 'llama-3-8b'"),
    (["serve", "--model", "llama-3-8b", "--gpu", "h1000"], "did you mean"),
    (["serve", "--model", "llama-3-8b", "--gpu", "h100", "--batch", "0"], "argument --batch: must be a whole number >= 1"),
    (["serve", "--model", "llama-3-8b", "--gpu", "h100", "--prompt", "-5"], "argument --prompt: must be a number >= 1"),
    (["serve", "--model", "llama-3-8b", "--gpu", "h100", "--weights", "fp3"], "unknown weight precision"),
    (["serve", "--model", "llama-3-8b", "--gpu", "h100", "--kv", "int4"], "unknown KV-cache precision"),
    (["serve", "--model", "llama-3-8b", "--gpu", "h100", "--tp", "0"], "argument --tp: must be a whole number >= 1"),
    (["kv", "--model", "llama-3-8b", "--kv-pool", "60 s"], "[information]"),
    (["kv", "--model", "llama-3-8b", "--kv-pool=-60GB"], "must be a number > 0"),
    (["kv", "--model", "llama-3-8b", "--kv-pool", "60GB", "--gpu", "h100"], "not both"),
    (["serve", "--gpu", "h100"], "required"),
])
def test_bad_input_exits_2_with_one_line(capsys, argv, fragment):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and fragment in err and err.count("\n") == 1 and "Traceback" not in err


def test_console_script_and_module_entry_points():
    for cmd in (["-m", "mlsyslab", "serve", "--model", "llama-3-9b", "--gpu", "h100"],):
        p = subprocess.run([sys.executable, *cmd], capture_output=True, text=True)
        assert p.returncode == 2 and p.stdout == "" and p.stderr.count("\n") == 1
    p = subprocess.run([sys.executable, "-m", "mlsyslab", "kv", "--model", "llama-3-8b", "--json"],
                       capture_output=True, text=True)
    assert p.returncode == 0 and json.loads(p.stdout)["bytes_per_token"] == 131072


def test_reason_json_contract(capsys):
    code, out, _ = run(capsys, "reason", "--model", "deepseek-r1-distill-llama-70b", "--gpu", "h100-sxm",
                       "--tp", "4", "--steps", "8", "--json")
    data = json.loads(out)
    assert code == 0
    assert {"tokens_generated", "ttft_ms", "latency_ms", "energy_j", "peak_kv_gb", "gpu_seconds",
            "multiplier"} <= set(data)
    assert data["tokens_generated"] == 8 * 256 + 256 and 1 < data["multiplier"] < 8


def test_tco_json_contract(capsys):
    code, out, _ = run(capsys, "tco", "--model", "deepseek-r1-distill-llama-70b", "--gpu", "h100-sxm",
                       "--qps", "100", "--steps", "8", "--slo-itl-ms", "50", "--json")
    data = json.loads(out)
    assert code == 0
    assert {"gpus", "nodes", "batch", "tp", "annual_usd", "usd_per_million_output_tokens",
            "usd_per_query", "feasible", "reason"} <= set(data)
    assert data["feasible"] and data["gpus"] == data["tp"] * data["replicas"]
    # too big for one H100 server: pipeline stages across servers, costed as such
    code, out, _ = run(capsys, "tco", "--model", "frontier-moe", "--gpu", "h100-sxm", "--qps", "10", "--json")
    data = json.loads(out)
    assert data["feasible"] and data["pp"] > 1 and data["nodes"] >= data["pp"] * data["replicas"]
    assert data["gpus"] == data["tp"] * data["pp"] * data["replicas"]
    # the L40S has no scale-out network in the catalog: nothing spans servers, so it cannot run
    code, out, _ = run(capsys, "tco", "--model", "frontier-moe", "--gpu", "l40s", "--qps", "10", "--json")
    data = json.loads(out)
    assert data["feasible"] is False and data["annual_usd"] is None and "needs" in data["reason"]


@pytest.mark.parametrize("argv, fragment", [
    (["reason", "--model", "llama-3-8b", "--gpu", "h100", "--strategy", "bestofn"], "did you mean 'best-of-n'"),
    (["reason", "--model", "llama-3-8b", "--gpu", "h100", "--steps", "0"], "argument --steps: must be a whole number >= 1"),
    (["tco", "--model", "llama-3-8b", "--gpu", "h100", "--qps", "-1"], "must be a number > 0"),
    (["tco", "--model", "llama-3-8b", "--gpu", "h100", "--qps", "1", "--pricing", "free"], "must be one of on-demand"),
    (["tco", "--model", "lama-3-8b", "--gpu", "h100", "--qps", "1"], "did you mean"),
])
def test_reason_and_tco_bad_input(capsys, argv, fragment):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and fragment in err and err.count("\n") == 1


def test_cache_route_goodput_json_contracts(capsys):
    data = json.loads(run(capsys, "cache", "--provider", "anthropic-1h", "--json")[1])
    assert data["breakeven_calls"] == pytest.approx(1.1111, abs=1e-3)               # against not caching
    assert data["rule_of_thumb_breakeven_calls"] == pytest.approx(2.2222, abs=1e-3)
    data = json.loads(run(capsys, "cache", "--provider", "openai", "--rate", "0.01", "--ttl", "300", "--json")[1])
    assert {"breakeven_calls", "hit_rate", "savings_fraction"} <= set(data) and 0 < data["hit_rate"] < 1
    data = json.loads(run(capsys, "route", "replicas", "--replicas", "8", "--policy", "round-robin", "--json")[1])
    assert {"hit_rate", "mean_ttft_ms", "usd_per_query", "gpus"} <= set(data)
    assert data["hit_rate"] == pytest.approx(0.125, abs=0.015)
    data = json.loads(run(capsys, "route", "cascade", "--small", "llama-3-8b", "--large",
                          "deepseek-r1-distill-llama-70b", "--gpu", "h100", "--qps", "50", "--json")[1])
    assert {"hit_rate", "mean_ttft_ms", "usd_per_query", "gpus"} <= set(data) and data["gpus"] > 0
    data = json.loads(run(capsys, "goodput", "--model", "llama-3-8b", "--gpu", "h100", "--rate", "3",
                          "--slo-ttft-ms", "500", "--slo-itl-ms", "20", "--json")[1])
    assert data["goodput_rps"] <= data["throughput_rps"]


@pytest.mark.parametrize("argv, fragment", [
    (["cache", "--provider", "antropic"], "did you mean"),
    (["cache", "--rate", "-1"], "must be a number > 0"),
    (["route", "replicas", "--policy", "random"], "must be one of round-robin"),
    (["route", "cascade", "--small", "llama-3-8b", "--large", "llama-3-70b", "--gpu", "h100", "--qps", "1",
      "--escalation", "2"], "argument --escalation: must be a number >= 0 and <= 1"),
    (["goodput", "--model", "llama-3-8b", "--gpu", "h100", "--rate", "1", "--slo-ttft-ms", "0",
      "--slo-itl-ms", "5"], "must be a number > 0"),
])
def test_issue4_bad_input(capsys, argv, fragment):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and fragment in err and err.count("\n") == 1


def test_load_table_and_json_rows(capsys):
    code, out, _ = run(capsys, "load", "--model", "llama-3-70b", "--gpu", "h100-sxm", "--tp", "4",
                    "--concurrency", "1,5,25,50,100", "--prompt", "2048", "--output", "256")
    assert code == 0 and out.count("\n") >= 6 and "bound by" in out
    rows = json.loads(run(capsys, "load", "--model", "llama-3-8b", "--gpu", "h100", "--rate", "1,1000",
                          "--json")[1])["rows"]
    assert [r["feasible"] for r in rows] == [True, False]
    assert rows[1]["ttft_ms"] is None and "overloaded" in rows[1]["reason"]
    assert {"ttft_ms", "ttft_p99_ms", "itl_ms", "itl_p99_ms", "e2e_ms", "throughput_tok_s", "batch",
            "bottleneck", "feasible", "reason"} <= set(rows[0])


def test_tco_takes_the_slo_flags(capsys):
    data = json.loads(run(capsys, "tco", "--model", "llama-3-8b", "--gpu", "h100", "--qps", "20",
                          "--slo-ttft-ms", "500", "--slo-itl-ms", "30", "--json")[1])
    assert data["feasible"] and data["ttft_p99_ms"] <= 500 and data["itl_ms"] <= 30


def test_fleet_command_sizes_without_costing(capsys):
    data = json.loads(run(capsys, "fleet", "--model", "llama-3-70b", "--gpu", "h100", "--qps", "50",
                          "--slo-itl-ms", "40", "--json")[1])
    assert data["feasible"] and data["gpus"] == data["replicas"] * data["tp"]
    assert data["itl_ms"] <= 40 and data["ttft_p99_ms"] <= 2000 and "annual_usd" not in data
    assert data["slo"] == "p99 TTFT <= 2,000 ms and mean ITL <= 40.0 ms"


def test_the_headless_run_works_end_to_end(tmp_path):
    """`make run` in its short mode: every CLI example and the first notebook, for real."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, str(root / "scripts" / "run_all.py"), "--quick"],
                          capture_output=True, text=True, timeout=600, cwd=root,
                          env={**__import__("os").environ, "MLSYSLAB_STATIC": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert done.stdout.count("$ mlsyslab") >= 15 and "[1/1]" in done.stdout


def test_a_reader_that_stops_early_is_not_an_error():
    # `mlsyslab plan ... --json | head -1` (the ranked candidates are far more than a pipe holds):
    # the closed pipe ends the command quietly, status 0
    proc = subprocess.Popen([sys.executable, "-m", "mlsyslab", "plan", "--model", "llama-3-8b", "--gpu", "h100-sxm",
                             "--rate", "2", "--prompt", "1000", "--output", "300", "--slo-itl-ms", "30", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0 and "internal error" not in err and "Traceback" not in err, err
