"""The dataclasses identity exchanges with other apps."""
