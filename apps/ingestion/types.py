"""What the ingestion app answers other apps and its API with."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class MappingIssue:
    attribute: str  # the attribute it concerns; "_mapping" for the mapping as a whole
    code: str  # unknown_attribute, invalid_field, expression_not_supported, required_unmapped, ...
    message: str


@dataclass
class MappingReport:
    """A mapping checked against its entity (and a sample of source records):
    what the Data Mapper page shows while the mapping is edited."""

    ok: bool
    errors: list[MappingIssue] = field(default_factory=list)
    warnings: list[MappingIssue] = field(default_factory=list)
    # enum attributes: distinct source values (normalised) neither in the value map nor allowed
    unmapped_values: dict[str, list[str]] = field(default_factory=dict)
    # per mapped attribute over the sample: {"mapped": n, "rejected": n}
    coverage: dict[str, dict[str, int]] = field(default_factory=dict)
