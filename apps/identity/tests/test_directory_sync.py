"""Directory sync against the Graph stand-in, through the real client code
(requests, tenacity): full listing, paging, deltas, expired delta links,
throttling, server errors, exclusion of concurrent runs, a wrong secret."""

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from apps.identity.graph.client import GraphClient, GraphError, GraphTenant
from apps.identity.models import DirectoryGroup, DirectoryMembership, DirectorySyncState, DirectoryUser
from apps.identity.services.directory import user_group_ids_fetch
from apps.identity.services.directory_sync import sync_lock_key
from apps.identity.tests.conftest import (
    ADMINS,
    ALICE,
    ANALYSTS,
    APP_ID,
    BOB,
    CAROL,
    DAVE,
    ERIN,
    TENANT,
    VIEWERS,
    provider_for,
    sync,
)

pytestmark = pytest.mark.django_db


def _other_session() -> psycopg.Connection:
    """A database session of its own (another worker's), on the test database."""
    params = connection.get_connection_params()
    return psycopg.connect(
        host=params["host"],
        port=params["port"],
        dbname=params["dbname"],
        user=params["user"],
        password=params.get("password"),
        autocommit=True,
    )


def members(group_oid: str) -> set[str]:
    return set(DirectoryMembership.objects.filter(group__object_id=group_oid).values_list("user__object_id", flat=True))


def active_users() -> set[str]:
    return set(DirectoryUser.objects.filter(removed_at__isnull=True).values_list("object_id", flat=True))


def test_first_sync_lists_everything_page_by_page_and_stores_the_delta_links(provider, graph):
    run = sync(provider)

    assert run.status == "succeeded", run.error
    assert run.mode == "full" and run.phase == "done"
    assert active_users() == {ALICE, BOB, CAROL, DAVE}
    alice = DirectoryUser.objects.get(object_id=ALICE)
    assert alice.display_name == "Alice Analyst" and alice.user_principal_name == "alice@contoso.example"
    assert alice.attributes == {"department": "Finance", "country": "NL"}
    assert DirectoryUser.objects.get(object_id=CAROL).mail == ""  # Graph's null
    assert set(DirectoryGroup.objects.values_list("display_name", flat=True)) == {
        "KPI Analysts",
        "KPI Admins",
        "KPI Viewers",
    }
    assert members(ANALYSTS) == {ALICE, BOB} and members(VIEWERS) == {ALICE, BOB, CAROL, DAVE}
    # 4 users and 3 groups by 2 a page: the nextLinks were followed to the end.
    assert run.pages_read == 4
    assert sum("$skiptoken=" in path for _, path in graph.requests) == 2
    assert run.counts["users_upserted"] == 4 and run.counts["groups_upserted"] == 3
    assert run.counts["memberships_added"] == 7
    state = DirectorySyncState.objects.get(provider=provider)
    assert "$deltatoken=" in state.users_delta_link and "/users/delta" in state.users_delta_link
    assert "$deltatoken=" in state.groups_delta_link and "/groups/delta" in state.groups_delta_link
    assert state.last_full_sync_at is not None
    # The $select the docs name was asked for; memberships come from selecting `members`
    # (Graph's group delta: `$select=...,members`; it has no $expand).
    first_users = next(path for _, path in graph.requests if path.startswith("/v1.0/users/delta"))
    assert "$select=id,displayName,userPrincipalName,mail,accountEnabled,department,country,jobTitle" in first_users
    first_groups = next(path for _, path in graph.requests if path.startswith("/v1.0/groups/delta"))
    assert "$select=displayName,description,members" in first_groups and "$expand" not in first_groups


