"""Piccolo configuration: the engine named by DATABASE_URL and the project's apps."""

import os

from piccolo.conf.apps import AppRegistry

from evaluation_service.kernel.database import engine_for
from evaluation_service.kernel.settings import DEFAULT_SQLITE_URL

DB = engine_for(os.environ.get("DATABASE_URL", DEFAULT_SQLITE_URL))

APP_REGISTRY = AppRegistry(
    apps=["evaluation_service.piccolo_app", "rectification.piccolo_app", "reports.piccolo_app"]
)
