from celery import Celery

from crucible_shared.settings import WorkerSettings
from crucible_worker.celery_app.config import celery_config

app = Celery("crucible")
app.conf.update(celery_config(WorkerSettings()))
app.conf.imports = (
    "crucible_worker.evaluations",
    "crucible_worker.maintenance",
    "crucible_worker.background",
)
