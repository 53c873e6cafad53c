"""ReceiptRepository."""

from __future__ import annotations

from datetime import timedelta

from tests.storage.conftest import LATER, NOW, an_account
from vitalkey.adapters.db.uow import SqlUnitOfWork
from vitalkey.ports import Receipt

ANSWER = {"status": 0, "body": {"grpids": [3, 4], "ratio": 0.5, "note": "déjà vu"}}


def test_a_key_keeps_its_first_receipt_per_account(store: SqlUnitOfWork) -> None:
    ann, bob = an_account(store).id, an_account(store, "bob@example.org").id
    receipt = Receipt(ann, "batch-1", "d" * 64, ANSWER, NOW)
    with store.begin() as tx:
        assert tx.receipts.get(ann, "batch-1") is None
        assert tx.receipts.add(receipt)
        assert not tx.receipts.add(Receipt(ann, "batch-1", "e" * 64, {"other": 1}, LATER))  # a parallel send won
        assert tx.receipts.add(Receipt(bob, "batch-1", "e" * 64, {}, LATER))  # keys are per account
    with store.begin() as tx:
        assert tx.receipts.get(ann, "batch-1") == receipt
        assert tx.receipts.get(bob, "batch-1") == Receipt(bob, "batch-1", "e" * 64, {}, LATER)
        assert tx.receipts.get(ann, "batch-2") is None


def test_prune_removes_the_receipts_made_before(store: SqlUnitOfWork) -> None:
    ann = an_account(store).id
    with store.begin() as tx:
        for n in range(3):
            tx.receipts.add(Receipt(ann, f"k{n}", "d", {}, NOW + timedelta(hours=n)))
    with store.begin() as tx:
        assert tx.receipts.prune(NOW + timedelta(hours=1)) == 1
        assert tx.receipts.prune(NOW + timedelta(hours=1)) == 0
        assert [tx.receipts.get(ann, f"k{n}") is None for n in range(3)] == [True, False, False]
