"""Identity's reads, one module per area (import the module: `from
apps.identity.selectors.roles import ...`)."""
