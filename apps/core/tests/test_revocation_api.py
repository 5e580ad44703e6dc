"""Token revocation over the API (docs/api.md "Revocation"): rotation with a
deny list, logout, and every event that revokes a user's tokens."""

import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from apps.core.models import Membership
from apps.core.services import membership_revoke, membership_role_set, tokens_flush_expired
from apps.core.tests.assertions import assert_error
from apps.core.tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "pass-word-123"


def _login(user, password=PASSWORD) -> dict:
    response = APIClient().post("/api/v1/auth/token/", {"username": user.username, "password": password})
    assert response.status_code == 200, response.content
    return response.json()


def _refresh(refresh: str):
    return APIClient().post("/api/v1/auth/token/refresh/", {"refresh": refresh}, format="json")


def _me(access: str, client_code: str | None = None) -> int:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    headers = {"HTTP_X_CLIENT": client_code} if client_code else {}
    return api.get("/api/v1/me/", **headers).status_code


def _assert_revoked(tokens: dict) -> None:
    assert _me(tokens["access"]) == 401
    response = _refresh(tokens["refresh"])
    assert_error(response, 401)


@pytest.fixture
def member():
    return MembershipFactory(is_default=True)


def test_refresh_rotates_and_a_used_refresh_token_is_refused(member):
    tokens = _login(member.user)
    first = _refresh(tokens["refresh"])
    assert first.status_code == 200
    assert set(first.json()) == {"access", "refresh"}
    assert first.json()["refresh"] != tokens["refresh"]

    again = _refresh(tokens["refresh"])
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "token_not_valid"

    # The rotated one works, once.
    assert _me(first.json()["access"]) == 200
    assert _refresh(first.json()["refresh"]).status_code == 200
    assert _refresh(first.json()["refresh"]).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_one_refresh_token_presented_twice_at_once_refreshes_once(member):
    tokens = _login(member.user)
    barrier = threading.Barrier(4)
    statuses = []

    def refresh():
        try:
            barrier.wait()
            statuses.append(_refresh(tokens["refresh"]).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=refresh) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 401, 401, 401]


def test_password_change_revokes_access_and_refresh_tokens(member):
    user = member.user
    tokens = _login(user)
    user.set_password("a-new-pass-word-456")
    user.save()
    _assert_revoked(tokens)
    assert _me(_login(user, "a-new-pass-word-456")["access"]) == 200


def test_password_change_through_the_admin_form_revokes_tokens(member, client):
    user = member.user
    tokens = _login(user)
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    response = client.post(
        f"/admin/auth/user/{user.pk}/password/",
        {"password1": "admin-set-pass-789", "password2": "admin-set-pass-789", "usable_password": "true"},
    )
    assert response.status_code == 302, response.content
    _assert_revoked(tokens)


def test_logout_refuses_the_refresh_token_and_all_revokes_every_token(member):
    phone, laptop = _login(member.user), _login(member.user)
    api = APIClient()
    assert api.post("/api/v1/auth/logout/", {"refresh": phone["refresh"]}, format="json").status_code == 204
    assert _refresh(phone["refresh"]).status_code == 401
    assert api.post("/api/v1/auth/logout/", {"refresh": phone["refresh"]}, format="json").status_code == 401
    assert _me(laptop["access"]) == 200  # one device's logout leaves the others

    response = api.post("/api/v1/auth/logout/", {"refresh": laptop["refresh"], "all": True}, format="json")
    assert response.status_code == 204
    _assert_revoked(laptop)
    assert _me(phone["access"]) == 401
    # Signing in again right away works (no same-second ambiguity).
    assert _me(_login(member.user)["access"]) == 200


def test_logout_with_garbage_is_401_in_the_error_shape(db):
    response = APIClient().post("/api/v1/auth/logout/", {"refresh": "not-a-token"}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"
    assert APIClient().post("/api/v1/auth/logout/", {}, format="json").status_code == 400


def test_deactivation_revokes_tokens_and_reactivation_does_not_revive_them(member):
    user = member.user
    tokens = _login(user)
    user.is_active = False
    user.save()
    _assert_revoked(tokens)
    user.is_active = True
    user.save()
    _assert_revoked(tokens)


def test_removing_the_last_membership_revokes_the_users_tokens(member):
    tokens = _login(member.user)
    membership_revoke(membership=member)
    _assert_revoked(tokens)


def test_removing_one_of_two_memberships_closes_that_client_only(member):
    other = MembershipFactory(user=member.user)
    tokens = _login(member.user)
    membership_revoke(membership=other)
    assert _me(tokens["access"], other.client.code) == 403
    assert _me(tokens["access"], member.client.code) == 200
    assert _refresh(tokens["refresh"]).status_code == 200


def test_role_change_takes_effect_on_the_next_request(member):
    tokens = _login(member.user)
    membership_role_set(membership=member, role=Membership.Role.VIEWER)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert api.get("/api/v1/me/").json()["client"]["role"] == "viewer"


def test_admin_membership_delete_and_bulk_delete_go_through_the_service(member, client):
    second = MembershipFactory(is_default=True)
    tokens, second_tokens = _login(member.user), _login(second.user)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.post(f"/admin/core/membership/{member.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    _assert_revoked(tokens)

    response = client.post(
        "/admin/core/membership/", {"action": "delete_selected", "_selected_action": [second.pk], "post": "yes"}
    )
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=second.pk).exists()
    _assert_revoked(second_tokens)


def test_admin_client_inline_removal_revokes_tokens(member, client):
    tokens = _login(member.user)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    prefix = "memberships"
    response = client.post(
        f"/admin/core/client/{member.client_id}/change/",
        {
            "code": member.client.code,
            "name": member.client.name,
            "is_active": "on",
            f"{prefix}-TOTAL_FORMS": "1",
            f"{prefix}-INITIAL_FORMS": "1",
            f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": "1000",
            f"{prefix}-0-id": str(member.pk),
            f"{prefix}-0-client": str(member.client_id),
            f"{prefix}-0-user": str(member.user_id),
            f"{prefix}-0-role": member.role,
            f"{prefix}-0-is_default": "on",
            f"{prefix}-0-DELETE": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert not Membership.objects.filter(pk=member.pk).exists()
    _assert_revoked(tokens)


def test_refresh_token_of_a_deleted_user_is_401_not_500(member):
    tokens = _login(member.user)
    get_user_model().objects.filter(pk=member.user_id).delete()
    assert _refresh(tokens["refresh"]).status_code == 401


def test_expired_refresh_tokens_leave_the_deny_list(member):
    tokens = _login(member.user)
    assert _refresh(tokens["refresh"]).status_code == 200
    assert BlacklistedToken.objects.filter(token__user=member.user).count() == 1
    OutstandingToken.objects.filter(user=member.user).update(expires_at=timezone.now() - timedelta(seconds=1))
    current = _login(member.user)  # not expired: stays
    assert tokens_flush_expired() == 2
    assert not BlacklistedToken.objects.filter(token__user=member.user).exists()
    assert OutstandingToken.objects.filter(user=member.user).count() == 1
    assert _refresh(current["refresh"]).status_code == 200
