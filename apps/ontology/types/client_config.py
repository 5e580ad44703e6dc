"""What a client's configuration (docs/client-config.md) looks like to other
apps: the read model `apps.ontology.selectors.client_config` returns, the
feature switches there are, the event a change publishes, and the error a
read of a deactivated KPI raises."""

from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel

from apps.core.errors import Conflict


@dataclass(frozen=True)
class Feature:
    name: str
    default: bool
    description: str


# The switches there are: each is honoured somewhere (named in its
# description); a switch nothing reads does not belong here.
FEATURES: dict[str, Feature] = {
    f.name: f
    for f in (
        Feature(
            "live_recalculation",
            True,
            "After a load, recalculate, record and push the KPIs it feeds (apps/calculations/events.py, "
            "docs/live.md). Off: the client's KPIs are computed when read.",
        ),
        Feature(
            "simulations",
            True,
            "Start demo-data simulation runs (API and console; apps/simulation/services.py). Off: starting one "
            "answers 409.",
        ),
    )
}


@dataclass(frozen=True)
class InactiveKpi:
    """A KPI that is not active for the client, and why: switched off itself
    (`deactivated`), or held only by value chains that are switched off
    (`value_chain`, naming them)."""

    code: str
    reason: str  # "deactivated" | "value_chain"
    value_chains: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        if self.reason == "value_chain":
            chains = ", ".join(repr(c) for c in self.value_chains)
            return f"KPI {self.code!r} is deactivated for this client (its value chain {chains} is inactive)."
        return f"KPI {self.code!r} is deactivated for this client."


@dataclass(frozen=True)
class ClientConfigView:
    client_id: int
    active_value_chains: tuple[str, ...]
    inactive_value_chains: tuple[str, ...]
    active_kpis: tuple[str, ...]  # the KPIs not switched off themselves
    inactive_kpis: tuple[InactiveKpi, ...]  # every KPI not active for reads, with the reason
    default_locale: str
    time_zone: str
    currency: str
    features: dict[str, bool] = field(hash=False)  # every switch, with its value for this client
    updated_at: datetime | None = None

    def inactive(self, code: str) -> InactiveKpi | None:
        return next((kpi for kpi in self.inactive_kpis if kpi.code == code), None)


class KpiDeactivated(Conflict):
    """A read of a KPI that is not active for the client (409)."""

    code = "kpi_deactivated"

    def __init__(self, kpi: InactiveKpi) -> None:
        super().__init__(
            kpi.message, details={"kpi": kpi.code, "reason": kpi.reason, "value_chains": list(kpi.value_chains)}
        )


# The event a change publishes (publishers.py), for the layers above to follow.
CLIENT_CONFIG_CHANGED = "client_config.changed"


class ClientConfigChangedV1(BaseModel):
    """Payload of `client_config.changed` (version 1). The KPI lists are the
    change in what is active for reads, value chains included: a KPI whose
    value chain was switched off is in `kpis_deactivated`."""

    kpis_deactivated: list[str] = []
    kpis_reactivated: list[str] = []
    value_chains_deactivated: list[str] = []
    value_chains_reactivated: list[str] = []
    features: dict[str, bool] = {}  # the switches that changed, with their new value
    defaults: list[str] = []  # which of default_locale, time_zone, currency changed
