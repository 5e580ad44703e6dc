"""Directory sync: mirror a provider's users, groups and memberships from
Microsoft Graph with delta queries, then apply role mappings.

One run of one provider:

1. users: `GET /v1.0/users/delta?$select=...`, following `@odata.nextLink`
   page by page until the `@odata.deltaLink`; each page is upserted in its own
   transaction (progress shows while the run goes on). `@removed` users get
   `removed_at`.
2. groups: `GET /v1.0/groups/delta?$select=displayName,description,members`,
   the same way; `members@delta` adds memberships, its `@removed` entries drop them.
3. role mappings (services/role_mapping.py).

The delta links are stored per provider (DirectorySyncState) only when both
rounds completed, so a failed run is simply done again by the next one (every
write is an upsert: running twice changes nothing). Without a stored link, or
when Graph says it expired (410, or 400 `syncStateNotFound`/`resyncRequired`),
the round is a full listing, and what the listing no longer has is marked
removed (users, groups) or dropped (memberships). A 429 is waited out (the
client honours Retry-After). Two runs of one provider never overlap: a
PostgreSQL advisory lock per provider; a run that finds it held ends
`skipped`."""

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core.advisory_locks import advisory_lock_try
from apps.core.errors import AppError
from apps.identity.graph.client import DeltaExpired, GraphClient, GraphError
from apps.identity.models import (
    DirectoryGroup,
    DirectoryMembership,
    DirectorySyncRun,
    DirectorySyncState,
    DirectoryUser,
    IdentityProvider,
)
from apps.identity.services.directory import graph_client
from apps.identity.services.role_mapping import mapped_roles_sync

logger = logging.getLogger(__name__)

# Graph user properties kept in DirectoryUser.attributes (what row policies'
# `{user.<attribute>}` placeholders read); the others have columns.
USER_ATTRIBUTES = (
    "department",
    "country",
    "jobTitle",
    "officeLocation",
    "companyName",
    "city",
    "usageLocation",
    "employeeId",
)
USERS_DELTA = "/v1.0/users/delta?$select=id,displayName,userPrincipalName,mail,accountEnabled," + ",".join(
    USER_ATTRIBUTES
)
GROUPS_DELTA = "/v1.0/groups/delta?$select=displayName,description,members"
GRAPH_USER = "#microsoft.graph.user"
Status = DirectorySyncRun.Status
COUNTS = (
    "users_upserted",
    "users_removed",
    "groups_upserted",
    "groups_removed",
    "memberships_added",
    "memberships_removed",
    "roles_granted",
    "roles_changed",
    "roles_revoked",
    "users_provisioned",
    "tokens_revoked",
    "throttled",
    "resyncs",
)


def sync_lock_key(provider_id: int) -> str:
    return f"identity.directory_sync:{provider_id}"


def directory_sync_run_create(
    *, client_id: int, provider_id: int, trigger: str = DirectorySyncRun.Trigger.MANUAL, requested_by=None
) -> DirectorySyncRun:
    """A queued run of the client's provider (the caller enqueues the task
    after commit). 400 naming `provider` when it is not one of the client's
    enabled providers."""
    provider = IdentityProvider.objects.filter(client_id=client_id, pk=provider_id).first()
    if provider is None:
        raise AppError(
            f"provider: no identity provider {provider_id} in this client.",
            code="invalid",
            details={"provider": [f"No identity provider {provider_id} in this client."]},
        )
    if not provider.is_enabled:
        raise AppError(
            f"provider: identity provider {provider.name!r} is disabled; enable it to sync its directory.",
            code="invalid",
            details={"provider": ["This identity provider is disabled."]},
        )
    return DirectorySyncRun.objects.create(
        client_id=client_id,
        provider=provider,
        trigger=trigger,
        requested_by=requested_by,
        counts=dict.fromkeys(COUNTS, 0),
    )


