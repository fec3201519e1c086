"""Episode recorder: a Gymnasium wrapper writing one raw multi-agent trace per episode (DESIGN section 6),
the versioned trace schema, and a typed reader."""

from sandbox.recorder.reader import TraceFormatError, iter_traces, parse_trace, read_traces, trace_files
from sandbox.recorder.schema import (
    SCHEMA_VERSION,
    SUPPORTED_VERSIONS,
    EpisodeTrace,
    StepRecord,
    TraceEvent,
    TraceRole,
)
from sandbox.recorder.wrapper import EpisodeRecorder, append_trace

__all__ = [
    "SCHEMA_VERSION",
    "SUPPORTED_VERSIONS",
    "EpisodeRecorder",
    "EpisodeTrace",
    "StepRecord",
    "TraceEvent",
    "TraceFormatError",
    "TraceRole",
    "append_trace",
    "iter_traces",
    "parse_trace",
    "read_traces",
    "trace_files",
]
