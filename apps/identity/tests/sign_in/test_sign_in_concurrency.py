"""Several first sign-ins of one person at once (tabs, a double click) make
one user and one external identity."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from apps.core.tests.factories import ClientFactory
from apps.identity.models import ExternalIdentity, IdentityProvider
from apps.identity.services.sign_in import sign_in_complete

pytestmark = pytest.mark.django_db(transaction=True)
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OID = "00000000-0000-0000-0000-0000000000aa"


def test_simultaneous_first_sign_ins_make_one_user():
    provider = IdentityProvider.objects.create(
        client=ClientFactory(), name="P", tenant_id=TENANT, application_id="app", allowed_domains=[]
    )
    claims = {"tid": TENANT, "oid": OID, "preferred_username": "ann@contoso.com", "name": "Ann Example"}
    barrier = threading.Barrier(4)

    def first_sign_in(_):
        try:
            barrier.wait()
            return sign_in_complete(provider=provider, claims=claims).user_id
        finally:
            connection.close()

    with ThreadPoolExecutor(4) as pool:
        user_ids = set(pool.map(first_sign_in, range(4)))
    assert len(user_ids) == 1
    assert ExternalIdentity.objects.filter(tenant_id=TENANT, object_id=OID).count() == 1
    assert get_user_model().objects.filter(username__startswith="ann@contoso.com").count() == 1
