"""The bureau's audit console: server-rendered pages for auditors, with a session cookie and CSRF."""
from api.console.blueprint import bp

__all__ = ["bp"]
