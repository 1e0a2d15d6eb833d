"""A problem found in the stored configuration: how bad, in which document, what."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Document(StrEnum):
    """The configuration documents a consistency check reads."""

    ROUTING_RULES = "routing_rules"
    TRAFFIC_WEIGHTS = "traffic_weights"
    FEATURE_FLAGS = "feature_flags"
    ROUTING_OVERRIDE = "routing_override"
    ISOLATION = "isolation"


@dataclass(frozen=True, slots=True)
class Problem:
    severity: Severity
    document: Document
    message: str
