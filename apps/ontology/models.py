"""The ontology: what a client's business is made of and how it is measured.
Every definition belongs to a client and is identified by a `code` unique
within that client. Every change is versioned with django-reversion (see
apps/ontology/versioning.py)."""

from django.db import models

from apps.core.model_mixins import TenantScopedModel, TimestampedModel


class DataType(models.TextChoices):
    STRING = "string"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"
    JSON = "json"


class Definition(TenantScopedModel):
    code = models.CharField(max_length=63)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")

    class Meta:
        abstract = True
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


def _unique_code(model: str) -> list:
    return [models.UniqueConstraint(fields=["client", "code"], name=f"ontology_{model}_client_code_unique")]


class EntityDefinition(Definition):
    class Kind(models.TextChoices):
        TIME_SERIES = "time_series", "Time series"
        REFERENCE = "reference", "Reference"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    time_attribute = models.CharField(max_length=63, blank=True, default="")
    # Fixed at creation: `c<client id>_<code>` in analytics_data.
    table_name = models.CharField(max_length=63, editable=False)
    # The hypertable's chunk interval (a PostgreSQL interval, as given); empty
    # for reference entities. Set at creation from the time attribute's type
    # unless given; a change applies to chunks created afterwards.
    chunk_interval = models.CharField(max_length=40, blank=True, default="")

    class Meta(Definition.Meta):
        constraints = _unique_code("entity")
        verbose_name = "entity"


class AttributeDefinition(TimestampedModel):
    entity = models.ForeignKey(EntityDefinition, on_delete=models.CASCADE, related_name="attributes")
    code = models.CharField(max_length=63)
    name = models.CharField(max_length=200, blank=True, default="")
    description = models.TextField(blank=True, default="")
    data_type = models.CharField(max_length=20, choices=DataType.choices)
    nullable = models.BooleanField(default=True)
    enum_values = models.JSONField(default=list, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["entity", "code"], name="ontology_attribute_entity_code_unique")]
        verbose_name = "attribute"

    def __str__(self) -> str:
        return f"{self.entity.code}.{self.code}"


class RelationshipDefinition(Definition):
    class Kind(models.TextChoices):
        MANY_TO_ONE = "many_to_one"
        ONE_TO_MANY = "one_to_many"
        MANY_TO_MANY = "many_to_many"
        COMPOSITION = "composition"
        AGGREGATION = "aggregation"

    source_entity = models.ForeignKey(EntityDefinition, on_delete=models.PROTECT, related_name="outgoing")
    target_entity = models.ForeignKey(EntityDefinition, on_delete=models.PROTECT, related_name="incoming")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    source_attribute = models.CharField(max_length=63)
    target_attribute = models.CharField(max_length=63)

    class Meta(Definition.Meta):
        constraints = _unique_code("relationship")
        verbose_name = "relationship"


class MetricDefinition(Definition):
    class Mode(models.TextChoices):
        EXACT = "exact"
        APPROXIMATE = "approximate"

    formula = models.TextField()
    entity = models.ForeignKey(
        EntityDefinition, on_delete=models.PROTECT, related_name="metrics", null=True, blank=True
    )
    unit = models.CharField(max_length=50, blank=True, default="")
    domain = models.CharField(max_length=50, blank=True, default="")
    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.EXACT)
    # What the formula refers to, kept for integrity checks (which metrics an
    # attribute or metric change would break).
    depends_on_metrics = models.ManyToManyField("self", symmetrical=False, related_name="used_by", blank=True)
    depends_on_attributes = models.JSONField(default=list, blank=True)

    class Meta(Definition.Meta):
        constraints = _unique_code("metric")
        verbose_name = "metric"


class ValueChainPatternDefinition(Definition):
    industry = models.CharField(max_length=100, blank=True, default="")
    stages = models.JSONField(default=list, blank=True)
    entities = models.ManyToManyField(EntityDefinition, related_name="value_chains", blank=True)
    metrics = models.ManyToManyField(MetricDefinition, related_name="value_chains", blank=True)

    class Meta(Definition.Meta):
        constraints = _unique_code("value_chain")
        verbose_name = "value chain pattern"


class ActorDefinition(Definition):
    class Kind(models.TextChoices):
        PERSON = "person"
        ROLE = "role"
        ORGANIZATION = "organization"
        SYSTEM = "system"

    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.ROLE)
    value_chain = models.ForeignKey(
        ValueChainPatternDefinition, on_delete=models.SET_NULL, null=True, blank=True, related_name="actors"
    )
    responsibilities = models.JSONField(default=list, blank=True)

    class Meta(Definition.Meta):
        constraints = _unique_code("actor")
        verbose_name = "actor"


class AnalyticsStrategyDefinition(Definition):
    objectives = models.JSONField(default=list, blank=True)
    value_chain = models.ForeignKey(
        ValueChainPatternDefinition, on_delete=models.SET_NULL, null=True, blank=True, related_name="strategies"
    )

    class Meta(Definition.Meta):
        constraints = _unique_code("strategy")
        verbose_name = "analytics strategy"
        verbose_name_plural = "analytics strategies"


