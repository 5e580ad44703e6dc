"""Ontology metadata GETs: ETag and 304, cached in the real Redis per client,
per version of its definitions and per caller's role."""

import logging
import signal

import pytest
from django.apps import apps
from django.db import connection, transaction
from rest_framework.test import APIClient

from apps.core.api import response_cache
from apps.core.tests.factories import ClientFactory, MembershipFactory
from apps.core.tests.waiting import wait_until
from apps.ontology import models as m
from apps.ontology.api.artifact_views import OntologyUMLView
from apps.ontology.api.views import DefinitionViewSet
from apps.ontology.selectors import definitions_version
from apps.ontology.tests.conftest import MEMBER, POLICY_SNAPSHOT

pytestmark = pytest.mark.django_db
BASE = "/api/v1/ontology/"
ENTITIES = BASE + "entities/"
UML = BASE + "graph/uml"


def _client_for(membership) -> APIClient:
    api = APIClient()
    api.force_authenticate(membership.user)
    return api


@pytest.fixture
def ontology(analyst_client):
    assert analyst_client.post(ENTITIES, POLICY_SNAPSHOT, format="json").status_code == 201
    metric = {"code": "active", "name": "Active", "formula": "COUNT(policy_id)", "entity": "policy_snapshot"}
    assert analyst_client.post(BASE + "metrics/", metric, format="json").status_code == 201
    return analyst_client


def test_a_repeated_get_is_served_from_the_cache_with_the_same_body_and_etag(ontology):
    first = ontology.get(ENTITIES)
    second = ontology.get(ENTITIES)

    assert first.status_code == second.status_code == 200
    assert (first["X-Cache"], second["X-Cache"]) == ("miss", "hit")
    assert second.content == first.content and second["Content-Type"] == first["Content-Type"]
    assert second.json()["results"][0]["code"] == "policy_snapshot"
    assert first["ETag"] == second["ETag"] and first["ETag"].startswith('"')
    assert set(first["Cache-Control"].split(", ")) == {"private", "no-cache"}
    vary = {v.strip().lower() for v in second["Vary"].split(",")}
    assert {"accept", "authorization", "cookie", "x-client"} <= vary


@pytest.mark.parametrize(
    "header",
    ["{etag}", "W/{etag}", '"0000", {etag}', "*"],
    ids=["exact", "weak", "one-of-several", "star"],
)
def test_if_none_match_with_the_current_etag_answers_304_without_a_body(ontology, header):
    etag = ontology.get(ENTITIES + "policy_snapshot/")["ETag"]

    for _ in range(2):  # computed (miss) and replayed (hit) alike
        response = ontology.get(ENTITIES + "policy_snapshot/", HTTP_IF_NONE_MATCH=header.format(etag=etag))
        assert response.status_code == 304
        assert response.content == b""
        assert response["ETag"] == etag and "no-cache" in response["Cache-Control"]


def test_head_answers_like_get_without_the_body(ontology):
    etag = ontology.get(UML)["ETag"]

    head = ontology.head(UML)

    assert head.status_code == 200 and head["ETag"] == etag and head["X-Cache"] == "hit"
    assert ontology.head(UML, HTTP_IF_NONE_MATCH=etag).status_code == 304


def test_if_none_match_with_another_etag_answers_200_with_the_body(ontology):
    response = ontology.get(ENTITIES + "policy_snapshot/", HTTP_IF_NONE_MATCH='"0000", W/"1111"')

    assert response.status_code == 200
    assert response.json()["code"] == "policy_snapshot"


def _renamed_through_the_api(api):
    assert api.patch(ENTITIES + "policy_snapshot/", {"name": "Renamed"}, format="json").status_code == 200


def _renamed_by_a_bulk_update(api):
    # No service, no save(), no signal: the database itself counts the change.
    m.EntityDefinition.objects.filter(code="policy_snapshot").update(name="Renamed")


def _attribute_renamed_in_sql(api):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ontology_attributedefinition SET name = 'Renamed' WHERE code = 'lob'")


