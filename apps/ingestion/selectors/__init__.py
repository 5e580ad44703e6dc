"""Reads of the ingestion app: jobs, runs, schedules in words (submodules)."""
