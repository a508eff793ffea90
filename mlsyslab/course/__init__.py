"""The course: helpers for the labs, their figures and their grading.

Predict-then-reveal and explorers (`lab`), the plotting style and figures (`plots`), the
autograder's checks (`grading`) and the comparison with published measurements
(`validation`). It stands on the engine and the catalog; nothing in the models imports it.
"""
from .grading import (
    DEFAULT_REL_TOLERANCE,
    check_answer,
    check_prediction,
    quietly,
)
from .lab import (
    Choice,
    Reveal,
    choose,
    explore,
    fmt,
    is_dropdown,
    reveal,
    say,
    static_mode,
    table,
)
from .plots import (
    PALETTE,
    decode_breakdown,
    frontier,
    new_axes,
    predicted_vs_measured,
    roofline,
    use_style,
)
from .validation import (
    UNSTATED_KV,
    VLLM_DEFAULT_MAX_NUM_SEQS,
    calibration_report,
    compare,
    error_table,
    leave_one_source_out,
    load_measurements,
    predict_row,
    summary_numbers,
    with_factors,
)

__all__ = [
    "check_answer",
    "check_prediction",
    "quietly",
    "DEFAULT_REL_TOLERANCE",
    "reveal",
    "Reveal",
    "choose",
    "Choice",
    "explore",
    "is_dropdown",
    "say",
    "fmt",
    "table",
    "static_mode",
    "PALETTE",
    "use_style",
    "new_axes",
    "roofline",
    "decode_breakdown",
    "frontier",
    "predicted_vs_measured",
    "load_measurements",
    "compare",
    "predict_row",
    "error_table",
    "leave_one_source_out",
    "with_factors",
    "summary_numbers",
    "calibration_report",
    "UNSTATED_KV",
    "VLLM_DEFAULT_MAX_NUM_SEQS",
]