def _linked_to_a_new_use_case(api):
    case = {"code": "renamed", "name": "Renamed", "entities": ["policy_snapshot"], "metrics": ["active"]}
    assert api.post(BASE + "use-cases/", case, format="json").status_code == 201


def _metric_deleted(api):
    assert api.delete(BASE + "metrics/active/").status_code == 204


def _reverted(api):
    history = api.get(ENTITIES + "policy_snapshot/history/").json()
    _renamed_through_the_api(api)
    assert api.post(ENTITIES + f"policy_snapshot/history/{history[0]['id']}/revert/").status_code == 200


@pytest.mark.parametrize(
    "change",
    [
        _renamed_through_the_api,
        _renamed_by_a_bulk_update,
        _attribute_renamed_in_sql,
        _linked_to_a_new_use_case,
        _metric_deleted,
        _reverted,
    ],
)
@pytest.mark.parametrize(
    "url", [ENTITIES, ENTITIES + "policy_snapshot/", BASE + "metrics/", BASE + "use-cases/", UML + "?format=json"]
)
def test_any_definition_change_makes_the_next_get_compute_afresh(ontology, change, url):
    ontology.get(url)
    assert ontology.get(url)["X-Cache"] == "hit"

    change(ontology)

    assert ontology.get(url)["X-Cache"] == "miss"


def test_after_a_change_the_old_etag_no_longer_matches_and_the_body_shows_it(ontology):
    before = ontology.get(UML)
    assert ontology.get(UML, HTTP_IF_NONE_MATCH=before["ETag"]).status_code == 304

    _renamed_through_the_api(ontology)
    ontology.post(ENTITIES, MEMBER, format="json")
    after = ontology.get(UML, HTTP_IF_NONE_MATCH=before["ETag"])

    assert after.status_code == 200 and after["ETag"] != before["ETag"]
    assert "E_member" in after.content.decode() and "E_member" not in before.content.decode()
    assert ontology.get(ENTITIES + "policy_snapshot/").json()["name"] == "Renamed"


def test_never_served_across_clients(db):
    one = MembershipFactory(role="analyst", is_default=True)
    other = MembershipFactory(role="analyst", is_default=True)
    api_one, api_other = _client_for(one), _client_for(other)
    api_one.post(ENTITIES, POLICY_SNAPSHOT, format="json")
    api_other.post(ENTITIES, {**POLICY_SNAPSHOT, "name": "Their snapshot"}, format="json")
    # The same path at the same definitions version: only the client tells them apart.
    assert definitions_version(client_id=one.client_id) == definitions_version(client_id=other.client_id)
    assert api_one.get(ENTITIES)["X-Cache"] == "miss" and api_one.get(ENTITIES)["X-Cache"] == "hit"

    answer = api_other.get(ENTITIES)

    assert answer["X-Cache"] == "miss"
    assert [e["name"] for e in answer.json()["results"]] == ["Their snapshot"]
    assert [e["name"] for e in api_one.get(ENTITIES).json()["results"]] == ["Policy snapshot"]


def test_one_member_of_two_clients_gets_each_clients_answer_by_x_client(db):
    first = MembershipFactory(role="analyst", is_default=True)
    second = MembershipFactory(user=first.user, role="analyst", client=ClientFactory())
    api = _client_for(first)
    api.post(ENTITIES, POLICY_SNAPSHOT, format="json", HTTP_X_CLIENT=first.client.code)
    api.post(ENTITIES, MEMBER, format="json", HTTP_X_CLIENT=second.client.code)

    for _ in range(2):  # cold, then from the cache
        codes = {
            client.code: [e["code"] for e in api.get(ENTITIES, HTTP_X_CLIENT=client.code).json()["results"]]
            for client in (first.client, second.client)
        }
        assert codes == {first.client.code: ["policy_snapshot"], second.client.code: ["member"]}