def test_the_next_run_reads_only_the_changes_from_the_delta_link(provider, graph):
    sync(provider)
    graph.user_put({"id": ERIN, "displayName": "Erin New", "userPrincipalName": "erin@contoso.example"})
    graph.user_put({"id": BOB, "department": "Marketing", "jobTitle": "Lead"})  # an update
    graph.user_delete(CAROL)
    graph.member_remove(ANALYSTS, ALICE)
    graph.member_add(ADMINS, ERIN)
    graph.group_put({"id": "9f000000-0000-4000-8000-00000000beef", "displayName": "New group", "members": [DAVE]})
    graph.group_delete(VIEWERS)
    graph.requests.clear()

    run = sync(provider)

    assert run.status == "succeeded", run.error
    assert run.mode == "delta"
    assert all("$deltatoken=" in path or "$skiptoken=" in path for _, path in graph.requests)
    assert active_users() == {ALICE, BOB, DAVE, ERIN}
    assert DirectoryUser.objects.get(object_id=CAROL).removed_at is not None
    bob = DirectoryUser.objects.get(object_id=BOB)
    assert bob.attributes == {"department": "Marketing", "country": "DE", "jobTitle": "Lead"}
    assert bob.display_name == "Bob Builder"  # kept: the update carried other fields
    assert members(ANALYSTS) == {BOB}
    assert members(ADMINS) == {ERIN}  # Carol's membership went with her (members@delta @removed)
    assert DirectoryGroup.objects.get(object_id=VIEWERS).removed_at is not None
    assert members("9f000000-0000-4000-8000-00000000beef") == {DAVE}
    assert run.counts["users_removed"] == 1 and run.counts["groups_removed"] == 1
    assert run.counts["memberships_removed"] >= 2


def test_a_run_without_changes_changes_nothing(provider, graph):
    sync(provider)
    before = list(DirectoryMembership.objects.order_by("pk").values_list("pk", "group_id", "user_id"))

    run = sync(provider)

    assert run.status == "succeeded"
    assert run.counts["users_upserted"] == 0 and run.counts["memberships_added"] == 0
    assert list(DirectoryMembership.objects.order_by("pk").values_list("pk", "group_id", "user_id")) == before


def test_an_expired_delta_link_means_a_full_listing_that_marks_what_is_gone(provider, graph):
    sync(provider)
    graph.expire_delta_tokens()
    graph.user_delete(DAVE)
    graph.member_remove(ANALYSTS, BOB)
    graph.group_delete(ADMINS)

    run = sync(provider)

    assert run.status == "succeeded", run.error
    assert run.mode == "full" and run.counts["resyncs"] == 2  # users and groups
    assert active_users() == {ALICE, BOB, CAROL}
    assert DirectoryUser.objects.get(object_id=DAVE).removed_at is not None
    assert DirectoryGroup.objects.get(object_id=ADMINS).removed_at is not None
    assert members(ANALYSTS) == {ALICE}
    # And the new delta links work again.
    assert sync(provider).mode == "delta"


def test_throttling_is_waited_out_and_the_run_goes_on(provider, graph):
    graph.throttle(3)

    run = sync(provider)

    assert run.status == "succeeded", run.error
    assert run.counts["throttled"] == 3
    assert active_users() == {ALICE, BOB, CAROL, DAVE}


def test_the_client_waits_what_retry_after_says_up_to_the_cap(graph, settings):
    settings.AE_GRAPH_RETRY_AFTER_MAX_SECONDS = 120
    waits: list[float] = []
    client = GraphClient(GraphTenant(graph.url, TENANT, APP_ID, graph.client_secret, graph.url), sleep=waits.append)
    graph.throttle(2)
    assert "value" in client.get("/v1.0/users/delta")
    assert waits == [1.0, 1.0]  # the stand-in's Retry-After: 1

    settings.AE_GRAPH_RETRY_AFTER_MAX_SECONDS = 0.25
    waits.clear()
    graph.throttle(1)
    client.get("/v1.0/users/delta")
    assert waits == [0.25]


