"""Governance: who may see which rows. Owns the row policies (`RowPolicy`,
docs/access.md "Row policies") and builds each caller's row access (the
policies that apply to a principal, per entity, with the principal's
placeholder values) that the calculation engine compiles into every
statement. Face: services (writes), selectors (reads), types."""