def directory_sync_runs_stale_close() -> int:
    """Close runs nobody is doing any more, so they do not hold their provider
    back: `running` while the provider's lock is free (the worker died), or
    `queued` for longer than two sweep intervals (the task was lost).
    Returns how many were closed."""
    closed = 0
    for run in DirectorySyncRun.objects.filter(status=Status.RUNNING).only("pk", "provider_id"):
        with advisory_lock_try(sync_lock_key(run.provider_id)) as free:
            if free:  # nobody holds it: nobody is on the run
                closed += DirectorySyncRun.objects.filter(pk=run.pk, status=Status.RUNNING).update(
                    status=Status.FAILED,
                    error="The run stopped without finishing (its worker was lost); the next run starts over.",
                    finished_at=timezone.now(),
                )
    lost_before = timezone.now() - timedelta(minutes=2 * settings.AE_DIRECTORY_SYNC_INTERVAL_MINUTES)
    closed += DirectorySyncRun.objects.filter(status=Status.QUEUED, created_at__lt=lost_before).update(
        status=Status.FAILED, error="The run never started (its task was lost).", finished_at=timezone.now()
    )
    return closed


def directory_sync_runs_schedule() -> list[int]:
    """Beat's sweep: a queued run for every enabled Azure AD provider of every
    active client that has no run queued or in progress (after closing the
    stale ones). Returns the new run ids."""
    directory_sync_runs_stale_close()
    providers = IdentityProvider.objects.filter(
        is_enabled=True, kind=IdentityProvider.Kind.AZURE_AD, client__is_active=True
    ).exclude(client_secret_encrypted="")
    busy = DirectorySyncRun.objects.filter(status__in=[Status.QUEUED, Status.RUNNING]).values("provider_id")
    run_ids = []
    for provider in providers.exclude(pk__in=busy).order_by("pk"):
        run = directory_sync_run_create(
            client_id=provider.client_id, provider_id=provider.pk, trigger=DirectorySyncRun.Trigger.SCHEDULE
        )
        run_ids.append(run.pk)
    return run_ids


def _save(run: DirectorySyncRun, *fields: str) -> None:
    run.save(update_fields=[*fields, "updated_at"])


def _finish(run: DirectorySyncRun, status: str, error: str = "") -> None:
    run.status = status
    run.error = error
    run.finished_at = timezone.now()
    if status == Status.SUCCEEDED:
        run.phase = DirectorySyncRun.Phase.DONE
    _save(run, "status", "error", "finished_at", "phase", "counts", "pages_read")


def directory_sync_run_execute(*, run_id: int) -> DirectorySyncRun:
    """Do a queued run (the Celery task's body). A run already finished is
    left as it is (a redelivered task); a run left `running` by a worker that
    died is done again, since the lock shows nobody is on it."""
    run = DirectorySyncRun.objects.select_related("provider").get(pk=run_id)
    if run.status not in (Status.QUEUED, Status.RUNNING):
        return run
    with advisory_lock_try(sync_lock_key(run.provider_id)) as acquired:
        if not acquired:
            _finish(run, Status.SKIPPED, "Another sync of this provider was in progress; this run did nothing.")
            return run
        run.status, run.started_at, run.error = Status.RUNNING, timezone.now(), ""
        run.counts = {**dict.fromkeys(COUNTS, 0), **(run.counts or {})}
        _save(run, "status", "started_at", "error", "counts")
        try:
            _Sync(run).run()
        except GraphError as exc:
            logger.warning("directory sync run %s of provider %s failed: %s", run.pk, run.provider_id, exc.message)
            _finish(run, Status.FAILED, exc.message)
        except Exception as exc:
            logger.exception("directory sync run %s of provider %s failed", run.pk, run.provider_id)
            _finish(run, Status.FAILED, f"Unexpected error ({exc.__class__.__name__}): {exc}")
        else:
            _finish(run, Status.SUCCEEDED)
    return run


