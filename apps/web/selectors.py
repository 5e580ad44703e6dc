"""Reads of the console's own state (the KPI cart)."""

from apps.web.models import CartItem


def cart_codes(*, user_id: int, client_id: int) -> list[str]:
    """The metric codes in a user's cart for a client, in the order added."""
    return list(CartItem.objects.filter(user_id=user_id, client_id=client_id).values_list("metric_code", flat=True))
