"""AcmeVendor's outbound side and connection check, against the emulator."""

from __future__ import annotations

import uuid

import pytest

from portal.integrations.acme.emulator.fixtures import case_id
from portal.integrations.acme.manifest import MANIFEST
from portal.integrations.acme.vendor import AcmeVendor
from portal.integrations.base import Delivered, OutboundChange
from portal.integrations.errors import InvalidRequest
from portal.integrations.registry import vendor
from tests.integrations.acme.conftest import BASE, connection_view

CASE = case_id("contoso", 1002)  # high, new
CLOSED = case_id("contoso", 1003)  # closed, true_positive
P1, P2, P3 = (str(uuid.uuid4()) for _ in range(3))
MAPPINGS = {"ticket_type": str(uuid.uuid4()), "priority_high": P1, "priority_medium": P2, "priority_low": P2}


def change(operation: str, payload: dict[str, object], remote_id: str = f"contoso/{CASE}") -> OutboundChange:
    return OutboundChange(
        id=uuid.uuid4(),
        operation=operation,
        remote_type="case",
        remote_id=remote_id,
        payload=payload,
        idempotency_key=uuid.uuid4(),
        ticket_id=None,
    )


def test_the_vendor_is_registered_with_its_manifest() -> None:
    acme = vendor("acme")
    assert isinstance(acme, AcmeVendor)
    assert acme.manifest is MANIFEST
    assert set(acme.entities) == {spec.name for spec in MANIFEST.entities}
    assert acme.base_url(connection_view()) == BASE


async def test_check_names_the_user_and_tenants(acme) -> None:
    api = acme.api()
    check = await acme.vendor.check(api, api.connection)
    assert check.ok
    assert check.message == "Signed in to Acme as analyst@acme.test; tenants: Contoso Ltd, Fabrikam Inc."
    assert check.details["tenants"] == "contoso, fabrikam"


async def test_credentials_come_from_the_token_source(acme) -> None:
    view = connection_view()
    credentials = acme.vendor.credentials(view, acme.tokens)
    assert acme.tokens.handed_out == [credentials]
    assert (await credentials.headers())["Authorization"].startswith("Bearer at_")


async def test_a_comment_is_written_once_under_the_idempotency_key(acme) -> None:
    api = acme.api()
    comment = change("comment", {"body": "Account disabled.", "author": "ana@msp.example"})
    first = await acme.vendor.deliver(api, None, comment)
    again = await acme.vendor.deliver(api, None, comment)  # a redelivery
    key = str(comment.idempotency_key)
    assert first == again == Delivered(produced_remote_type="case_comment", produced_remote_id=key)
    comments = acme.state.case(CASE).comments
    assert list(comments) == [key]
    assert (comments[key].body, comments[key].author) == ("Account disabled.", "ana@msp.example")
    assert [(e.method, e.status_code) for e in acme.recorder.entries] == [("PUT", 201), ("PUT", 200)]


async def test_close_sets_status_classification_and_note(acme) -> None:
    api = acme.api()
    closing = change(
        "close", {"classification": "BenignPositive", "reason": "SuspiciousButExpected", "note": "Pen test."}
    )
    assert await acme.vendor.deliver(api, None, closing) == Delivered()
    case = acme.state.case(CASE)
    assert (case.status, case.classification, case.closing_note) == ("closed", "benign_positive", "Pen test.")
    version = case.version
    await acme.vendor.deliver(api, None, closing)
    assert case.version == version  # delivered again: already so, nothing written


async def test_close_without_a_classification(acme) -> None:
    await acme.vendor.deliver(acme.api(), None, change("close", {"classification": None, "note": ""}))
    case = acme.state.case(CASE)
    assert (case.status, case.classification, case.closing_note) == ("closed", None, None)


async def test_reopen_only_touches_a_closed_case(acme) -> None:
    api = acme.api()
    await acme.vendor.deliver(api, None, change("reopen", {"note": ""}, f"contoso/{CLOSED}"))
    assert acme.state.case(CLOSED).status == "active"
    version = acme.state.case(CASE).version
    await acme.vendor.deliver(api, None, change("reopen", {"note": ""}))
    assert (acme.state.case(CASE).status, acme.state.case(CASE).version) == ("new", version)


async def test_priority_maps_back_to_a_severity(acme) -> None:
    api = acme.api(connection_view(mappings=MAPPINGS))
    await acme.vendor.deliver(api, None, change("priority", {"priority_id": P2, "priority": "P3"}))
    assert acme.state.case(CASE).severity == "medium"  # medium and low share P2: the most severe one
    acme.state.update_case(acme.state.case(CASE), {"severity": "low"})
    version = acme.state.case(CASE).version
    await acme.vendor.deliver(api, None, change("priority", {"priority_id": P2}))
    assert (acme.state.case(CASE).severity, acme.state.case(CASE).version) == ("low", version)  # already P2
    await acme.vendor.deliver(api, None, change("priority", {"severity": "high"}))
    assert acme.state.case(CASE).severity == "high"


async def test_an_unmapped_priority_sends_nothing(acme) -> None:
    api = acme.api(connection_view(mappings=MAPPINGS))
    delivered = await acme.vendor.deliver(api, None, change("priority", {"priority_id": P3}))
    assert delivered == Delivered()
    assert acme.recorder.entries == []


async def test_a_conflicting_update_is_retried(acme) -> None:
    acme.state.faults.add("conflict", count=1)
    await acme.vendor.deliver(acme.api(), None, change("close", {"classification": "TruePositive"}))
    assert acme.state.case(CASE).status == "closed"


@pytest.mark.parametrize(
    "bad",
    [
        change("escalate", {}),
        change("comment", {"body": "  "}),
        change("comment", {"body": "x"}, remote_id="no-tenant"),
        OutboundChange(uuid.uuid4(), "comment", "alert", "contoso/x", {"body": "x"}, uuid.uuid4(), None),
    ],
)
async def test_changes_acme_cannot_take_are_invalid_requests(acme, bad) -> None:
    with pytest.raises(InvalidRequest):
        await acme.vendor.deliver(acme.api(), None, bad)
    assert acme.recorder.entries == []