class AnalyticsUseCaseDefinition(Definition):
    strategy = models.ForeignKey(
        AnalyticsStrategyDefinition, on_delete=models.SET_NULL, null=True, blank=True, related_name="use_cases"
    )
    entities = models.ManyToManyField(EntityDefinition, related_name="use_cases", blank=True)
    metrics = models.ManyToManyField(MetricDefinition, related_name="use_cases", blank=True)

    class Meta(Definition.Meta):
        constraints = _unique_code("use_case")
        verbose_name = "analytics use case"


class DataSourceDefinition(Definition):
    class Kind(models.TextChoices):
        SQL = "sql"
        REST = "rest"
        GRAPHQL = "graphql"
        FILE = "file"
        STREAM = "stream"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    # Descriptive, non-secret settings (host, path, format). Credentials belong
    # to connection profiles, encrypted, not here.
    settings = models.JSONField(default=dict, blank=True)
    schedule = models.CharField(max_length=100, blank=True, default="", help_text="cron expression, UTC")
    entities = models.ManyToManyField(EntityDefinition, related_name="data_sources", blank=True)

    class Meta(Definition.Meta):
        constraints = _unique_code("data_source")
        verbose_name = "data source"


class DataLoad(TenantScopedModel):
    """One accepted bulk load of an entity's rows: the record behind the
    `ingestion.completed` event (who, what, how many, which time range)."""

    entity = models.ForeignKey(EntityDefinition, on_delete=models.CASCADE, related_name="loads")
    inserted = models.PositiveIntegerField()
    rejected = models.PositiveIntegerField(default=0)
    time_min = models.DateTimeField(null=True, blank=True)
    time_max = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=20, default="api")  # api, csv, simulation, ingestion, bench
    correlation_id = models.CharField(max_length=100, blank=True, default="")
    created_by = models.ForeignKey("auth.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["-created_at"]


class DriftReport(TenantScopedModel):
    """One run of the consistency checker for a client: what differed between
    the ontology and `analytics_data`, what was repaired, what was refused."""

    class Status(models.TextChoices):
        CONSISTENT = "consistent"
        REPAIRED = "repaired"
        NEEDS_ATTENTION = "needs_attention"

    status = models.CharField(max_length=20, choices=Status.choices)
    findings = models.JSONField(
        default=list
    )  # [{"entity", "kind", "detail", "action": "repaired"|"refused"|"reported", "sql"}]
    triggered_by = models.CharField(max_length=20, default="schedule")  # schedule, api, admin

    class Meta:
        ordering = ["-created_at"]


class DefinitionChange(models.Model):
    """How many definition rows each transaction wrote, per client: written by
    database triggers on every definition table and link table (migration
    0003), so no write path can forget it (services, the admin, reverts,
    imports, bulk updates, SQL). The sum of a client's `changes` is the
    version of its definitions that metadata answers are cached under
    (apps/ontology/api/metadata_cache.py): every commit that changed a
    definition adds to it. A transaction only ever writes its own rows (one
    per client, keyed by its id), so concurrent writers never wait on one
    another; one that rolls back leaves nothing. No foreign key to the
    client: a client's deletion cascades through triggers that still write
    here."""

    client_id = models.BigIntegerField()
    txid = models.BigIntegerField()
    changes = models.BigIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client_id", "txid"], name="ontology_definitionchange_client_txid_unique")
        ]

    def __str__(self) -> str:
        return f"client {self.client_id}, transaction {self.txid}: {self.changes} changes"


class ClientConfig(TimestampedModel):
    """One client's configuration (docs/client-config.md): which of its value
    chains and KPIs are active, its default locale, time zone and currency,
    and its feature switches. Owned by the ontology because it switches
    ontology definitions on and off, and because the ontology can publish
    the durable event that cascades a change to the layers above it
    (`client_config.changed`); core, the kernel, sits below messaging and
    cannot publish.

    KPIs and value chains are stored as what is switched OFF, so a KPI
    defined later is active from the start. Every client has exactly one row:
    a database trigger inserts it, with the column defaults, whatever creates
    the client (migration 0005; existing clients got theirs there too)."""

    client = models.OneToOneField("core.Client", on_delete=models.CASCADE, related_name="+")
    inactive_metrics = models.ManyToManyField(MetricDefinition, related_name="+", blank=True)
    inactive_value_chains = models.ManyToManyField(ValueChainPatternDefinition, related_name="+", blank=True)
    # Database defaults, so the trigger's bare INSERT fills them in.
    default_locale = models.CharField(max_length=35, default="en-US", db_default="en-US")
    time_zone = models.CharField(max_length=64, default="UTC", db_default="UTC")
    currency = models.CharField(max_length=3, default="EUR", db_default="EUR")
    # Only the switches set for this client; the others have their default
    # (apps.ontology.types.client_config.FEATURES).
    features = models.JSONField(default=dict, db_default={}, blank=True)

    class Meta:
        verbose_name = "client configuration"

    def __str__(self) -> str:
        return f"configuration of client {self.client_id}"
