"""Celery tasks for accounts: thin wrappers over accounts.credential_check. The queue is
chosen by the caller (credential_check.CHECK_QUEUE)."""

from celery import shared_task

from accounts import credential_check


@shared_task(acks_late=True, name="accounts.tasks.check_credential")
def check_credential(credential_id: int) -> dict:
    return credential_check.check_credential(credential_id)
