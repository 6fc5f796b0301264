"""Piccolo app of the rectification domain: tickets, audit log, staff accounts, notifications."""

import os

from piccolo.conf.apps import AppConfig

from rectification.tables import TABLES

APP_CONFIG = AppConfig(
    app_name="rectification",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=TABLES,
    migration_dependencies=["evaluation_service.piccolo_app"],
    commands=[],
)
