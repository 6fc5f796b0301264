"""Lets the `piccolo` command find the configuration when run from the repository root."""

from evaluation_service.root.piccolo_conf import APP_REGISTRY, DB

__all__ = ["APP_REGISTRY", "DB"]
