"""Everything the Acme emulator knows: tenants, cases, comments, and the shared emulator knobs.

Changes go through :class:`AcmeState` methods, which enforce Acme's rules (known values,
version and ``modifiedAt`` bumped on every change, comment ids unique) whether the change
comes from the API, the admin routes or a test calling them directly.
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from portal.integrations.acme.emulator.webhooks import WebhookEmitter, build_event
from portal.integrations.emulation.app import EmulatedError
from portal.integrations.emulation.clock import EmulatorClock
from portal.integrations.emulation.control import EmulatorControl
from portal.integrations.emulation.faults import FaultRegistry
from portal.integrations.emulation.oauth_server import OAuthServer
from portal.integrations.emulation.recording import RequestLog

SEVERITIES = ("high", "medium", "low")
STATUSES = ("new", "active", "closed")
CLASSIFICATIONS = ("true_positive", "false_positive", "benign_positive", "undetermined")
SCOPES = ("openid", "profile", "offline_access", "cases.read", "cases.write")
API_FIELDS = frozenset({"status", "classification", "severity", "closingNote"})  # what PATCH may change
ADMIN_FIELDS = API_FIELDS | {"title", "description", "assignee"}  # what an Acme user may change
ACME_USER = "analyst@acme.test"


class AcmeError(EmulatedError):
    """A request Acme refuses; ``status`` and ``code`` become its HTTP error answer."""


def to_ms(moment: datetime) -> datetime:
    """Acme keeps times to the millisecond, so what it stores is exactly what it prints."""
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def iso(moment: datetime) -> str:
    return to_ms(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class AcmeTenant:
    id: str
    name: str

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name}


@dataclass
class AcmeComment:
    id: str
    author: str
    body: str
    created_at: datetime

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "author": self.author, "body": self.body, "createdAt": iso(self.created_at)}


@dataclass
class AcmeCase:
    id: str
    tenant: str
    number: int
    title: str
    description: str
    severity: str
    status: str
    classification: str | None
    assignee: str | None
    created_at: datetime
    modified_at: datetime
    closing_note: str | None = None
    version: int = 1
    comments: dict[str, AcmeComment] = field(default_factory=dict)

    @property
    def etag(self) -> str:
        return f'"{self.version}"'

    @property
    def sort_key(self) -> tuple[datetime, str]:
        return (self.modified_at, self.id)

    def to_json(self, base_url: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "number": self.number,
            "title": self.title,
            "description": self.description,
            "severity": self.severity,
            "status": self.status,
            "classification": self.classification,
            "assignee": self.assignee,
            "closingNote": self.closing_note,
            "createdAt": iso(self.created_at),
            "modifiedAt": iso(self.modified_at),
            "url": f"{base_url.rstrip('/')}/ui/tenants/{self.tenant}/cases/{self.id}",
            "etag": self.etag,
            "commentCount": len(self.comments),
        }


def _check_values(changes: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = set(changes) - allowed
    if unknown:
        raise AcmeError(400, "InvalidField", f"These fields cannot be changed: {', '.join(sorted(unknown))}.")
    for key, choices in (("severity", SEVERITIES), ("status", STATUSES)):
        if key in changes and changes[key] not in choices:
            raise AcmeError(400, "InvalidValue", f"{key} must be one of {', '.join(choices)}.")
    if changes.get("classification") not in (None, *CLASSIFICATIONS):
        raise AcmeError(400, "InvalidValue", f"classification must be null or one of {', '.join(CLASSIFICATIONS)}.")
    for key in ("title", "description", "assignee", "closingNote"):
        if key in changes and changes[key] is not None and not isinstance(changes[key], str):
            raise AcmeError(400, "InvalidValue", f"{key} must be a string.")
    if "title" in changes and not str(changes["title"] or "").strip():
        raise AcmeError(400, "InvalidValue", "title cannot be empty.")


class AcmeState:
    def __init__(self, *, clock: EmulatorClock | None = None, seed: bool = True) -> None:
        # Faults without a path prefix hit the data API only, never the sign-in.
        self.control = EmulatorControl(clock=clock or EmulatorClock(), faults=FaultRegistry(("/api/",)))
        self.oauth = OAuthServer(
            self.control.clock,
            subject=ACME_USER,
            tenant_id="acme",
            display_name="Acme Cases",
            scopes_supported=SCOPES,
        )
        self.webhooks = WebhookEmitter()
        self.tenants: dict[str, AcmeTenant] = {}
        self.cases: dict[str, AcmeCase] = {}  # by id: case ids are unique across tenants
        self._last_number: dict[str, int] = {}
        self._seed = seed
        if seed:
            from portal.integrations.acme.emulator.fixtures import seed_fixtures

            seed_fixtures(self)

    # Shorthands for the shared knobs.
    @property
    def clock(self) -> EmulatorClock:
        return self.control.clock

    @property
    def faults(self) -> FaultRegistry:
        return self.control.faults

    @property
    def requests(self) -> RequestLog:
        return self.control.requests

    @property
    def webhook_url(self) -> str | None:
        return self.webhooks.url

    @webhook_url.setter
    def webhook_url(self, value: str | None) -> None:
        self.webhooks.url = value

    @property
    def webhook_secret(self) -> str | None:
        return self.webhooks.secret

    @webhook_secret.setter
    def webhook_secret(self, value: str | None) -> None:
        self.webhooks.secret = value

    def reset(self) -> None:
        """Back to the seeded data: no faults, tokens, webhook or requests (the clock stays as set)."""
        self.control.reset()
        self.oauth.reset()
        self.webhooks.reset()
        self.tenants.clear()
        self.cases.clear()
        self._last_number.clear()
        if self._seed:
            from portal.integrations.acme.emulator.fixtures import seed_fixtures

            seed_fixtures(self)

    def now(self) -> datetime:
        return to_ms(self.clock.now())

    # -- reading -------------------------------------------------------------------------------

    def tenant(self, tenant_id: str) -> AcmeTenant:
        tenant = self.tenants.get(tenant_id)
        if tenant is None:
            raise AcmeError(404, "TenantNotFound", f"There is no tenant {tenant_id!r}.")
        return tenant

    def case(self, case_id: str, tenant_id: str | None = None) -> AcmeCase:
        case = self.cases.get(case_id)
        if case is None or (tenant_id is not None and case.tenant != tenant_id):
            raise AcmeError(404, "CaseNotFound", f"There is no case {case_id!r}.")
        return case

    def cases_after(
        self, tenant_id: str, since: datetime | None, after: tuple[datetime, str] | None, limit: int
    ) -> tuple[list[AcmeCase], bool]:
        """Up to ``limit`` cases modified at or after ``since``, ordered by (modifiedAt, id), after ``after``."""
        self.tenant(tenant_id)
        # The first limit + 1 in order, without sorting every case of a large tenant for each page.
        matching = heapq.nsmallest(
            limit + 1,
            (
                case
                for case in self.cases.values()
                if case.tenant == tenant_id
                and (since is None or case.modified_at >= since)
                and (after is None or case.sort_key > after)
            ),
            key=lambda case: case.sort_key,
        )
        return matching[:limit], len(matching) > limit

    # -- changing ------------------------------------------------------------------------------

    def create_tenant(self, tenant_id: str, name: str) -> AcmeTenant:
        if not tenant_id or "/" in tenant_id:
            raise AcmeError(400, "InvalidValue", "A tenant id is a non-empty name without '/'.")
        if tenant_id in self.tenants:
            raise AcmeError(409, "TenantExists", f"Tenant {tenant_id!r} exists already.")
        tenant = AcmeTenant(tenant_id, name or tenant_id)
        self.tenants[tenant_id] = tenant
        return tenant

    def create_case(
        self,
        tenant_id: str,
        *,
        title: str,
        description: str = "",
        severity: str = "medium",
        status: str = "new",
        classification: str | None = None,
        assignee: str | None = None,
        case_id: str | None = None,
        created_at: datetime | None = None,
        modified_at: datetime | None = None,
    ) -> AcmeCase:
        """A case as an Acme user raises it; ``modified_at`` in the past plays a late-indexed case."""
        self.tenant(tenant_id)
        fields = {"title": title, "description": description, "severity": severity, "status": status}
        _check_values(fields | {"classification": classification, "assignee": assignee}, ADMIN_FIELDS)
        if case_id is not None and case_id in self.cases:
            raise AcmeError(409, "CaseExists", f"Case {case_id!r} exists already.")
        number = self._last_number.get(tenant_id, 1000) + 1
        self._last_number[tenant_id] = number
        created = to_ms(created_at) if created_at else self.now()
        case = AcmeCase(
            id=case_id or str(uuid.uuid4()),
            tenant=tenant_id,
            number=number,
            title=title.strip(),
            description=description,
            severity=severity,
            status=status,
            classification=classification,
            assignee=assignee,
            created_at=created,
            modified_at=to_ms(modified_at) if modified_at else max(created, self.now()),
        )
        self.cases[case.id] = case
        self.webhooks.emit(build_event(tenant_id, case.id, "case.created", case.modified_at))
        return case

    def update_case(
        self,
        case: AcmeCase,
        changes: Mapping[str, Any],
        *,
        allowed: frozenset[str] = ADMIN_FIELDS,
        modified_at: datetime | None = None,
    ) -> AcmeCase:
        _check_values(changes, allowed)
        if "title" in changes:
            case.title = str(changes["title"]).strip()
        if "description" in changes:
            case.description = str(changes["description"] or "")
        if "severity" in changes:
            case.severity = changes["severity"]
        if "assignee" in changes:
            case.assignee = changes["assignee"]
        if "status" in changes:
            if case.status == "closed" and changes["status"] != "closed":
                # Reopening undoes the closure, unless the same change sets them again.
                case.classification = None
                case.closing_note = None
            case.status = changes["status"]
        if "classification" in changes:
            case.classification = changes["classification"]
        if "closingNote" in changes:
            case.closing_note = changes["closingNote"]
        self._touch(case, modified_at)
        return case

    def add_comment(
        self,
        case: AcmeCase,
        *,
        body: str,
        author: str,
        comment_id: str | None = None,
        created_at: datetime | None = None,
    ) -> tuple[AcmeComment, bool]:
        """Add a comment; an id already on this case returns that comment unchanged (False: not created)."""
        if not isinstance(body, str) or not body.strip():
            raise AcmeError(400, "InvalidValue", "A comment needs a body.")
        if not isinstance(author, str) or not author.strip():
            raise AcmeError(400, "InvalidValue", "A comment needs an author.")
        if comment_id is not None:
            if comment_id in case.comments:
                return case.comments[comment_id], False
            if any(comment_id in other.comments for other in self.cases.values()):
                raise AcmeError(409, "CommentIdTaken", "That comment id is used on another case.")
        comment = AcmeComment(
            id=comment_id or str(uuid.uuid4()),
            author=author.strip(),
            body=body,
            created_at=to_ms(created_at) if created_at else self.now(),
        )
        case.comments[comment.id] = comment
        self._touch(case, None)  # a new comment is a change: polls by modifiedAt must see it
        return comment, True

    def _touch(self, case: AcmeCase, modified_at: datetime | None) -> None:
        case.version += 1
        case.modified_at = to_ms(modified_at) if modified_at else self.now()
        self.webhooks.emit(build_event(case.tenant, case.id, "case.updated", case.modified_at))
