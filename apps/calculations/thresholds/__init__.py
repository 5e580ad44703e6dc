"""KPI threshold rules (a minimal alerting rule until the alerting console of
observability arrives; docs/live.md), by role:

- services.py: `threshold_rule_create|update|delete` check what they are
  given and name the field in their errors; the webhook URL follows the rule
  of webhook subscriptions (messaging's `webhook_url_validate`) and is stored
  encrypted;
- selectors.py: `threshold_rule_list|get`, `threshold_alert_list`;
- evaluation.py: `thresholds_evaluate`, a `metric.calculated` point against
  the client's rules on that metric (bus handler in events.py), and the
  message templates (`message_validate`, `message_render`);
- delivery.py: `threshold_alert_attempt`, one POST of a fired alert through
  messaging's outbound delivery (unsigned).
"""
