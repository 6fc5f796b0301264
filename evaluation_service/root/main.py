"""ASGI entry point: settings are read here, once, and handed to the app."""

from evaluation_service.kernel.settings import Settings
from evaluation_service.root.app import create_app

app = create_app(Settings.from_env())