def test_each_role_has_its_own_cache_entry_and_a_role_change_moves_it(analyst, ontology):
    viewer = MembershipFactory(client=analyst.client, role="viewer", is_default=True)
    api_viewer = _client_for(viewer)
    assert ontology.get(ENTITIES)["X-Cache"] == "miss" and ontology.get(ENTITIES)["X-Cache"] == "hit"

    as_viewer = api_viewer.get(ENTITIES)
    assert as_viewer["X-Cache"] == "miss"  # the analyst's entry is not the viewer's
    assert api_viewer.get(ENTITIES)["X-Cache"] == "hit"
    assert as_viewer.content == ontology.get(ENTITIES).content  # today both roles see the same definitions

    viewer.role = "admin"
    viewer.save(update_fields=["role"])
    assert api_viewer.get(ENTITIES)["X-Cache"] == "miss"


def test_uml_formats_and_query_strings_are_cached_apart(ontology):
    plantuml, graph = ontology.get(UML), ontology.get(UML + "?format=json")
    assert plantuml["Content-Type"].startswith("text/plain") and graph["Content-Type"] == "application/json"
    assert plantuml["ETag"] != graph["ETag"]

    again = ontology.get(UML + "?format=json")
    assert again["X-Cache"] == "hit" and again.json() == graph.json()
    assert ontology.get(UML, HTTP_ACCEPT="application/json").json() == graph.json()
    paged = ontology.get(BASE + "metrics/?page_size=1&page=1")
    assert paged["X-Cache"] == "miss"
    assert ontology.get(BASE + "metrics/?page=1&page_size=1")["X-Cache"] == "hit"  # same parameters, any order
    assert ontology.get(BASE + "metrics/?tag=a&tag=b")["X-Cache"] == "miss"
    assert ontology.get(BASE + "metrics/?tag=b&tag=a")["X-Cache"] == "miss"  # a parameter's values keep their order


def test_pagination_links_follow_the_host_they_were_asked_on(ontology):
    ontology.post(ENTITIES, MEMBER, format="json")

    on_testserver = ontology.get(ENTITIES + "?page_size=1").json()["next"]
    on_localhost = ontology.get(ENTITIES + "?page_size=1", HTTP_HOST="localhost").json()["next"]

    assert on_testserver.startswith("http://testserver/") and on_localhost.startswith("http://localhost/")


def test_errors_history_and_the_browsable_api_are_not_cached(ontology):
    missing = ontology.get(ENTITIES + "nope/")
    assert missing.status_code == 404 and "X-Cache" not in missing and "ETag" not in missing
    assert "X-Cache" not in ontology.get(ENTITIES + "policy_snapshot/history/")
    assert "X-Cache" not in ontology.get(ENTITIES, HTTP_ACCEPT="text/html")
    assert ontology.get(UML + "?format=svg").status_code == 400


def test_a_ttl_of_zero_caches_nothing_but_still_revalidates(ontology, settings):
    settings.ONTOLOGY_METADATA_CACHE_TTL = 0

    first, second = ontology.get(ENTITIES), ontology.get(ENTITIES)

    assert first["X-Cache"] == second["X-Cache"] == "off"
    assert ontology.get(ENTITIES, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304


def test_a_caller_the_view_refuses_is_refused_before_the_cache(ontology, analyst):
    assert ontology.get(ENTITIES)["X-Cache"] == "miss"
    outsider = _client_for(MembershipFactory(role="analyst", is_default=True))

    refused = outsider.get(ENTITIES, HTTP_X_CLIENT=analyst.client.code)

    assert refused.status_code == 403 and "policy_snapshot" not in refused.content.decode()
    assert APIClient().get(ENTITIES).status_code == 401


def test_the_version_moves_once_per_row_written_and_not_for_a_rollback(analyst):
    client_id = analyst.client_id
    start = definitions_version(client_id=client_id)
    _client_for(analyst).post(ENTITIES, MEMBER, format="json")
    created = definitions_version(client_id=client_id)
    assert created > start

    with pytest.raises(RuntimeError), transaction.atomic():
        m.EntityDefinition.objects.filter(client_id=client_id).update(name="Gone")
        raise RuntimeError

    assert definitions_version(client_id=client_id) == created
    assert definitions_version(client_id=ClientFactory().pk) == 0


def test_every_definition_table_counts_its_changes():
    """A definition model (or link table) added later without the trigger
    would serve stale metadata: this names it."""
    not_definitions = {m.DataLoad, m.DriftReport, m.DefinitionChange}
    # A client's configuration is not metadata: no definition answer shows it (docs/client-config.md).
    not_definitions |= {
        m.ClientConfig,
        m.ClientConfig.inactive_metrics.through,
        m.ClientConfig.inactive_value_chains.through,
    }
    tables = {
        model._meta.db_table
        for model in apps.get_app_config("ontology").get_models(include_auto_created=True)
        if model not in not_definitions
    }
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = 'ontology_definition_change' AND NOT t.tgisinternal"
        )
        triggered = {row[0] for row in cursor.fetchall()}

    assert tables - triggered == set()
    assert len(tables) == 15


