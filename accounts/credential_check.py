"""Checking a stored exchange credential with the exchange: does Binance accept the key,
and what may it do?

`request_check` (the API) marks the credential's check pending and queues the task;
`check_credential` runs in the worker: it decrypts the key pair (recorded as a
"credential used" security event), asks Binance for the account, and stores the outcome
on the credential: valid (with the account's type and permissions), rejected (Binance
refused the key: unknown, restricted, or a secret that does not match), or error
(Binance could not be asked: rate limits, bans, network, malformed answers). Only the
outcome is kept: nothing of the account's balances.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from accounts.binance_signed import AccountInfo, BinanceSignedClient, KeyRejected
from accounts.credentials import decrypted
from accounts.models import CHECK_DETAIL_MAX_LENGTH, CheckStatus, ExchangeCredential
from marketdata.binance_client import BinanceError

logger = logging.getLogger(__name__)

CHECK_PURPOSE = "check the key with the exchange"
# The workers that talk to Binance listen there (workers consume default, marketdata
# and backtests).
CHECK_QUEUE = "marketdata"


class NotYourCredential(Exception):
    """Only a credential's owner may have it checked."""


def request_check(credential: ExchangeCredential, *, actor) -> ExchangeCredential:
    """Mark the credential's check pending and queue it once the transaction commits.
    The latest finished check's time stays in `checked_at` until the new one ends."""
    from accounts.tasks import check_credential as check_task

    if credential.owner_id != actor.pk:
        raise NotYourCredential(f"credential #{credential.pk} is not yours")
    with transaction.atomic():
        ExchangeCredential.objects.filter(pk=credential.pk).update(
            check_status=CheckStatus.PENDING, check_detail=""
        )
        transaction.on_commit(lambda: check_task.apply_async((credential.pk,), queue=CHECK_QUEUE))
    credential.check_status, credential.check_detail = CheckStatus.PENDING, ""
    logger.info("check of credential #%s queued by user #%s", credential.pk, actor.pk)
    return credential


def check_credential(credential_id: int) -> dict:
    """Check one credential with its exchange (in the worker) and store the outcome.

    Binance's answers, refusals included, are outcomes, not failures of the task.
    Anything unexpected is stored as an error too, then raised for the worker's log.
    Who asked is the audit trail's actor in the worker (audit.task_actor).
    """
    credential = (
        ExchangeCredential.objects.select_related("owner")
        .defer("api_key", "api_secret")
        .filter(pk=credential_id)
        .first()
    )
    if credential is None:  # deleted since the check was queued
        return {"id": credential_id, "check_status": "missing"}
    try:
        keys = decrypted(credential, purpose=CHECK_PURPOSE)
        with BinanceSignedClient.for_exchange(credential.exchange, keys) as client:
            account = client.account()
    except KeyRejected as exc:
        _store_outcome(credential, CheckStatus.REJECTED, str(exc))
    except BinanceError as exc:
        _store_outcome(credential, CheckStatus.ERROR, str(exc))
    except Exception as exc:
        _store_outcome(
            credential,
            CheckStatus.ERROR,
            f"the check failed unexpectedly ({type(exc).__name__}); "
            "operators find the details in the worker's log",
        )
        raise
    else:
        _store_outcome(credential, CheckStatus.VALID, describe_account(account))
    return {"id": credential.pk, "check_status": credential.check_status}


def describe_account(account: AccountInfo) -> str:
    """E.g. "spot account; can trade, cannot withdraw, can deposit; permissions SPOT"."""
    abilities = ", ".join(
        f"{'can' if allowed else 'cannot'} {action}"
        for action, allowed in (
            ("trade", account.can_trade),
            ("withdraw", account.can_withdraw),
            ("deposit", account.can_deposit),
        )
    )
    text = f"{account.account_type.lower()} account; {abilities}"
    if account.permissions:
        text += f"; permissions {', '.join(account.permissions)}"
    if account.can_withdraw:
        text += ". Central never withdraws: a key without withdrawals is safer"
    return text


def _store_outcome(credential: ExchangeCredential, status: CheckStatus, detail: str) -> None:
    if len(detail) > CHECK_DETAIL_MAX_LENGTH:
        detail = detail[: CHECK_DETAIL_MAX_LENGTH - 1] + "…"
    now = timezone.now()
    ExchangeCredential.objects.filter(pk=credential.pk).update(
        check_status=status, check_detail=detail, checked_at=now
    )
    credential.check_status, credential.check_detail, credential.checked_at = status, detail, now
    logger.info("credential #%s checked with %s: %s", credential.pk, credential.exchange, status)
