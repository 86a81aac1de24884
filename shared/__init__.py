"""Pure domain code shared by the worker, the web app and the local backend (no Celery or Flask imports)."""
