"""Filters of the Data Source page."""

from django import template

register = template.Library()


@register.filter
def run_duration(run) -> str:
    """How long a run took (or has taken so far): "0.4 s", "12 s", "3 min 5 s"."""
    if not run.started_at or not run.finished_at:
        return ""
    seconds = (run.finished_at - run.started_at).total_seconds()
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s"
