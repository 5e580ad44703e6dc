"""Fixtures of the console's view tests: an analyst of a client (`member`,
override it in a module for another role or client) and Django's test
client signed in as them (`console`)."""

import pytest

from apps.core.tests.factories import MembershipFactory


@pytest.fixture
def member():
    return MembershipFactory(is_default=True, role="analyst")


@pytest.fixture
def console(client, member):
    client.force_login(member.user)
    return client
