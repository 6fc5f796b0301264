"""ASGI entry point: settings are read here, once, and handed to the app."""

from evaluation_service.app import create_app
from evaluation_service.settings import Settings

app = create_app(Settings.from_env())
