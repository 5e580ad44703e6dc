"""The operations every source adapter offers. An adapter is made for one
connection (its kind, settings and decrypted credentials) and lives for one
operation; it never logs or returns a credential."""

from dataclasses import dataclass, field
from typing import Any

from apps.connectors.types import Extraction, ExtractRequest, Preview, SourceObject, TestOutcome


@dataclass(frozen=True)
class ConnectionSpec:
    kind: str
    settings: dict[str, Any]
    credentials: dict[str, Any] = field(default_factory=dict, repr=False)
    key: str = ""  # what the circuit breaker is keyed on: "<client id>:<connection code>"


class Adapter:
    def __init__(self, spec: ConnectionSpec) -> None:
        self.spec = spec

    @classmethod
    def validate_settings(cls, settings: dict[str, Any], credentials: dict[str, Any]) -> None:
        """Refuse (AppError naming the field) settings or credentials this kind
        cannot use; called before a connection is saved. Accepts anything by
        default; adapters of a kind with rules override it."""

    def test(self) -> TestOutcome:
        raise NotImplementedError

    def discover(self) -> list[SourceObject]:
        raise NotImplementedError

    def preview(self, *, source_object: str = "", source_query: str = "", limit: int) -> Preview:
        raise NotImplementedError

    def extract(self, request: ExtractRequest) -> Extraction:
        raise NotImplementedError
