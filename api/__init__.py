"""The web edge: app factory, resources per audience, schemas, errors."""
from api.app import create_app

__all__ = ["create_app"]
