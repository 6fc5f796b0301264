"""Piccolo app of the evaluation domain: catalog, transactions, ratings and the outbox."""

import os

from piccolo.conf.apps import AppConfig

from evaluation_service.kernel.tables import TABLES

APP_CONFIG = AppConfig(
    app_name="evaluation_service",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=TABLES,
    migration_dependencies=[],
    commands=[],
)
