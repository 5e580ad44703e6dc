"""Zone 1 schema management from inside the platform: is the database fit for
us (TimescaleDB present, which licence, may we create in `analytics_data`),
which Django migrations are applied or pending, their SQL without running
them (offline mode), and applying them up or down to a target.

Zone 2 (`analytics_data`) is not migrated: the ontology's DDL and its drift
checker own it.
"""

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.exceptions import AmbiguityError
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder

from apps.core.advisory_locks import advisory_lock_try
from apps.core.errors import AppError, Conflict
from apps.warehouse.selectors import timescaledb_info

ZERO = "zero"  # Django's name for "before the first migration"


@dataclass(frozen=True)
class TimescaleValidation:
    ok: bool
    problems: list[str]
    extension_installed: bool
    version: str | None
    available_version: str | None
    license: str | None
    continuous_aggregates: bool
    role: str
    is_superuser: bool
    schema: str
    schema_exists: bool
    schema_owner: str | None
    owns_schema: bool
    can_create_in_schema: bool
    can_create_schema: bool


@dataclass(frozen=True)
class MigrationState:
    name: str
    applied: bool
    applied_at: str | None = None


@dataclass(frozen=True)
class AppMigrations:
    app: str
    migrations: list[MigrationState]

    @property
    def applied(self) -> list[str]:
        return [m.name for m in self.migrations if m.applied]

    @property
    def pending(self) -> list[str]:
        return [m.name for m in self.migrations if not m.applied]


@dataclass(frozen=True)
class MigrationStatus:
    apps: list[AppMigrations]
    pending: list[str]  # "app.name", in the order `apply()` would run them
    conflicts: dict[str, list[str]]  # app -> its several leaf migrations (needs a merge)
    unknown_applied: list[str]  # recorded as applied but absent from the code


@dataclass(frozen=True)
class PendingSql:
    app: str
    name: str
    sql: str


@dataclass(frozen=True)
class ApplyResult:
    target: str | None
    applied: list[str] = field(default_factory=list)
    unapplied: list[str] = field(default_factory=list)
    output: str = ""


