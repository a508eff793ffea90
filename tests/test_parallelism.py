"""Pipeline and expert parallelism, and disaggregated prefill/decode: the physics, by invariant
and by hand-computed values."""

import dataclasses
import math

import numpy as np
import pytest

import mlsyslab as ml
from mlsyslab.catalog.hardware import LINKS
from mlsyslab.engine.deployment import Deployment

NVLINK_P2P = LINKS["nvlink4"].p2p_latency_us
NETWORK_P2P = LINKS["network"].p2p_latency_us

R1 = dict(weights="fp8", kv="fp8")


# --- pipeline parallelism -----------------------------------------------------------------------

def test_pp_splits_weights_and_kv_by_stage_and_counts_gpus_and_servers():
    one = Deployment("llama-3-70b", "h100-sxm", tp=4)
    two = Deployment("llama-3-70b", "h100-sxm", tp=4, pp=2)
    assert two.gpus == 8 and two.servers == 1 and one.gpus == 4
    assert two.weight_bytes_per_gpu == pytest.approx(one.weight_bytes_per_gpu / 2)   # 80 layers / 2
    assert two.kv_bytes_per_token_per_gpu == pytest.approx(one.kv_bytes_per_token_per_gpu / 2)
    odd = Deployment("llama-3-70b", "h100-sxm", tp=4, pp=3)          # 80 = 27 + 27 + 26 layers
    assert odd.stage_share == pytest.approx(27 / 80)
    assert odd.weight_bytes_per_gpu == pytest.approx(one.weight_bytes_per_gpu * 27 / 80)


def test_a_model_too_big_for_one_server_fits_across_two():
    tp8 = Deployment("deepseek-r1", "h100-sxm", tp=8, **R1)
    assert not tp8.weights_fit()
    assert "tp=8 x pp=2" in tp8.memory_reasons(1, 4096)
    pp2 = Deployment("deepseek-r1", "h100-sxm", tp=8, pp=2, **R1)
    assert pp2.weights_fit() and pp2.gpus == 16 and pp2.servers == 2
    r = ml.serve("deepseek-r1", "h100-sxm", tp=8, pp=2, batch=32, prompt_tokens=1000,
                 output_tokens=1000, **R1)
    assert r.feasible and r.gpus == 16
    assert r.throughput_per_gpu_tok_s == pytest.approx(r.throughput_tok_s / 16)


def test_the_pipeline_bubble_one_sequence_gains_nothing_and_idles_the_other_stages():
    """At batch 1 a token crosses every stage in turn: the round is the whole model's pass on one
    tensor-parallel group (plus the sends), so per-GPU throughput halves with two stages."""
    one = Deployment("llama-3-70b", "h100-sxm", tp=4)
    two = Deployment("llama-3-70b", "h100-sxm", tp=4, pp=2)
    send = NVLINK_P2P * 1e-6 + 2 * 8192 * 2 / 4 / (450e9 * two.efficiency.interconnect)
    assert two.step_seconds(1, 2048) == pytest.approx(one.step_seconds(1, 2048) + send, rel=1e-9)


def test_with_as_many_micro_batches_as_stages_pp_matches_tp_groups_per_gpu():
    """At a large batch every stage is busy: pp=2 x tp=4 does the work of two tp=4 replicas at
    half the batch each, so tokens per GPU-second match within the cost of the sends."""
    one = Deployment("llama-3-70b", "h100-sxm", tp=4)
    two = Deployment("llama-3-70b", "h100-sxm", tp=4, pp=2)
    B = 256
    per_gpu_one = (B / 2) / one.step_seconds(B / 2, 2048) / 4
    per_gpu_two = B / two.step_seconds(B, 2048) / 8
    assert per_gpu_two == pytest.approx(per_gpu_one, rel=0.02)
    assert per_gpu_two < per_gpu_one                     # the sends are not free


def test_stages_across_servers_use_the_network_and_more_network_is_never_slower():
    dep = Deployment("deepseek-r1", "h100-sxm", tp=8, pp=2, **R1)
    hw = dep.hardware
    fast = dataclasses.replace(hw, scale_out_gb_s=hw.scale_out_gb_s * 8)
    dep_fast = Deployment("deepseek-r1", fast, tp=8, pp=2, **R1)
    B = np.array([1.0, 16, 256])
    slow_t, fast_t = dep.step_seconds(B, 4096), dep_fast.step_seconds(B, 4096)
    assert np.all(fast_t <= slow_t) and np.any(fast_t < slow_t)
    # the one boundary crosses servers: its latency is the network's
    assert dep.forward.p2p_fixed == pytest.approx(NETWORK_P2P * 1e-6)


def test_pp_refused_across_servers_without_a_network_and_beyond_the_layers():
    with pytest.raises(ml.ValueRangeError, match="no network"):
        Deployment("llama-3-70b", "l40s", tp=8, pp=2)
    with pytest.raises(ml.ValueRangeError, match="pp must be"):
        Deployment("llama-3-8b", "h100-sxm", pp=33)


