import pytest

from apps.core.tests.factories import MembershipFactory

POLICY_SNAPSHOT = {
    "code": "policy_snapshot",
    "name": "Policy snapshot",
    "kind": "time_series",
    "time_attribute": "snapshot_date",
    "attributes": [
        {"code": "snapshot_date", "data_type": "date", "nullable": False},
        {"code": "policy_id", "data_type": "string", "nullable": False},
        {"code": "status", "data_type": "string", "enum_values": ["Active", "Terminated"]},
        {"code": "start_date", "data_type": "date"},
        {"code": "lob", "data_type": "string"},
        {"code": "member_id", "data_type": "string"},
    ],
}
MEMBER = {
    "code": "member",
    "name": "Member",
    "kind": "reference",
    "attributes": [
        {"code": "member_id", "data_type": "string", "nullable": False},
        {"code": "region", "data_type": "string"},
        {"code": "birth_year", "data_type": "integer"},
    ],
}


@pytest.fixture
def analyst(db):
    return MembershipFactory(role="analyst", is_default=True)


@pytest.fixture
def analyst_client(api_client, analyst):
    api_client.force_authenticate(analyst.user)
    return api_client
