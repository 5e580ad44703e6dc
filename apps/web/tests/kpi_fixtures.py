"""Rows and groupings for the KPI pages' tests: the insurer ontology of
ontology_fixtures.py with a few days of policy snapshots, loaded through the
ontology's data-load service, and a value chain made through the API."""

from datetime import timedelta

from django.utils import timezone

from apps.core.tests.waiting import day_clear
from apps.ontology import selectors
from apps.ontology.services.data_load import entity_rows_load

DAYS = 3


def snapshot_rows() -> list[dict]:
    """Per day (today and the two before): p1..p3 Active, p4 Terminated; p3
    started on the last day (a new policy)."""
    day_clear()  # the pages' "last 30 days" end on the same today
    today = timezone.now().date()
    rows = []
    for back in range(DAYS):
        day = today - timedelta(days=back)
        for policy, status in (("p1", "Active"), ("p2", "Active"), ("p3", "Active"), ("p4", "Terminated")):
            start = today + timedelta(days=1) if policy == "p3" else today - timedelta(days=400)
            rows.append(
                {
                    "snapshot_date": day.isoformat(),
                    "policy_id": policy,
                    "status": status,
                    "start_date": start.isoformat(),
                    "member_id": "m1",
                }
            )
    return rows


def history_rows(days: int = 30) -> list[dict]:
    """A month of a growing book, for pages that should look lived-in: each
    day some policies Active (their number wanders), a few Terminated, and
    a handful new."""
    day_clear()  # the pages' "last 30 days" end on the same today
    today = timezone.now().date()
    rows = []
    for back in range(days):
        day = today - timedelta(days=back)
        active = 40 + (days - back) + (back * 7) % 9
        for number in range(active + 6):
            status = "Active" if number < active else "Terminated"
            new = number >= active - 3 - back % 3 and status == "Active"
            start = day + timedelta(days=1) if new else today - timedelta(days=400)
            rows.append(
                {
                    "snapshot_date": day.isoformat(),
                    "policy_id": f"p{number}",
                    "status": status,
                    "start_date": start.isoformat(),
                    "member_id": f"m{number % 7}",
                }
            )
    return rows


def snapshots_load(client_id: int, *, rows: list[dict] | None = None) -> None:
    entity = selectors.entity(client_id=client_id, code="policy_snapshot")
    entity_rows_load(entity=entity, rows=rows if rows is not None else snapshot_rows())


def value_chain_create(api_client, user, *, code: str, name: str, industry: str, metrics: list[str]) -> None:
    api_client.force_authenticate(user)
    response = api_client.post(
        "/api/v1/ontology/value-chains/",
        {"code": code, "name": name, "industry": industry, "metrics": metrics},
        format="json",
    )
    assert response.status_code == 201, response.content
