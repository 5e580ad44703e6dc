"""Writes of the ingestion app: jobs (jobs.py), runs and dry runs (runs.py)."""
