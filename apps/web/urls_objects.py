"""Routes of the object model browser (`/objects/`) and the required-objects analysis of the cart."""

from django.urls import path

from apps.web import views_objects as v

urlpatterns: list = [
    path("objects/", v.objects, name="objects"),
    path("objects/required/", v.required, name="required_objects"),
]