class _Sync:
    def __init__(self, run: DirectorySyncRun) -> None:
        self.run_row = run
        self.provider: IdentityProvider = run.provider
        self.counts: dict[str, int] = run.counts
        self.deactivated: set[str] = set()  # users removed or disabled by this run
        self.graph: GraphClient = graph_client(provider=self.provider, on_throttled=self._throttled)
        self.user_pks: dict[str, int] = {}

    def _throttled(self, _seconds: float | None) -> None:
        self.counts["throttled"] += 1

    def _count(self, name: str, by: int = 1) -> None:
        self.counts[name] += by

    def run(self) -> None:
        state, _ = DirectorySyncState.objects.get_or_create(
            provider=self.provider, defaults={"client_id": self.provider.client_id}
        )
        run = self.run_row
        run.mode = "delta" if state.users_delta_link and state.groups_delta_link else "full"
        run.phase = DirectorySyncRun.Phase.USERS
        _save(run, "mode", "phase")
        users_link, users_full = self._round(state.users_delta_link, USERS_DELTA, self._users_page, self._users_gone)
        run.phase = DirectorySyncRun.Phase.GROUPS
        _save(run, "phase", "counts", "pages_read")
        self.user_pks = dict(DirectoryUser.objects.filter(provider=self.provider).values_list("object_id", "pk"))
        self.memberships_seen: set[tuple[int, int]] = set()
        groups_link, groups_full = self._round(
            state.groups_delta_link, GROUPS_DELTA, self._groups_page, self._groups_gone
        )
        if users_full or groups_full:
            run.mode = "full"
        run.phase = DirectorySyncRun.Phase.ROLES
        _save(run, "mode", "phase", "counts", "pages_read")
        with transaction.atomic():
            for name, value in mapped_roles_sync(provider=self.provider, deactivated=self.deactivated).items():
                self._count(name, value)
        now = timezone.now()
        state.users_delta_link, state.groups_delta_link = users_link, groups_link
        state.last_success_at = now
        if users_full or groups_full:
            state.last_full_sync_at = now
        state.save()

    # --- one delta round ------------------------------------------------------
    def _round(
        self,
        delta_link: str,
        initial: str,
        on_page: Callable[[list[dict[str, Any]], bool], None],
        on_full_done: Callable[[set[str]], None],
    ) -> tuple[str, bool]:
        """Read one resource to its delta link; returns (the new delta link,
        whether it was a full listing)."""
        full = not delta_link
        try:
            return self._read(delta_link or initial, full, on_page, on_full_done), full
        except DeltaExpired as exc:
            logger.info("provider %s: delta link expired (%s); listing everything again", self.provider.pk, exc.code)
            self._count("resyncs")
            return self._read(initial, True, on_page, on_full_done), True

    def _read(self, url: str, full: bool, on_page, on_full_done) -> str:
        seen: set[str] = set()
        delta_link = ""
        for page in self.graph.pages(url):
            items = [item for item in page.get("value") or [] if isinstance(item, dict) and item.get("id")]
            seen.update(str(item["id"]) for item in items if "@removed" not in item)
            with transaction.atomic():
                on_page(items, full)
            self.run_row.pages_read += 1
            _save(self.run_row, "pages_read", "counts")
            delta_link = page.get("@odata.deltaLink") or ""
        if not delta_link:
            raise GraphError(f"Graph ended the listing {url.split('?')[0]} without an @odata.deltaLink.")
        if full:
            with transaction.atomic():
                on_full_done(seen)
        return delta_link

    # --- users ------------------------------------------------------------------
    def _users_page(self, items: list[dict[str, Any]], full: bool) -> None:
        now = timezone.now()
        for item in items:
            object_id = str(item["id"])
            if "@removed" in item:
                self._user_remove(object_id, now)
                continue
            user = DirectoryUser.objects.filter(provider=self.provider, object_id=object_id).first()
            was_active = user is not None and user.removed_at is None and user.account_enabled
            if user is None:
                user = DirectoryUser(client_id=self.provider.client_id, provider=self.provider, object_id=object_id)
            for field, key in (
                ("display_name", "displayName"),
                ("user_principal_name", "userPrincipalName"),
                ("mail", "mail"),
            ):
                if key in item:  # a delta update may carry only what changed
                    setattr(user, field, str(item[key] or ""))
            if "accountEnabled" in item:
                user.account_enabled = bool(item["accountEnabled"])
            changed = {key: item[key] for key in USER_ATTRIBUTES if key in item}
            user.attributes = {**(user.attributes or {}), **changed}
            user.removed_at = None
            user.save()
            if was_active and not user.account_enabled:
                self.deactivated.add(object_id)
            self._count("users_upserted")

    def _user_remove(self, object_id: str, now) -> None:
        removed = DirectoryUser.objects.filter(
            provider=self.provider, object_id=object_id, removed_at__isnull=True
        ).update(removed_at=now, updated_at=now)
        if removed:
            self.deactivated.add(object_id)
            self._count("users_removed", removed)

    def _users_gone(self, seen: set[str]) -> None:
        """After a full listing: users it no longer has were removed."""
        for object_id in (
            DirectoryUser.objects.filter(provider=self.provider, removed_at__isnull=True)
            .exclude(object_id__in=seen)
            .values_list("object_id", flat=True)
        ):
            self._user_remove(object_id, timezone.now())

    # --- groups and memberships ---------------------------------------------------
    def _groups_page(self, items: list[dict[str, Any]], full: bool) -> None:
        now = timezone.now()
        for item in items:
            object_id = str(item["id"])
            if "@removed" in item:
                removed = DirectoryGroup.objects.filter(
                    provider=self.provider, object_id=object_id, removed_at__isnull=True
                ).update(removed_at=now, updated_at=now)
                self._count("groups_removed", removed)
                continue
            group = DirectoryGroup.objects.filter(provider=self.provider, object_id=object_id).first()
            if group is None:
                group = DirectoryGroup(client_id=self.provider.client_id, provider=self.provider, object_id=object_id)
            if "displayName" in item:
                group.display_name = str(item["displayName"] or "")
            if "description" in item:
                group.description = str(item["description"] or "")
            group.removed_at = None
            group.save()
            self._count("groups_upserted")
            self._members(group, item.get("members@delta") or item.get("members") or [], full)

    def _members(self, group: DirectoryGroup, members: list[Any], full: bool) -> None:
        for member in members:
            if not isinstance(member, dict) or member.get("@odata.type", GRAPH_USER) != GRAPH_USER:
                continue  # nested groups, devices, service principals: not users
            user_pk = self.user_pks.get(str(member.get("id")))
            if user_pk is None:
                continue  # a user outside the users round (not mirrored)
            if "@removed" in member:
                deleted, _ = DirectoryMembership.objects.filter(group=group, user_id=user_pk).delete()
                self._count("memberships_removed", deleted)
                continue
            _, created = DirectoryMembership.objects.get_or_create(group=group, user_id=user_pk)
            if created:
                self._count("memberships_added")
            if full:
                self.memberships_seen.add((group.pk, user_pk))

    def _groups_gone(self, seen: set[str]) -> None:
        """After a full listing: groups it no longer has were removed, and
        memberships it did not list are gone."""
        now = timezone.now()
        removed = (
            DirectoryGroup.objects.filter(provider=self.provider, removed_at__isnull=True)
            .exclude(object_id__in=seen)
            .update(removed_at=now, updated_at=now)
        )
        self._count("groups_removed", removed)
        stale = [
            pk
            for pk, group_pk, user_pk in DirectoryMembership.objects.filter(group__provider=self.provider).values_list(
                "pk", "group_id", "user_id"
            )
            if (group_pk, user_pk) not in self.memberships_seen
        ]
        if stale:
            deleted, _ = DirectoryMembership.objects.filter(pk__in=stale).delete()
            self._count("memberships_removed", deleted)
