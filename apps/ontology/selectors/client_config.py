"""Reads of a client's configuration (docs/client-config.md): the whole of it
as a dataclass, which KPIs are inactive for reads (and why), whether a
feature is switched on. Cheap enough to call on every read of a KPI: three
small queries."""

from apps.ontology import models as m
from apps.ontology.types.client_config import FEATURES, ClientConfigView, InactiveKpi, KpiDeactivated


def client_config_row(*, client_id: int, lock: bool = False) -> m.ClientConfig:
    """The client's row. The migration's trigger creates it with the client;
    get_or_create only covers a row removed by hand."""
    rows = m.ClientConfig.objects.select_for_update() if lock else m.ClientConfig.objects
    config, _ = rows.get_or_create(client_id=client_id)
    return config


def inactive_kpis_of(config: m.ClientConfig) -> tuple[InactiveKpi, ...]:
    switched_off = set(config.inactive_metrics.values_list("code", flat=True))
    inactive_chains = set(config.inactive_value_chains.values_list("code", flat=True))
    chains_of: dict[str, set[str]] = {}
    if inactive_chains:
        through = m.ValueChainPatternDefinition.metrics.through
        for metric, chain in through.objects.filter(
            valuechainpatterndefinition__client_id=config.client_id
        ).values_list("metricdefinition__code", "valuechainpatterndefinition__code"):
            chains_of.setdefault(metric, set()).add(chain)
    found = []
    for code in sorted(switched_off | set(chains_of)):
        if code in switched_off:
            found.append(InactiveKpi(code=code, reason="deactivated"))
        elif chains_of[code] <= inactive_chains:  # every value chain holding it is off
            found.append(InactiveKpi(code=code, reason="value_chain", value_chains=tuple(sorted(chains_of[code]))))
    return tuple(found)


def kpis_inactive(*, client_id: int) -> dict[str, InactiveKpi]:
    """The client's KPIs that are not active for reads, by code: those switched
    off, and those whose value chains are all switched off (a KPI held by one
    active value chain stays active)."""
    # A read never writes: a client without its row (one deleted since the
    # work was queued) has nothing switched off.
    config = m.ClientConfig.objects.filter(client_id=client_id).first()
    return {} if config is None else {kpi.code: kpi for kpi in inactive_kpis_of(config)}


def kpi_active_require(*, client_id: int, code: str) -> None:
    """Raise KpiDeactivated (409, "KPI X is deactivated for this client") when
    the KPI is not active for the client; an unknown code passes (the caller's
    own lookup answers 404 for it)."""
    inactive = kpis_inactive(client_id=client_id).get(code)
    if inactive is not None:
        raise KpiDeactivated(inactive)


def feature_enabled(*, client_id: int, name: str) -> bool:
    """Whether the client has the switch on (its default when never set)."""
    feature = FEATURES[name]  # a KeyError here is a programming error: switches are a fixed set
    features = m.ClientConfig.objects.filter(client_id=client_id).values_list("features", flat=True).first()
    return bool((features or {}).get(name, feature.default))


def client_config_view(config: m.ClientConfig) -> ClientConfigView:
    client_id = config.client_id
    chains = list(m.ValueChainPatternDefinition.objects.filter(client_id=client_id).values_list("code", flat=True))
    inactive_chains = set(config.inactive_value_chains.values_list("code", flat=True))
    kpis = list(m.MetricDefinition.objects.filter(client_id=config.client_id).values_list("code", flat=True))
    switched_off = set(config.inactive_metrics.values_list("code", flat=True))
    return ClientConfigView(
        client_id=config.client_id,
        active_value_chains=tuple(sorted(c for c in chains if c not in inactive_chains)),
        inactive_value_chains=tuple(sorted(inactive_chains)),
        active_kpis=tuple(sorted(k for k in kpis if k not in switched_off)),
        inactive_kpis=inactive_kpis_of(config),
        default_locale=config.default_locale,
        time_zone=config.time_zone,
        currency=config.currency,
        features={name: bool(config.features.get(name, f.default)) for name, f in FEATURES.items()},
        updated_at=config.updated_at,
    )


def client_config_get(*, client_id: int) -> ClientConfigView:
    """The client's whole configuration."""
    return client_config_view(client_config_row(client_id=client_id))
