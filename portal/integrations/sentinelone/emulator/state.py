"""Everything one emulated SentinelOne console knows: accounts, sites, agents, threats with their
notes, cloud-detection alerts, and the users whose API tokens may call it.

Records are kept in the JSON shape the API prints (camelCase, ISO times with microseconds,
numeric-string ids), so what a test sets is exactly what a client reads. Changes go through
:class:`S1State` methods, which keep the derived fields right (``siteName``, ``activeThreats``,
``updatedAt``) whether the change comes from the API, the admin routes or a test.
"""

from __future__ import annotations

import copy
import hashlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from portal.integrations.emulation.clock import EmulatorClock
from portal.integrations.emulation.control import EmulatorControl
from portal.integrations.emulation.faults import FaultRegistry
from portal.integrations.sentinelone.emulator.errors import (
    AUTHENTICATION,
    PERMISSION,
    S1Error,
    invalid,
    not_found,
    s1_error_body,
)

API_PREFIX = "/web/api/v2.1"

INCIDENT_STATUSES = ("unresolved", "in_progress", "resolved")
ANALYST_VERDICTS = ("true_positive", "suspicious", "false_positive", "undefined")
MITIGATION_STATUSES = ("not_mitigated", "mitigated", "marked_as_benign", "partially_mitigated")
CONFIDENCE_LEVELS = ("malicious", "suspicious")
ALERT_SEVERITIES = ("Low", "Medium", "High", "Critical")
SCOPES = ("global", "account", "site")
TOKEN_KINDS = ("console", "service")

# Threat and alert values print as words; cloud-detection alerts print Title Case (see alert_word).
DESCRIPTIONS = {
    "unresolved": "Unresolved",
    "in_progress": "In Progress",
    "resolved": "Resolved",
    "true_positive": "True positive",
    "suspicious": "Suspicious",
    "false_positive": "False positive",
    "undefined": "Undefined",
    "not_mitigated": "Not mitigated",
    "mitigated": "Mitigated",
    "marked_as_benign": "Marked as benign",
    "partially_mitigated": "Partially mitigated",
}

# Permission names: the ones S1 documents where known (Threats.updateIncidentStatus,
# "Custom Alerts.view"); the rest are this emulator's names for the same idea.
PERMISSIONS = (
    "Accounts.view",
    "Sites.view",
    "Endpoints.view",
    "Threats.view",
    "Threats.updateIncidentStatus",
    "Threats.updateAnalystVerdict",
    "Threats.addNote",
    "Custom Alerts.view",
    "Custom Alerts.updateIncidentStatus",
    "Custom Alerts.updateAnalystVerdict",
    "Service Users.view",
)
VIEW_PERMISSIONS = ("Accounts.view", "Sites.view", "Endpoints.view", "Threats.view", "Custom Alerts.view")
ROLES: dict[str, tuple[str, ...]] = {
    "Admin": PERMISSIONS,
    "SOC": tuple(name for name in PERMISSIONS if name != "Service Users.view"),
    "Viewer": VIEW_PERMISSIONS,
}


FIRST_GENERATED_ID = 100_000  # below it: the fixed ids fixtures give accounts and sites


def console_id_base(console: str | None) -> int:
    """Ids look like S1's (19-digit numeric strings) and differ between the demo's consoles."""
    offsets = {"usea1": 1, "euce1": 2}
    return 1_700_000_000_000_000_000 + offsets.get(console or "", 9) * 10_000_000_000_000_000


