"""From raw traces to training data: reflective internalization (offline and LLM rewriters), the sample
validator, trajectory filters with reasons, ensemble-teacher selection, and the export chat templates render."""

from harness.distill.ensemble import SelectMode, select_teachers
from harness.distill.export import ExportOptions, export_sample, push_dataset, write_dataset, write_file
from harness.distill.filters import Candidate, Decision, DropReason, FilterConfig, apply_filters, score_of
from harness.distill.internalize import Internalized, TrainingSample, internalize, strip_supervisor_text
from harness.distill.lessons import Lesson, anchors, reflect
from harness.distill.pipeline import DistillReport, build_candidates, distill, rewrite_kept, write_samples
from harness.distill.rewrite import LLMRewriter, RewriteRecord, check_rewrite, rewrite_traces
from harness.distill.schema import simplify_schema, simplify_tools
from harness.distill.validate import Issue, SampleValidationError, check_sample, validate_sample

__all__ = [
    "Candidate",
    "Decision",
    "DistillReport",
    "DropReason",
    "ExportOptions",
    "FilterConfig",
    "Internalized",
    "Issue",
    "LLMRewriter",
    "Lesson",
    "RewriteRecord",
    "SampleValidationError",
    "SelectMode",
    "TrainingSample",
    "anchors",
    "apply_filters",
    "build_candidates",
    "check_rewrite",
    "check_sample",
    "distill",
    "export_sample",
    "internalize",
    "push_dataset",
    "reflect",
    "rewrite_kept",
    "rewrite_traces",
    "score_of",
    "select_teachers",
    "simplify_schema",
    "simplify_tools",
    "strip_supervisor_text",
    "validate_sample",
    "write_dataset",
    "write_file",
    "write_samples",
]
