"""The composition root for the web process and the worker: `wsgi:app`, `wsgi.celery`."""
from celery.signals import after_setup_logger, after_setup_task_logger

from api import create_app
from api.log_masking import install_phone_masking

app = create_app()
celery = app.extensions["celery"]


@after_setup_logger.connect
@after_setup_task_logger.connect
def _mask_phones_in_worker_logs(logger=None, **_kwargs):
    """Celery replaces the root handlers when a worker starts; mask phones on its own."""
    install_phone_masking(*([logger] if logger is not None else []))