def iso(moment: datetime) -> str:
    """S1's time format: UTC with microseconds and a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def alert_word(value: str) -> str:
    """A cloud-detection alert prints ``in_progress`` as ``In Progress`` (and filters by ``IN_PROGRESS``)."""
    return " ".join(part.capitalize() for part in value.split("_"))


@dataclass
class ApiUser:
    """A console user or service user and its one API token."""

    id: str
    full_name: str
    email: str
    kind: str  # console | service
    scope: str  # global | account | site
    scope_ids: tuple[str, ...]  # account ids (account scope) or site ids (site scope)
    role: str
    token: str
    token_created_at: datetime
    token_expires_at: datetime
    permissions: tuple[str, ...] = ()  # () = the role's
    revoked: bool = False
    introspectable: bool = True  # False: POST users/api-token-details refuses this token (some service users)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    last_activation: datetime | None = None

    def allows(self, permission: str) -> bool:
        if self.scope == "site" and permission == "Accounts.view":
            return False  # accounts are above a site user's scope
        return permission in (self.permissions or ROLES.get(self.role, ()))

    def valid_at(self, moment: datetime) -> bool:
        return not self.revoked and moment < self.token_expires_at

    def api_token_json(self) -> dict[str, str]:
        return {"createdAt": iso(self.token_created_at), "expiresAt": iso(self.token_expires_at)}


@dataclass
class Note:
    id: str
    text: str
    creator: str
    creator_id: str
    created_at: datetime
    updated_at: datetime
    edited: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "creator": self.creator,
            "creatorId": self.creator_id,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
            "edited": self.edited,
        }


@dataclass
class Threat:
    id: str
    agent_id: str
    info: dict[str, Any]  # threatInfo
    detection: dict[str, Any]  # agentDetectionInfo: the agent as it was when the threat was found
    mitigation: list[dict[str, Any]]
    indicators: list[dict[str, Any]]
    notes: dict[str, Note] = field(default_factory=dict)


@dataclass
class Alert:
    id: str
    agent_id: str
    info: dict[str, Any]  # alertInfo, values in Title Case
    rule: dict[str, Any]  # ruleInfo
    detection: dict[str, Any]  # agentDetectionInfo
    process: dict[str, Any]  # sourceProcessInfo
    parent_process: dict[str, Any]
    target_process: dict[str, Any]


class S1State:
    """One console. ``console`` names the fixture to seed it with (None: an empty console)."""

    def __init__(self, console: str | None = "usea1", *, clock: EmulatorClock | None = None) -> None:
        # Faults without a path prefix hit the management API only, never /_emulator.
        self.control = EmulatorControl(
            clock=clock or EmulatorClock(),
            faults=FaultRegistry((f"{API_PREFIX}/",)),
            error_body=s1_error_body,
            page_items=page_records,
        )
        self.console = console
        self.name = "SentinelOne"
        self.accounts: dict[str, dict[str, Any]] = {}
        self.sites: dict[str, dict[str, Any]] = {}
        self.agents: dict[str, dict[str, Any]] = {}
        self.threats: dict[str, Threat] = {}
        self.alerts: dict[str, Alert] = {}
        self.users: dict[str, ApiUser] = {}
        self._next_id = FIRST_GENERATED_ID
        self.reset()

    @property
    def clock(self) -> EmulatorClock:
        return self.control.clock

    @property
    def faults(self) -> FaultRegistry:
        return self.control.faults

    def now(self) -> datetime:
        return self.clock.now()

    def reset(self) -> None:
        """Back to the seeded console: no faults or requests, fixture tokens (the clock stays as set)."""
        self.control.reset()
        for table in (self.accounts, self.sites, self.agents, self.threats, self.alerts, self.users):
            table.clear()
        self._next_id = FIRST_GENERATED_ID
        if self.console is not None:
            from portal.integrations.sentinelone.emulator.fixtures import seed_console

            seed_console(self, self.console)

    def new_id(self) -> str:
        """A numeric-string id, unique in this console, the same after every reset."""
        self._next_id += 1
        return str(self.id_base + self._next_id)

    @property
    def id_base(self) -> int:
        return console_id_base(self.console)

    # -- tokens and what they may see ----------------------------------------------------------

    def authenticate(self, header: str | None) -> ApiUser:
        scheme, _, token = (header or "").partition(" ")
        user = self.user_by_token(token.strip()) if scheme == "ApiToken" else None
        if user is None or not user.valid_at(self.now()):
            raise S1Error(401, AUTHENTICATION)
        user.last_activation = self.now()
        return user

    def user_by_token(self, token: str) -> ApiUser | None:
        return next((user for user in self.users.values() if token and secrets.compare_digest(user.token, token)), None)

    def require(self, user: ApiUser, permission: str) -> None:
        if not user.allows(permission):
            raise S1Error(403, PERMISSION, f"The user {user.full_name} lacks the permission {permission}.")

    def visible_site_ids(self, user: ApiUser) -> set[str]:
        if user.scope == "global":
            return set(self.sites)
        if user.scope == "account":
            return {site_id for site_id, site in self.sites.items() if site["accountId"] in user.scope_ids}
        return {site_id for site_id in user.scope_ids if site_id in self.sites}

    def visible_account_ids(self, user: ApiUser) -> set[str]:
        if user.scope == "global":
            return set(self.accounts)
        if user.scope == "account":
            return {account_id for account_id in user.scope_ids if account_id in self.accounts}
        return set()  # a site-scope user sees no accounts

    def create_user(
        self,
        full_name: str,
        *,
        kind: str = "console",
        scope: str = "global",
        scope_ids: Iterable[str] = (),
        role: str = "Admin",
        expires_at: datetime | None = None,
        token: str | None = None,
        email: str | None = None,
        permissions: Iterable[str] = (),
        introspectable: bool = True,
        user_id: str | None = None,
    ) -> ApiUser:
        if kind not in TOKEN_KINDS:
            raise invalid(f"kind: must be one of {', '.join(TOKEN_KINDS)}.")
        if scope not in SCOPES:
            raise invalid(f"scope: must be one of {', '.join(SCOPES)}.")
        if role not in ROLES:
            raise invalid(f"role: must be one of {', '.join(ROLES)}.")
        unknown = set(permissions) - set(PERMISSIONS)
        if unknown:
            raise invalid(f"permissions: unknown {', '.join(sorted(unknown))}.")
        ids = tuple(scope_ids)
        table = self.accounts if scope == "account" else self.sites
        if scope != "global" and (not ids or any(scope_id not in table for scope_id in ids)):
            raise invalid(f"scopeIds: name existing {scope} ids for a {scope}-scope user.")
        if token is not None and self.user_by_token(token) is not None:
            raise invalid("token: that token belongs to another user already.")
        now = self.now()
        # Console-user tokens live 30 days; a service user's lifetime is chosen by its creator.
        default_life = timedelta(days=30 if kind == "console" else 365)
        user = ApiUser(
            id=user_id or self.new_id(),
            full_name=full_name,
            email=email or f"{full_name.lower().replace(' ', '.')}@msp.example",
            kind=kind,
            scope=scope,
            scope_ids=ids,
            role=role,
            token=token or secrets.token_urlsafe(60),
            token_created_at=now,
            token_expires_at=expires_at or now + default_life,
            permissions=tuple(permissions),
            introspectable=introspectable,
            created_at=now,
        )
        self.users[user.id] = user
        return user

    def user(self, user_id: str) -> ApiUser:
        user = self.users.get(user_id)
        if user is None:
            raise not_found(f"There is no user {user_id}.")
        return user

    def scope_roles(self, user: ApiUser) -> list[dict[str, Any]]:
        """The ``scopeRoles`` of a user record: one entry per account or site of its scope."""
        role_id = str(self.id_base + 900 + list(ROLES).index(user.role))
        entries = []
        for scope_id in user.scope_ids:
            record = self.accounts.get(scope_id) if user.scope == "account" else self.sites.get(scope_id)
            if record is None:
                continue
            account_name = record["name"] if user.scope == "account" else record["accountName"]
            entries.append(
                {
                    "accountName": account_name,
                    "id": scope_id,
                    "name": record["name"],
                    "roleId": role_id,
                    "roleName": user.role,
                    "roles": [user.role],
                }
            )
        return entries

    # -- accounts and sites --------------------------------------------------------------------

    def account(self, account_id: str) -> dict[str, Any]:
        account = self.accounts.get(account_id)
        if account is None:
            raise not_found(f"There is no account {account_id}.")
        return account

    def site(self, site_id: str) -> dict[str, Any]:
        site = self.sites.get(site_id)
        if site is None:
            raise not_found(f"There is no site {site_id}.")
        return site

    def agent(self, agent_id: str) -> dict[str, Any]:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise not_found(f"There is no agent {agent_id}.")
        return agent

    def threat(self, threat_id: str) -> Threat:
        threat = self.threats.get(threat_id)
        if threat is None:
            raise not_found(f"There is no threat {threat_id}.")
        return threat

    def alert(self, alert_id: str) -> Alert:
        alert = self.alerts.get(alert_id)
        if alert is None:
            raise not_found(f"There is no alert {alert_id}.")
        return alert

    def create_account(
        self,
        name: str,
        *,
        account_id: str | None = None,
        account_type: str = "Paid",
        usage_type: str = "customer",
        created_at: datetime | None = None,
        total_licenses: int = 0,
        external_id: str | None = None,
    ) -> dict[str, Any]:
        if not name.strip():
            raise invalid("name: An account needs a name.")
        if account_id is not None and account_id in self.accounts:
            raise invalid(f"id: Account {account_id} exists already.")
        moment = iso(created_at or self.now())
        new_id = account_id or self.new_id()
        account: dict[str, Any] = {
            "id": new_id,
            "name": name.strip(),
            "accountType": account_type,
            "state": "active",
            "activeAgents": 0,
            "numberOfSites": 0,
            "totalLicenses": total_licenses,
            "unlimitedLicenses": total_licenses == 0,
            "createdAt": moment,
            "updatedAt": moment,
            "expiration": None,
            "externalId": external_id,
            "usageType": usage_type,
            "skus": [{"type": "Core", "name": "Complete", "totalLicenses": total_licenses, "unlimited": True}],
        }
        self.accounts[new_id] = account
        return account

    def create_site(
        self,
        account_id: str,
        name: str,
        *,
        site_id: str | None = None,
        site_type: str = "Paid",
        is_default: bool = False,
        created_at: datetime | None = None,
        total_licenses: int = 0,
        external_id: str | None = None,
    ) -> dict[str, Any]:
        account = self.account(account_id)
        if not name.strip():
            raise invalid("name: A site needs a name.")
        if site_id is not None and site_id in self.sites:
            raise invalid(f"id: Site {site_id} exists already.")
        moment = iso(created_at or self.now())
        new_id = site_id or self.new_id()
        site: dict[str, Any] = {
            "id": new_id,
            "name": name.strip(),
            "accountId": account["id"],
            "accountName": account["name"],
            "siteType": site_type,
            "state": "active",
            "healthStatus": True,
            "suite": "Complete",
            "sku": "Complete",
            "isDefault": is_default,
            "createdAt": moment,
            "updatedAt": moment,
            "expiration": None,
            "unlimitedLicenses": total_licenses == 0,
            "totalLicenses": total_licenses,
            "activeLicenses": 0,
            "creator": "MSP Admin",
            "creatorId": str(self.id_base),
            "externalId": external_id,
            # Derived from the id, so a frozen clock gives identical consoles (it guards nothing here).
            "registrationToken": hashlib.sha256(f"site-token:{new_id}".encode()).hexdigest()[:32],
            "groupId": self.new_id(),  # each site's "Default Group"
        }
        self.sites[new_id] = site
        return site

    def account_json(self, account: Mapping[str, Any]) -> dict[str, Any]:
        sites = [site for site in self.sites.values() if site["accountId"] == account["id"]]
        agents = [agent for agent in self.agents.values() if agent["accountId"] == account["id"]]
        return {
            **account,
            "numberOfSites": len(sites),
            "activeAgents": sum(1 for agent in agents if not agent["isDecommissioned"]),
        }

    def site_json(self, site: Mapping[str, Any]) -> dict[str, Any]:
        active = sum(1 for agent in self.agents.values() if agent["siteId"] == site["id"] and agent["isActive"])
        record = {key: value for key, value in site.items() if key not in ("groupId",)}
        return record | {"accountName": self.account(site["accountId"])["name"], "activeLicenses": active}

    # -- agents --------------------------------------------------------------------------------

    def add_agent(self, site_id: str, record: Mapping[str, Any]) -> dict[str, Any]:
        """An endpoint that installed the agent into ``site_id``; ``record`` holds its API fields."""
        from portal.integrations.sentinelone.emulator.records import new_agent

        site = self.site(site_id)
        agent = new_agent(self, site, dict(record))
        if agent["id"] in self.agents:
            raise invalid(f"id: Agent {agent['id']} exists already.")
        self.agents[agent["id"]] = agent
        return agent

    def update_agent(self, agent_id: str, changes: Mapping[str, Any], *, at: datetime | None = None) -> dict[str, Any]:
        agent = self.agent(agent_id)
        fixed = {"id", "accountId", "accountName", "siteName", "groupId", "groupName", "createdAt", "registeredAt"}
        unknown = set(changes) - (set(agent) - fixed)
        if unknown:
            raise invalid(f"{', '.join(sorted(unknown))}: cannot be changed (unknown or derived fields).")
        if "siteId" in changes and changes["siteId"] != agent["siteId"]:
            site = self.site(str(changes["siteId"]))
            agent.update(
                siteId=site["id"],
                siteName=site["name"],
                accountId=site["accountId"],
                accountName=site["accountName"],
                groupId=site["groupId"],
                groupName="Default Group",
            )
        agent.update({key: copy.deepcopy(value) for key, value in changes.items() if key != "siteId"})
        agent["updatedAt"] = iso(at or self.now())
        return agent

    def decommission_agent(self, agent_id: str) -> dict[str, Any]:
        return self.update_agent(
            agent_id, {"isDecommissioned": True, "isActive": False, "networkStatus": "disconnected"}
        )

    def remove_agent(self, agent_id: str) -> None:
        """The endpoint is gone from the console (uninstalled and purged): lists no longer show it."""
        self.agent(agent_id)
        del self.agents[agent_id]

    def refresh_active_threats(self, agent_id: str) -> None:
        agent = self.agents.get(agent_id)
        if agent is None:
            return
        active = sum(
            1
            for threat in self.threats.values()
            if threat.agent_id == agent_id and threat.info["incidentStatus"] != "resolved"
        )
        agent["activeThreats"], agent["infected"] = active, active > 0

    # -- threats -------------------------------------------------------------------------------

    def raise_threat(self, agent_id: str, details: Mapping[str, Any]) -> Threat:
        from portal.integrations.sentinelone.emulator.records import new_threat

        threat = new_threat(self, self.agent(agent_id), dict(details))
        if threat.id in self.threats:
            raise invalid(f"id: Threat {threat.id} exists already.")
        self.threats[threat.id] = threat
        self.refresh_active_threats(agent_id)
        return threat

    def set_threat(
        self,
        threat: Threat,
        *,
        incident_status: str | None = None,
        analyst_verdict: str | None = None,
        mitigation_status: str | None = None,
        at: datetime | None = None,
    ) -> bool:
        """Change a threat as an analyst would; True when something changed (and ``updatedAt`` moved)."""
        changes = {
            "incidentStatus": check_choice("incidentStatus", incident_status, INCIDENT_STATUSES),
            "analystVerdict": check_choice("analystVerdict", analyst_verdict, ANALYST_VERDICTS),
            "mitigationStatus": check_choice("mitigationStatus", mitigation_status, MITIGATION_STATUSES),
        }
        changed = False
        for key, value in changes.items():
            if value is not None and threat.info[key] != value:
                threat.info[key] = value
                threat.info[f"{key}Description"] = DESCRIPTIONS[value]
                changed = True
        if changed or at is not None:
            threat.info["updatedAt"] = iso(at or self.now())
        self.refresh_active_threats(threat.agent_id)
        return changed

    def add_note(self, threat: Threat, text: str, *, creator: ApiUser | None = None, by: str = "") -> Note:
        if not isinstance(text, str) or not text.strip():
            raise invalid("text: A note needs text.")
        now = self.now()
        note = Note(
            id=self.new_id(),
            text=text,
            creator=creator.full_name if creator else (by or "Console Analyst"),
            creator_id=creator.id if creator else str(self.id_base + 1),
            created_at=now,
            updated_at=now,
        )
        threat.notes[note.id] = note
        return note

    def note(self, threat: Threat, note_id: str) -> Note:
        note = threat.notes.get(note_id)
        if note is None:
            raise not_found(f"There is no note {note_id} on threat {threat.id}.")
        return note

    # -- cloud-detection alerts ----------------------------------------------------------------

    def raise_alert(self, agent_id: str, details: Mapping[str, Any]) -> Alert:
        from portal.integrations.sentinelone.emulator.records import new_alert

        alert = new_alert(self, self.agent(agent_id), dict(details))
        if alert.id in self.alerts:
            raise invalid(f"id: Alert {alert.id} exists already.")
        self.alerts[alert.id] = alert
        return alert

    def set_alert(
        self,
        alert: Alert,
        *,
        incident_status: str | None = None,
        analyst_verdict: str | None = None,
        at: datetime | None = None,
    ) -> bool:
        """Change an alert (values in write-body lowercase; the record prints them Title Case)."""
        changes = {
            "incidentStatus": check_choice("incidentStatus", incident_status, INCIDENT_STATUSES),
            "analystVerdict": check_choice("analystVerdict", analyst_verdict, ANALYST_VERDICTS),
        }
        changed = False
        for key, value in changes.items():
            if value is not None and alert.info[key] != alert_word(value):
                alert.info[key] = alert_word(value)
                changed = True
        if changed or at is not None:
            alert.info["updatedAt"] = iso(at or self.now())
        return changed


def check_choice(name: str, value: str | None, choices: tuple[str, ...]) -> str | None:
    if value is not None and value not in choices:
        raise invalid(f"{name}: must be one of {', '.join(choices)}.")
    return value


def page_records(body: Any) -> list[Any] | None:
    """Where a page's records are: ``data`` (a list), or ``data.sites`` for the sites list."""
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(data, dict):
        data = data.get("sites")
    return data if isinstance(data, list) else None
