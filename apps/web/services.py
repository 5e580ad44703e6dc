"""Writes of the console's own state (the KPI cart)."""

from apps.core.errors import AppError
from apps.ontology.selectors import metric_exists
from apps.web.models import CartItem

CART_LIMIT = 200


def cart_add(*, user_id: int, client_id: int, metric_code: str) -> bool:
    """Put a metric of the client in the user's cart; False when it was there
    already. An unknown metric is refused by name."""
    if not metric_exists(client_id=client_id, code=metric_code):
        raise AppError(f"There is no metric {metric_code!r} in this client.", code="unknown_metric", status_code=404)
    if CartItem.objects.filter(user_id=user_id, client_id=client_id).count() >= CART_LIMIT:
        raise AppError(f"A cart holds at most {CART_LIMIT} KPIs; remove some first.", code="cart_full")
    _, created = CartItem.objects.get_or_create(user_id=user_id, client_id=client_id, metric_code=metric_code)
    return created


def cart_remove(*, user_id: int, client_id: int, metric_code: str) -> bool:
    deleted, _ = CartItem.objects.filter(user_id=user_id, client_id=client_id, metric_code=metric_code).delete()
    return bool(deleted)


def cart_clear(*, user_id: int, client_id: int) -> int:
    deleted, _ = CartItem.objects.filter(user_id=user_id, client_id=client_id).delete()
    return deleted