# --- expert parallelism -------------------------------------------------------------------------

def test_ep_places_whole_experts_and_replicates_the_dense_part_per_group():
    m = ml.model("deepseek-r1")
    dep = Deployment(m, "h100-sxm", tp=1, ep=16, **R1)
    assert dep.gpus == 16 and dep.attention_groups == 16 and dep.servers == 2
    vocab = m.vocabulary_params                   # 16-bit; the body at fp8 with its block scales
    body = (m.non_expert_params - vocab) * ml.catalog.BYTES_PER_WEIGHT["fp8"] + vocab * 2
    expected = body + m.routed_expert_params_total * ml.catalog.BYTES_PER_WEIGHT["fp8"] / 16
    assert dep.weight_bytes_per_gpu == pytest.approx(expected)
    # MLA's latent is on every rank of a group; 16 groups share the sequences
    assert dep.kv_bytes_per_token_per_gpu == pytest.approx(m.kv_elements_per_token / 16)


def test_all_to_all_bytes_per_token_by_hand():
    """Dispatch + combine: each GPU sends its T/ep tokens' k copies of the hidden state (16-bit),
    the share (ep-1)/ep leaving it, in every MoE layer."""
    m = ml.model("deepseek-r1")
    dep = Deployment(m, "h100-sxm", tp=8, ep=8, **R1)                 # one server: NVLink
    f = dep.forward
    link = 450e9 * dep.efficiency.interconnect
    per_token = 2 * m.moe_layers * m.experts_per_token * m.hidden * 2 * (8 - 1) / 8 / 8 / link
    assert f.a2a_per_tok == pytest.approx(per_token)
    assert f.a2a_fixed == pytest.approx(2 * m.moe_layers * NVLINK_P2P * 1e-6)


def test_expert_skew_never_helps_and_crossing_servers_costs_all_to_all_time():
    base = Deployment("deepseek-r1", "h100-sxm", tp=8, ep=16, **R1)
    hot = Deployment("deepseek-r1", "h100-sxm", tp=8, ep=16, expert_skew=2.0, **R1)
    B = np.array([1.0, 64, 1024])
    assert np.all(hot.step_seconds(B, 2048) >= base.step_seconds(B, 2048))
    # decode reads every local expert anyway (memory-bound): skew bites where experts compute,
    # in a prefill pass of many tokens
    assert hot.step_seconds(0, 0, 65536, 1024) > base.step_seconds(0, 0, 65536, 1024) * 1.05
    inside = Deployment("deepseek-r1", "h200", tp=8, ep=8, **R1).forward
    across = Deployment("deepseek-r1", "h200", tp=8, ep=16, **R1).forward
    # 16 GPUs over two servers: half the traffic crosses the 50 GB/s network, not 450 GB/s NVLink
    assert across.a2a_per_tok > inside.a2a_per_tok * 2


def test_ep_refuses_dense_models_and_bad_layouts():
    with pytest.raises(ml.ValueRangeError, match="dense"):
        Deployment("llama-3-70b", "h100-sxm", tp=8, ep=8)
    with pytest.raises(ml.ValueRangeError, match="multiple of tp"):
        Deployment("deepseek-r1", "h200", tp=8, ep=12, **R1)
    with pytest.raises(ml.ValueRangeError, match="expert_skew"):
        Deployment("deepseek-r1", "h200", tp=8, ep=8, expert_skew=0.5, **R1)


def test_a_pipeline_round_is_one_groups_pass_at_a_micro_batch_plus_the_sends():
    """pp=2 at 64 decoding sequences: two micro-batches of 32; the round is the tp=4 group's pass
    over 32 tokens (its overhead counted once) plus one send of 32 tokens' hidden state over NVLink."""
    one = Deployment("llama-3-70b", "h100-sxm", tp=4)
    two = Deployment("llama-3-70b", "h100-sxm", tp=4, pp=2)              # 80 layers: 40 + 40
    over = one.efficiency.step_overhead_ms * 1e-3
    send = NVLINK_P2P * 1e-6 + 32 * 2 * 8192 * 2 / 4 / (450e9 * one.efficiency.interconnect)
    expected = (float(one.step_seconds(32, 2048)) - over) + send + over
    assert float(two.step_seconds(64, 2048)) == pytest.approx(expected, rel=1e-12)
    # and with prefill in the pass, the same holds token for token
    expected = (float(one.step_seconds(16, 2048, 2048, 1024)) - over) + NVLINK_P2P * 1e-6 \
        + (16 + 2048) * 2 * 8192 * 2 / 4 / (450e9 * one.efficiency.interconnect) + over
    assert float(two.step_seconds(32, 2048, 4096, 1024)) == pytest.approx(expected, rel=1e-12)


# --- fleets across servers ----------------------------------------------------------------------

