"""The composition root for the web process and the worker: `wsgi:app`, `wsgi.celery`."""
from api import create_app

app = create_app()
celery = app.extensions["celery"]
