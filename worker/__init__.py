"""Celery worker for tunequeue: `celery -A worker worker -Q tunequeue,training,evaluation`."""

from worker.celery_app import app

__all__ = ["app"]
