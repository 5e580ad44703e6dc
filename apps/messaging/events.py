from apps.messaging import webhooks  # noqa: F401  (registers the webhook dispatcher with the bus)
