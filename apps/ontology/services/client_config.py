"""Changing a client's configuration (docs/client-config.md). One service,
`client_config_update`: every field is checked first (a bad one is a 400
naming it, nothing changed), then the row is changed and, when anything that
matters to other layers changed, `client_config.changed` is written to the
outbox in the same transaction (apps/ontology/publishers.py)."""

import functools
import re
import zoneinfo
from collections.abc import Iterable

from django.db import transaction

from apps.core.errors import AppError
from apps.core.selectors import client_code_for_id
from apps.ontology import models as m
from apps.ontology.iso_codes import CURRENCIES, LANGUAGES, REGIONS, SCRIPTS
from apps.ontology.publishers import client_config_changed_publish
from apps.ontology.selectors.client_config import client_config_row, client_config_view, inactive_kpis_of
from apps.ontology.types.client_config import FEATURES, ClientConfigChangedV1, ClientConfigView

# language[-Script][-REGION]: en, en-US, zh-Hant-TW, es-419 (a BCP 47 tag's common parts).
_LOCALE = re.compile(r"^(?P<language>[a-z]{2})(-(?P<script>[A-Z][a-z]{3}))?(-(?P<region>[A-Z]{2}|[0-9]{3}))?$")


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def locale_problem(value: str) -> str | None:
    match = _LOCALE.match(value)
    if match is None:
        return f"{value!r} is not a locale tag such as 'en-US', 'de', 'zh-Hant-TW' or 'es-419'."
    if match["language"] not in LANGUAGES:
        return f"{match['language']!r} is not an ISO 639-1 language code."
    if match["script"] and match["script"] not in SCRIPTS:
        return f"{match['script']!r} is not an ISO 15924 script code."
    region = match["region"]
    if region and not region.isdigit() and region not in REGIONS:
        return f"{region!r} is not an ISO 3166-1 country code."
    return None


def _codes_problem(given: Iterable[str], known: set[str], what: str) -> str | None:
    unknown = sorted(set(given) - known)
    if unknown:
        return f"Unknown {what} for this client: {', '.join(unknown)}."
    return None


def _problems(
    *,
    client_id: int,
    active_value_chains: list[str] | None,
    active_kpis: list[str] | None,
    default_locale: str | None,
    time_zone: str | None,
    currency: str | None,
    features: dict | None,
) -> dict[str, str]:
    problems: dict[str, str] = {}
    if active_value_chains is not None:
        known = set(m.ValueChainPatternDefinition.objects.filter(client_id=client_id).values_list("code", flat=True))
        if problem := _codes_problem(active_value_chains, known, "value chains"):
            problems["active_value_chains"] = problem
    if active_kpis is not None:
        known = set(m.MetricDefinition.objects.filter(client_id=client_id).values_list("code", flat=True))
        if problem := _codes_problem(active_kpis, known, "KPI codes"):
            problems["active_kpis"] = problem
    if default_locale is not None and (problem := locale_problem(default_locale)):
        problems["default_locale"] = problem
    if time_zone is not None and time_zone not in _time_zones():
        problems["time_zone"] = f"{time_zone!r} is not an IANA time zone such as 'Europe/Paris' or 'UTC'."
    if currency is not None and currency not in CURRENCIES:
        problems["currency"] = f"{currency!r} is not an ISO 4217 currency code such as 'EUR' or 'USD'."
    if features is not None:
        unknown = sorted(set(features) - set(FEATURES))
        not_bool = sorted(name for name, value in features.items() if name in FEATURES and not isinstance(value, bool))
        if unknown:
            problems["features"] = (
                f"Unknown feature switch: {', '.join(unknown)}; the switches are {', '.join(sorted(FEATURES))}."
            )
        elif not_bool:
            problems["features"] = f"A feature switch is true or false: {', '.join(not_bool)}."
    return problems


@transaction.atomic
def client_config_update(
    *,
    client_id: int,
    active_value_chains: list[str] | None = None,
    active_kpis: list[str] | None = None,
    default_locale: str | None = None,
    time_zone: str | None = None,
    currency: str | None = None,
    features: dict[str, bool] | None = None,
) -> ClientConfigView:
    """Change what is given (None: unchanged). `active_value_chains` and
    `active_kpis` are the whole active sets: the client's other value chains
    and KPIs are switched off; a KPI or value chain defined later starts
    active. `features` changes only the switches it names. Every problem is
    reported at once (AppError 400, `details` by field); on success the
    configuration as it now is."""
    problems = _problems(
        client_id=client_id,
        active_value_chains=active_value_chains,
        active_kpis=active_kpis,
        default_locale=default_locale,
        time_zone=time_zone,
        currency=currency,
        features=features,
    )
    if problems:
        raise AppError(
            "Invalid client configuration: " + " ".join(f"{field}: {text}" for field, text in problems.items()),
            code="invalid_client_config",
            details=problems,
        )
    config = client_config_row(client_id=client_id, lock=True)
    before_kpis = {kpi.code for kpi in inactive_kpis_of(config)}
    before_chains = set(config.inactive_value_chains.values_list("code", flat=True))
    before_features = {name: bool(config.features.get(name, f.default)) for name, f in FEATURES.items()}
    defaults_changed = []
    for name, value in (("default_locale", default_locale), ("time_zone", time_zone), ("currency", currency)):
        if value is not None and getattr(config, name) != value:
            setattr(config, name, value)
            defaults_changed.append(name)
    if features:
        config.features = {**config.features, **features}
    config.save()
    if active_value_chains is not None:
        config.inactive_value_chains.set(
            m.ValueChainPatternDefinition.objects.filter(client_id=client_id).exclude(code__in=active_value_chains)
        )
    if active_kpis is not None:
        config.inactive_metrics.set(
            m.MetricDefinition.objects.filter(client_id=client_id).exclude(code__in=active_kpis)
        )
    after_kpis = {kpi.code for kpi in inactive_kpis_of(config)}
    after_chains = set(config.inactive_value_chains.values_list("code", flat=True))
    after_features = {name: bool(config.features.get(name, f.default)) for name, f in FEATURES.items()}
    change = ClientConfigChangedV1(
        kpis_deactivated=sorted(after_kpis - before_kpis),
        kpis_reactivated=sorted(before_kpis - after_kpis),
        value_chains_deactivated=sorted(after_chains - before_chains),
        value_chains_reactivated=sorted(before_chains - after_chains),
        features={name: value for name, value in after_features.items() if before_features[name] != value},
        defaults=defaults_changed,
    )
    if change != ClientConfigChangedV1():
        client_config_changed_publish(client_code=client_code_for_id(client_id=client_id), change=change)
    return client_config_view(config)