class AutomatedMigrationManager:
    """Platform-wide schema operations on one database alias. Staff only: the
    API guards it; nothing here knows about users."""

    # Serialises apply() across processes (two web workers, a deploy hook).
    LOCK_KEY = "warehouse.migrations.apply"
    BUSY_RETRY_AFTER_SECONDS = 30  # a migrate run takes seconds to minutes

    def __init__(self, *, using: str = DEFAULT_DB_ALIAS) -> None:
        self.using = using
        self.connection = connections[using]

    # --- TimescaleDB and privileges -------------------------------------------------------

    def validate_timescaledb(self) -> TimescaleValidation:
        schema = settings.ANALYTICS_SCHEMA
        info = timescaledb_info(using=self.using)
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'")
            row = cursor.fetchone()
            available = row[0] if row else None
            cursor.execute(
                """
                SELECT current_user, r.rolsuper,
                       has_database_privilege(current_database(), 'CREATE'),
                       n.nspname IS NOT NULL, pg_get_userbyid(n.nspowner),
                       n.nspname IS NOT NULL AND pg_has_role(n.nspowner, 'USAGE'),
                       n.nspname IS NOT NULL AND has_schema_privilege(n.oid, 'CREATE')
                FROM pg_roles r
                LEFT JOIN pg_namespace n ON n.nspname = %s
                WHERE r.rolname = current_user
                """,
                [schema],
            )
            role, superuser, create_schema, schema_exists, owner, owns, create_in = cursor.fetchone()

        problems = []
        if info.version is None:
            hint = f"version {available} is available: CREATE EXTENSION timescaledb" if available else "not available"
            problems.append(f"The timescaledb extension is not installed ({hint}).")
        if not schema_exists:
            if not create_schema:
                problems.append(f"Schema {schema} does not exist and role {role} may not create schemas.")
        elif not (create_in or superuser):
            problems.append(f"Role {role} may not create tables in schema {schema} (owner {owner}).")
        return TimescaleValidation(
            ok=not problems,
            problems=problems,
            extension_installed=info.version is not None,
            version=info.version,
            available_version=available,
            license=info.license,
            continuous_aggregates=info.has_continuous_aggregates,
            role=role,
            is_superuser=superuser,
            schema=schema,
            schema_exists=schema_exists,
            schema_owner=owner,
            owns_schema=bool(owns),
            can_create_in_schema=bool(create_in or superuser),
            can_create_schema=bool(create_schema or superuser),
        )

    # --- what is applied, what is pending ------------------------------------------------

    def _executor(self) -> MigrationExecutor:
        # A fresh loader each time: reads the code and the django_migrations table now.
        return MigrationExecutor(self.connection)

    def status(self) -> MigrationStatus:
        executor = self._executor()
        loader, graph = executor.loader, executor.loader.graph
        applied_at = {
            (app, name): when.isoformat()
            for app, name, when in MigrationRecorder(self.connection)
            .migration_qs.values_list("app", "name", "applied")
            .iterator()
        }
        apps = []
        for app in sorted(loader.migrated_apps):
            ordered: list[tuple[str, str]] = []
            for leaf in graph.leaf_nodes(app):
                for node in graph.forwards_plan(leaf):
                    if node[0] == app and node not in ordered:
                        ordered.append(node)
            apps.append(
                AppMigrations(
                    app,
                    [MigrationState(key[1], key in loader.applied_migrations, applied_at.get(key)) for key in ordered],
                )
            )
        plan = executor.migration_plan(graph.leaf_nodes())
        return MigrationStatus(
            apps=apps,
            pending=[f"{m.app_label}.{m.name}" for m, backwards in plan if not backwards],
            conflicts={app: sorted(names) for app, names in loader.detect_conflicts().items()},
            unknown_applied=sorted(
                f"{app}.{name}" for app, name in loader.applied_migrations if (app, name) not in graph.nodes
            ),
        )

    def pending_sql(self) -> list[PendingSql]:
        """The SQL each pending migration would run, in order, without running
        it (`sqlmigrate`). Python operations show as a comment saying so."""
        executor = self._executor()
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        return [
            PendingSql(
                migration.app_label,
                migration.name,
                call_command(
                    "sqlmigrate", migration.app_label, migration.name, database=self.using, stdout=io.StringIO()
                ),
            )
            for migration, backwards in plan
            if not backwards
        ]

    # --- applying ---------------------------------------------------------------------------

    def _targets(self, executor: MigrationExecutor, target: str | None) -> tuple[list[tuple], list[str]]:
        """The executor's targets and `migrate`'s arguments for `target`:
        None (everything), "app_label" (the app's latest), "app_label.name"
        (forwards or backwards to it; a unique prefix of the name will do;
        "app_label.zero" unapplies the app)."""
        loader = executor.loader
        if target is None:
            return loader.graph.leaf_nodes(), []
        if not isinstance(target, str) or not target.strip():
            raise AppError("The target must be 'app_label' or 'app_label.migration_name'.", code="invalid_target")
        app, _, name = target.strip().partition(".")
        if app not in loader.migrated_apps:
            known = ", ".join(sorted(loader.migrated_apps))
            raise AppError(
                f"No app {app!r} with migrations; the apps are: {known}.",
                code="unknown_app",
                details={"target": target},
            )
        if not name:
            return loader.graph.leaf_nodes(app), [app]
        if name == ZERO:
            return [(app, None)], [app, ZERO]
        try:
            migration = loader.get_migration_by_prefix(app, name)
        except AmbiguityError as exc:
            raise AppError(
                f"{target!r} matches several migrations of {app}; give more of the name.",
                code="ambiguous_target",
                details={"target": target},
            ) from exc
        except KeyError as exc:
            raise AppError(
                f"App {app!r} has no migration {name!r}.", code="unknown_migration", details={"target": target}
            ) from exc
        return [(app, migration.name)], [app, migration.name]

    def plan(self, target: str | None = None) -> ApplyResult:
        """What `apply(target)` would do, without doing it."""
        executor = self._executor()
        targets, _ = self._targets(executor, target)
        plan = executor.migration_plan(targets)
        return ApplyResult(
            target=target,
            applied=[f"{m.app_label}.{m.name}" for m, backwards in plan if not backwards],
            unapplied=[f"{m.app_label}.{m.name}" for m, backwards in plan if backwards],
        )

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        with advisory_lock_try(self.LOCK_KEY, db=self.connection) as acquired:
            if not acquired:
                raise Conflict(
                    "Migrations are being applied by another process; try again shortly.",
                    code="busy",
                    retry_after=self.BUSY_RETRY_AFTER_SECONDS,
                )
            yield

    def apply(self, target: str | None = None, *, allow_backwards: bool = False) -> ApplyResult:
        """Migrate to `target` (see `_targets`) and return what ran with
        `migrate`'s output. Unapplying drops tables or columns, so a target
        behind the current state is refused unless `allow_backwards`."""
        _, arguments = self._targets(self._executor(), target)
        if self.connection.in_atomic_block:
            # A migration marked atomic=False (concurrent index builds) cannot run in one.
            raise AppError("Migrations cannot be applied inside a transaction.", code="in_transaction")
        with self._exclusive():
            planned = self.plan(target)  # under the lock: what runs now, not before another process ran
            if planned.unapplied and not allow_backwards:
                raise AppError(
                    f"Migrating to {target!r} would unapply {', '.join(planned.unapplied)}, which can drop data; "
                    "pass allow_backwards to do it anyway.",
                    code="backwards_refused",
                    details={"unapply": planned.unapplied},
                )
            output = io.StringIO()
            call_command("migrate", *arguments, database=self.using, interactive=False, no_color=True, stdout=output)
        return ApplyResult(target, planned.applied, planned.unapplied, output.getvalue())
