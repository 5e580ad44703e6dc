"""State the console keeps per user: the KPI cart (the metrics a user picked
in KPI configuration; the required-objects analysis reads it)."""

from django.conf import settings
from django.db import models


class CartItem(models.Model):
    """One metric in one user's cart, for one client. Metrics are referenced by
    code (the ontology owns them); an item whose metric was deleted is shown
    as gone and can be removed."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    client = models.ForeignKey("core.Client", on_delete=models.CASCADE, related_name="+")
    metric_code = models.CharField(max_length=100)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "web_cart_item"
        constraints = [
            models.UniqueConstraint(fields=["user", "client", "metric_code"], name="web_cart_item_once"),
        ]
        ordering = ["added_at", "metric_code"]

    def __str__(self) -> str:
        return f"{self.metric_code} in {self.user_id}'s cart"
