"""Routes of the ontology studio (`/ontology/`): entity editor, relationship builder, version history."""

urlpatterns: list = []
