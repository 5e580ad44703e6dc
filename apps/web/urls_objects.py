"""Routes of the object model browser (`/objects/`) and the required-objects analysis of the cart."""

urlpatterns: list = []