@pytest.fixture
def cache_on_private_redis(private_redis, settings, monkeypatch):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": private_redis.url,
            "KEY_PREFIX": "ae-test",
            # A paused Redis is noticed by the client's timeout (how long is the
            # deployment's choice); the cache then leaves it alone for a while.
            "OPTIONS": {"socket_timeout": 0.5, "socket_connect_timeout": 0.5},
        }
    }
    # The rate limiter keeps its counters in the same cache; its own failing
    # open is another part's concern (issue #15, "login"), not this test's.
    for view in (DefinitionViewSet, OntologyUMLView):
        monkeypatch.setattr(view, "throttle_classes", [])
    return private_redis


def test_with_redis_away_answers_are_computed_and_revalidated_and_the_outage_logged_once(
    ontology, cache_on_private_redis, caplog, monkeypatch
):
    cached = ontology.get(ENTITIES)
    assert (cached["X-Cache"], ontology.get(ENTITIES)["X-Cache"]) == ("miss", "hit")

    cache_on_private_redis.kill()
    with caplog.at_level(logging.WARNING, logger="apps.core.api.response_cache"):
        answers = [ontology.get(url) for url in (ENTITIES, ENTITIES, UML, ENTITIES + "policy_snapshot/")]
        revalidated = ontology.get(ENTITIES, HTTP_IF_NONE_MATCH=cached["ETag"])

    assert [a.status_code for a in answers] == [200, 200, 200, 200]
    assert {a["X-Cache"] for a in answers} == {"off"}
    assert answers[0].content == cached.content and answers[0]["ETag"] == cached["ETag"]
    assert revalidated.status_code == 304
    outage_logs = [r for r in caplog.records if "response cache unavailable" in r.getMessage()]
    assert len(outage_logs) == 1

    cache_on_private_redis.start()
    monkeypatch.setattr(response_cache, "RETRY_AFTER_FAILURE_SECONDS", 0)
    # back in use once Redis answers again
    wait_until(lambda: ontology.get(ENTITIES)["X-Cache"] == "hit", what="a cache hit", timeout=30, interval=0.2)


def test_with_redis_paused_answers_are_computed_and_the_cache_is_left_alone_for_a_while(
    ontology, cache_on_private_redis, caplog, monkeypatch
):
    monkeypatch.setattr(response_cache, "RETRY_AFTER_FAILURE_SECONDS", 3600)
    assert ontology.get(BASE + "metrics/")["X-Cache"] == "miss"

    cache_on_private_redis.process.send_signal(signal.SIGSTOP)
    try:
        with caplog.at_level(logging.WARNING, logger="apps.core.api.response_cache"):
            answers = [ontology.get(BASE + "metrics/") for _ in range(3)]
    finally:
        cache_on_private_redis.process.send_signal(signal.SIGCONT)

    assert [(a.status_code, a["X-Cache"]) for a in answers] == [(200, "off")] * 3
    assert answers[0].json()["results"][0]["code"] == "active"
    assert len([r for r in caplog.records if "response cache unavailable" in r.getMessage()]) == 1
    # Redis answers again, but after a failure the cache is not asked (no
    # request pays a timeout each) until the retry delay has passed.
    assert ontology.get(BASE + "metrics/")["X-Cache"] == "off"
    monkeypatch.setattr(response_cache, "RETRY_AFTER_FAILURE_SECONDS", 0)
    assert ontology.get(BASE + "metrics/")["X-Cache"] == "hit"
