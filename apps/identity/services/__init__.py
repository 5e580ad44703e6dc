"""Identity's writes, one module per area (import the module: `from
apps.identity.services.roles import role_create`)."""
