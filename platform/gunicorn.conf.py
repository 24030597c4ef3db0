"""gunicorn settings for the web process (`gunicorn -c platform/gunicorn.conf.py wsgi:app`)."""
import multiprocessing
import os

# Web requests get the short statement and lock timeouts (config/settings.py database_timeouts).
os.environ.setdefault("PROCESS_ROLE", "web")

bind = os.environ.get("BIND", "0.0.0.0:" + os.environ.get("PORT", "8000"))
# The work per request is CPU (JSON, HMAC, validation) plus short database round trips.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
worker_class = "sync"
timeout = 30
graceful_timeout = 20
keepalive = 5
max_requests = 20000
max_requests_jitter = 2000
accesslog = os.environ.get("ACCESS_LOG", None)  # request lines carry no phone numbers: paths hold none
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
