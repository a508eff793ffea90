"""Measure, then model: a real engine on this machine, measured as a GPU server is measured.

- `measure_host`: this machine's sustained bandwidth and matmul rate, as an `Accelerator`;
- `write_local_model`: a Llama-shaped checkpoint with random weights, made here;
- `VLLMServer`: ``vllm serve`` on 127.0.0.1, started and stopped by process id;
- `measure_serving`: ``vllm bench serve`` sweeps (closed loop and Poisson) as a tidy frame;
- `compare_to_model`, `fit_efficiency`: the model's prediction of the same benchmark beside each
  measurement, and the few factors refitted on one's own data;
- `stored_measurement`: the sweep shipped with the course (Lab 9 where no server runs);
- `check_vllm_command`, `check_sglang_command`: a launch command parsed by the engine's own parser.

The engine lives in its own environment (`make engine`); nothing here imports vLLM.
"""

from .compare import compare_to_model, fit_efficiency
from .engine_args import (
           check_sglang_command,
           check_sglang_commands,
           check_vllm_command,
           check_vllm_commands,
)
from .environment import ENGINE_INSTALL, engine_support
from .host import HostMeasurement, measure_host
from .local_model import LOCAL_MODEL, write_local_model
from .server import VLLMServer
from .stored import (
           SWEEP,
           StoredMeasurement,
           measure_this_machine,
           save_measurement,
           stored_measurement,
)
from .sweep import MEASURED_COLUMNS, benchmark_of, measure_serving

__all__ = ["ENGINE_INSTALL", "LOCAL_MODEL", "MEASURED_COLUMNS", "HostMeasurement", "StoredMeasurement",
           "VLLMServer", "benchmark_of", "check_sglang_command", "check_sglang_commands", "check_vllm_command", "check_vllm_commands", "compare_to_model",
           "engine_support", "fit_efficiency", "measure_host", "measure_serving", "measure_this_machine",
           "save_measurement", "stored_measurement", "SWEEP",
           "write_local_model"]
