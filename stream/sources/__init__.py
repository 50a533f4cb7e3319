"""Where frames come from: files, cameras, frames pushed from outside, behind one protocol (`base.Source`) and a
registry by kind (`registry.open_source`)."""
from stream.sources.base import (Frame, Source, SourceError, SourceOptions, SourceStatus, VideoBreak, shrink,
                                 until_break)
from stream.sources.file import FileSource, paced, sample_indices
from stream.sources.live import LiveSource, backoff_delay
from stream.sources.push import PushSource
from stream.sources.registry import KINDS, kind_of, open_source, redact, register
from stream.sources.slot import LatestFrame, sample_live

__all__ = ["Frame", "Source", "SourceError", "SourceOptions", "SourceStatus", "VideoBreak", "shrink", "until_break",
           "FileSource", "paced", "sample_indices", "LiveSource", "backoff_delay", "PushSource", "KINDS", "kind_of", "redact",
           "open_source", "register",
           "LatestFrame", "sample_live"]
