"""A model to serve, made on this machine: a Llama-shaped checkpoint with random weights.

The cost of serving is set by the architecture, not by the weights' values: a forward pass of
random weights reads the same bytes and does the same FLOPs as a trained one, and with
``ignore_eos`` every answer has the length asked for. So a small Llama written here from a config
(no download, nothing gated) is a faithful subject for measuring an engine, and
`Model.from_hf_config` reads the very ``config.json`` vLLM serves.

`LOCAL_MODEL` is sized for a laptop's CPU: its 16-bit weights are several times any processor
cache, so a decode step streams them from memory and is bandwidth-bound, while a few-hundred-token
prompt is a fraction of a second of matmuls (`Model.from_hf_config` gives its parameter count and
`Deployment` its bytes); 12 layers, grouped-query attention (12
query and 4 KV heads of 64), a SwiGLU MLP of 2,048 and an 8,192-token vocabulary.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from ..catalog import Model
from ..errors import EngineError, ValueRangeError
from .environment import engine_python

__all__ = ["LOCAL_MODEL", "local_model_config", "write_local_model"]

LOCAL_MODEL = {"layers": 12, "hidden": 768, "heads": 12, "kv_heads": 4, "intermediate": 2048,
               "vocab": 8192, "max_context": 4096}
"""The default shape of `write_local_model` (see the module docstring for why)."""

_SCRIPT = Path(__file__).with_name("make_checkpoint.py")
_CORPUS = Path(__file__).resolve().parents[1]          # the package's own text trains the tokenizer


def local_model_config(*, layers=12, hidden=768, heads=12, kv_heads=4, intermediate=2048, vocab=8192,
                       max_context=4096, dtype="bfloat16") -> dict:
    """The Hugging Face ``config.json`` of a Llama of this shape (``LlamaForCausalLM``).

    >>> from mlsyslab.measure.local_model import LOCAL_MODEL, local_model_config
    >>> round(ml.Model.from_hf_config(local_model_config(**LOCAL_MODEL)).params_b * 1e3)
    88
    """
    for name, v, lo in (("layers", layers, 1), ("hidden", hidden, 64), ("heads", heads, 1),
                        ("kv_heads", kv_heads, 1), ("intermediate", intermediate, 1), ("vocab", vocab, 512),
                        ("max_context", max_context, 128)):
        if not isinstance(v, int) or isinstance(v, bool) or v < lo:
            raise ValueRangeError(f"{name} must be a whole number >= {lo}; got {v!r}")
    if hidden % heads or heads % kv_heads:
        raise ValueRangeError(f"hidden ({hidden}) must divide into heads ({heads}), and heads into kv_heads ({kv_heads})")
    if dtype not in ("bfloat16", "float16", "float32"):
        raise ValueRangeError(f"dtype must be bfloat16, float16 or float32; got {dtype!r}")
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "num_hidden_layers": layers,
            "hidden_size": hidden, "num_attention_heads": heads, "num_key_value_heads": kv_heads,
            "head_dim": hidden // heads, "intermediate_size": intermediate, "vocab_size": vocab,
            "max_position_embeddings": max_context, "hidden_act": "silu", "rms_norm_eps": 1e-5,
            "rope_theta": 500000.0, "tie_word_embeddings": False, "torch_dtype": dtype,
            "initializer_range": 0.02, "bos_token_id": 0, "eos_token_id": 1, "attention_bias": False,
            "mlp_bias": False}


def write_local_model(path, *, seed: int = 0, overwrite: bool = False, timeout_s: float = 300,
                      **shape) -> Model:
    """Write a random-weight Llama checkpoint (config, safetensors, tokenizer) into ``path``.

    ``shape`` overrides `LOCAL_MODEL` (``layers``, ``hidden``, ``heads``, ``kv_heads``,
    ``intermediate``, ``vocab``, ``max_context``, ``dtype``). The weights are drawn by
    transformers' initialiser in the engine environment (`make engine`); the tokenizer is a
    byte-level BPE trained on the package's own source text. An existing checkpoint of the same
    config is kept (pass ``overwrite=True`` to redraw it). Returns the `Model` as
    `Model.from_hf_config` reads it.

    Parameters
    ----------
    path : str or path
        The folder to write (made if missing).
    seed : int
        The random seed of the weights.
    overwrite : bool
        Redraw the weights even where the same checkpoint exists.
    timeout_s : float
        The most seconds writing may take.
    **shape
        Overrides of `LOCAL_MODEL`.

    Returns
    -------
    Model
        The checkpoint's architecture, as the serving model reads it.

    Examples
    --------
    >>> m = ml.write_local_model("local-llama")        # doctest: +SKIP
    >>> round(m.params_b * 1e3)                         # doctest: +SKIP
    88
    """
    config = local_model_config(**{**LOCAL_MODEL, **shape})
    out = Path(path)
    done = out / "model.safetensors"
    if done.exists() and not overwrite:
        try:
            same = json.loads((out / "mlsyslab-config.json").read_text()) == {**config, "seed": seed}
        except (OSError, json.JSONDecodeError):
            same = False
        if same:
            return Model.from_hf_config(out, key="local-llama", name="local Llama (random weights)")
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config, indent=1))
    try:
        subprocess.run([str(engine_python()), str(_SCRIPT), str(out), str(seed), str(_CORPUS)],
                       capture_output=True, text=True, timeout=timeout_s, check=True)
    except subprocess.TimeoutExpired:
        raise EngineError(f"writing the checkpoint took longer than {timeout_s:g} s") from None
    except subprocess.CalledProcessError as exc:
        raise EngineError(f"writing the checkpoint failed: {exc.stderr.strip()[-600:]}") from None
    (out / "mlsyslab-config.json").write_text(json.dumps({**config, "seed": seed}, indent=1))
    return Model.from_hf_config(out, key="local-llama", name="local Llama (random weights)")
