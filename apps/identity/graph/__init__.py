"""Microsoft Graph, as directory sync and sign-in's group-overage lookup use
it: app-only tokens per tenant and retried calls (client.py)."""
