"""Piccolo app of the reports domain: the archive of generated monthly reports."""

import os

from piccolo.conf.apps import AppConfig

from reports.tables import TABLES

APP_CONFIG = AppConfig(
    app_name="reports",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=TABLES,
    migration_dependencies=["evaluation_service.piccolo_app", "rectification.piccolo_app"],
    commands=[],
)