def test_fleet_costs_deepseek_on_h100_across_two_servers():
    f = ml.fleet("deepseek-r1", "h100-sxm", qps=2, prompt_tokens=1000, output_tokens=1000, **R1)
    assert f.feasible and (f.tp, f.pp) == (8, 2) and f.gpus == 16 * f.replicas
    assert f.nodes == 2 * f.replicas
    h200 = ml.fleet("deepseek-r1", "h200", qps=2, prompt_tokens=1000, output_tokens=1000, **R1)
    assert h200.feasible and h200.pp == 1 and h200.gpus == 8


# --- disaggregated prefill and decode -------------------------------------------------------------

LONG = dict(rate=4, prompt_tokens=8000, output_tokens=300, slo_ttft_ms=2000, weights="fp8", kv="fp8")


def test_kv_transfer_by_hand():
    r = ml.disaggregate("llama-3.1-70b", "h100-sxm", slo_itl_ms=30, **LONG)
    m = ml.model("llama-3.1-70b")
    kv = 2 * m.layers * m.kv_heads * m.head_dim * 1 * 8000                 # fp8: 1 byte
    assert r.kv_bytes_per_request == pytest.approx(kv)
    eff = ml.calibrated_efficiency("h100-sxm").interconnect
    t = NETWORK_P2P * 1e-6 + kv / (r.prefill.tp * 50e9 * eff)
    assert r.kv_transfer_s == pytest.approx(t)
    assert r.link_utilisation == pytest.approx(4 * kv / (r.prefill.gpus * 50e9 * eff))


TIGHT = {**LONG, "rate": 8, "slo_itl_ms": 20}     # 8K-token prompts under a 20 ms ITL target


def test_split_wins_for_long_prompts_under_a_tight_itl_target():
    r = ml.disaggregate("llama-3.1-70b", "h100-sxm", **TIGHT)
    assert r.choice == "split" and r.split_gpus < r.colocated.gpus and r.saving > 0
    assert r.decode.itl_s * 1e3 <= 20 and r.prefill.ttft_p99_s + r.kv_transfer_s <= 2.0
    # a looser ITL target lets the colocated pool batch more: the split no longer pays
    assert ml.disaggregate("llama-3.1-70b", "h100-sxm", **{**TIGHT, "slo_itl_ms": 30}).choice == "colocated"


def test_split_loses_for_short_prompts_and_without_an_itl_target():
    short = ml.disaggregate("llama-3.1-8b", "h100-sxm", rate=10, prompt_tokens=300, output_tokens=300,
                            slo_ttft_ms=2000, slo_itl_ms=15, weights="fp8", kv="fp8")
    assert short.choice == "colocated" and short.split_gpus > short.colocated.gpus
    loose = ml.disaggregate("llama-3.1-70b", "h100-sxm", **LONG)
    assert loose.choice == "colocated"


def test_a_slow_link_turns_the_split_down():
    fast = ml.disaggregate("llama-3.1-70b", "h100-sxm", **TIGHT)
    slow = ml.disaggregate("llama-3.1-70b", "h100-sxm", link_gb_s=0.2, **TIGHT)
    assert fast.choice == "split" and slow.choice == "colocated"
    assert slow.kv_transfer_s > fast.kv_transfer_s * 100
    assert "KV" in slow.reason or "transfer" in slow.reason or "moving" in slow.reason
    assert math.isfinite(slow.summary()["kv_transfer_ms"])


def test_reasoning_across_servers_counts_every_gpu_of_the_pipeline():
    one = ml.reason("llama-3-70b", "h100-sxm", tp=4, steps=2)
    two = ml.reason("llama-3-70b", "h100-sxm", tp=4, pp=2, steps=2)
    assert one.feasible and two.feasible
    # the same work on twice the GPUs, each token through both stages: more GPU-seconds, more energy
    assert two.energy_j > 1.5 * one.energy_j and two.gpus == 8
    assert two.itl_start_s == pytest.approx(one.itl_start_s, rel=0.01)   # batch 1: the bubble
    r1 = ml.reason("deepseek-r1", "h100-sxm", tp=8, pp=2, steps=2, weights="fp8", kv="fp8")
    assert r1.feasible


def test_the_all_to_all_waits_for_the_busiest_gpu():
    """Routing skew concentrates the dispatch on one GPU, which receives skew x the mean (and
    sends it back in the combine): expert-parallel communication grows with the skew, linearly
    (the all-reduces do not change)."""
    import mlsyslab as ml

    def comm(skew, ep):
        d = ml.Deployment("deepseek-r1", "h100-sxm", tp=8, ep=ep, expert_skew=skew, weights="fp8", kv="fp8")
        return float(d.step_time(decode_tokens=256, decode_context=1500).communication_s)

    c = [comm(s, 16) for s in (1.0, 2.0, 3.0)]
    assert c[0] < c[1] < c[2]
    assert c[2] - c[1] == pytest.approx(c[1] - c[0], rel=1e-6)
