class ReadOnlyRouter:
    """The `readonly` alias is the CQRS read side: reads that opt in with
    `.using("readonly")` go there; nothing is ever written or migrated there."""

    def db_for_write(self, model, **hints):
        return "default"

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db != "readonly"