def test_throttling_past_the_attempts_fails_the_run_saying_so(provider, graph):
    graph.throttle(100)

    run = sync(provider)

    assert run.status == "failed"
    assert "429" in run.error and f"after {settings.AE_GRAPH_MAX_ATTEMPTS} attempts" in run.error
    assert not DirectorySyncState.objects.filter(provider=provider).exclude(users_delta_link="").exists()


def test_server_errors_are_retried(provider, graph):
    graph.fail(2)

    run = sync(provider)

    assert run.status == "succeeded", run.error
    assert active_users() == {ALICE, BOB, CAROL, DAVE}


def test_a_second_run_of_the_same_provider_is_skipped_while_one_is_in_progress(provider, graph):
    # Another session (another worker) holds the provider's sync lock.
    with _other_session() as other:
        other.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [sync_lock_key(provider.pk)])
        run = sync(provider)
        assert run.status == "skipped"
        assert "in progress" in run.error
        assert not any(path.startswith("/v1.0/") for _, path in graph.requests)
    # Released: the next run goes.
    assert sync(provider).status == "succeeded"


def test_a_wrong_client_secret_fails_the_run_with_a_clear_error(tenant_client, graph):
    provider = provider_for(tenant_client, graph, secret="not-the-secret")

    run = sync(provider)

    assert run.status == "failed"
    assert "invalid_client" in run.error and "client secret" in run.error
    assert "AADSTS7000215" in run.error
    assert "not-the-secret" not in run.error
    assert not DirectoryUser.objects.exists()


def test_a_wrong_tenant_fails_the_run_naming_the_tenant(tenant_client, graph):
    provider = provider_for(tenant_client, graph, tenant="00000000-0000-4000-8000-000000000000")

    run = sync(provider)

    assert run.status == "failed" and "check the tenant id" in run.error


def test_the_app_only_token_is_reused_and_renewed_when_graph_refuses_it(provider, graph):
    sync(provider)
    sync(provider)
    assert graph.token_requests == 1

    graph.tokens.clear()  # Graph no longer accepts the cached token
    assert sync(provider).status == "succeeded"
    assert graph.token_requests == 2


def test_a_request_without_our_token_is_refused_by_the_standin(graph):
    import requests

    answer = requests.get(f"{graph.url}/v1.0/users/delta", headers={"Authorization": "Bearer forged"}, timeout=5)
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_group_overage_lookup_returns_the_users_group_ids(provider, graph):
    assert user_group_ids_fetch(provider_id=provider.pk, object_id=ALICE) == sorted([ANALYSTS, VIEWERS])
    assert user_group_ids_fetch(provider_id=provider.pk, object_id=CAROL) == sorted([ADMINS, VIEWERS])
    with pytest.raises(GraphError, match="404"):
        user_group_ids_fetch(provider_id=provider.pk, object_id=ERIN)


def test_links_outside_the_graph_base_url_are_not_followed(graph):
    client = GraphClient(GraphTenant(graph.url, TENANT, APP_ID, graph.client_secret, graph.url))
    with pytest.raises(GraphError, match="outside"):
        client.get("http://graph.evil.example/v1.0/users/delta?$skiptoken=x")
    assert graph.token_requests == 0  # not even a token was asked for, let alone sent


def test_stale_runs_are_closed_so_they_do_not_hold_the_provider_back(provider, graph):
    from apps.identity.models import DirectorySyncRun
    from apps.identity.services.directory_sync import directory_sync_runs_stale_close

    dead = DirectorySyncRun.objects.create(client=provider.client, provider=provider, status="running")
    assert directory_sync_runs_stale_close() == 1
    dead.refresh_from_db()
    assert dead.status == "failed" and "worker was lost" in dead.error

    alive = DirectorySyncRun.objects.create(client=provider.client, provider=provider, status="running")
    with _other_session() as other:
        other.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [sync_lock_key(provider.pk)])
        assert directory_sync_runs_stale_close() == 0
    alive.refresh_from_db()
    assert alive.status == "running"
