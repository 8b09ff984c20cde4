"""The data a fresh Sentinel emulator starts with.

A demo multi-tenant app (``DEMO_CLIENT_ID`` / ``DEMO_CLIENT_SECRET``), the MSP's own tenant (no
subscriptions: its tokens are for the wrong tenant on customers' subscriptions), and two customer
tenants matching the demo's clients, each with users, a subscription, a resource group and a
Sentinel workspace holding about twenty incidents from the last ten days (some closed, some with
comments, alerts and entities). Northwind's administrator has granted the app admin consent (its
users skip the consent screen); Woodgrove has not (its users see it).

Ids are fixed (UUIDv5) and times are fixed offsets from the emulator clock, so a frozen clock
gives the same data every time. :func:`demo_activity_step` plays a customer's SOC now and then.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from portal.integrations.sentinel.emulator.times import to_ticks

if TYPE_CHECKING:
    from portal.integrations.sentinel.emulator.model import Incident
    from portal.integrations.sentinel.emulator.state import SentinelState

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://sentinel.test/socdesk-emulator")

DEMO_CLIENT_ID = "6f1c2b3a-5d4e-4f60-8a7b-9c0d1e2f3a4b"
DEMO_CLIENT_SECRET = "sentinel-demo-secret-Q7~v"  # noqa: S105  (a published demo credential for a local emulator)
DEMO_APP_NAME = "socdesk SOC portal (demo)"
DEMO_REDIRECT_URIS = (
    "http://127.0.0.1:8000/authcallback",
    "http://localhost:8000/authcallback",
    "http://testserver.local/authcallback",
)
DEMO_PASSWORD = "Sentinel-demo-2026!"  # noqa: S105  (every fixture user's password, published for the demo)


def _id(kind: str, key: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{kind}:{key}"))


@dataclass(frozen=True)
class DemoTenant:
    key: str
    client_name: str  # the socdesk demo client this tenant belongs to
    display_name: str
    domain: str
    admin_consent: bool
    analyst: tuple[str, str]  # the customer's own SOC analyst (UPN local part, display name)

    @property
    def tenant_id(self) -> str:
        return _id("tenant", self.key)

    @property
    def subscription_id(self) -> str:
        return _id("subscription", self.key)

    @property
    def resource_group(self) -> str:
        return "rg-security"

    @property
    def workspace(self) -> str:
        return f"law-{self.key}-sentinel"

    @property
    def admin_upn(self) -> str:
        """The MSP's account in the customer tenant: Global Administrator, Sentinel Responder."""
        return f"msp.admin@{self.domain}"

    @property
    def reader_upn(self) -> str:
        """A Sentinel Reader: reads work, writes get 403 AuthorizationFailed."""
        return f"soc.reader@{self.domain}"

    @property
    def analyst_upn(self) -> str:
        return f"{self.analyst[0]}@{self.domain}"


MSP_TENANT_ID = _id("tenant", "msp")
MSP_DOMAIN = "socdeskmsp.onmicrosoft.com"
MSP_USER = f"analyst@{MSP_DOMAIN}"
TENANTS = (
    DemoTenant(
        "northwind", "Northwind Traders", "Northwind Traders", "northwindtraders.onmicrosoft.com", True,
        ("megan.bowen", "Megan Bowen"),
    ),
    DemoTenant(
        "woodgrove", "Woodgrove Credit Union", "Woodgrove Credit Union", "woodgrovecu.onmicrosoft.com", False,
        ("alex.wilber", "Alex Wilber"),
    ),
)  # fmt: skip

# title, severity, tactics, alert product, entity kinds
TEMPLATES: tuple[tuple[str, str, tuple[str, ...], str, tuple[str, ...]], ...] = (
    ("Multiple failed sign-ins followed by success for {user}", "Medium", ("CredentialAccess",),
     "Azure Active Directory Identity Protection", ("Account", "Ip")),
    ("Impossible travel activity for {user}", "Medium", ("InitialAccess",), "Microsoft Cloud App Security",
     ("Account", "Ip")),
    ("Suspicious PowerShell command line on {host}", "High", ("Execution",), "Microsoft Defender for Endpoint",
     ("Host", "Process")),
    ("Ransomware behaviour detected on {host}", "High", ("Impact",), "Microsoft Defender for Endpoint",
     ("Host", "File")),
    ("New inbox rule forwards mail externally for {user}", "Medium", ("Collection", "Exfiltration"),
     "Microsoft Defender for Office 365", ("Account", "Mailbox")),
    ("Phishing email delivered to {user}", "Low", ("InitialAccess",), "Microsoft Defender for Office 365",
     ("Account", "Url")),
    ("Rare subscription-level operation in Azure", "Low", ("Persistence",), "Azure Sentinel", ("Account",)),
    ("Mass download by {user} from SharePoint", "Medium", ("Exfiltration",), "Microsoft Cloud App Security",
     ("Account", "CloudApplication")),
    ("Connection to known malicious IP from {host}", "High", ("CommandAndControl",), "Azure Sentinel",
     ("Host", "Ip")),
    ("Informational: new admin consent granted to an app", "Informational", ("Persistence",), "Azure Sentinel",
     ("Account",)),
)  # fmt: skip
CLOSURES = (
    ("TruePositive", "SuspiciousActivity", "Contained: account reset and sessions revoked."),
    ("FalsePositive", "IncorrectAlertLogic", "Rule fires on the backup service account."),
    ("BenignPositive", "SuspiciousButExpected", "Planned penetration test."),
    ("FalsePositive", "InaccurateData", "Geo-IP data was wrong for the VPN exit."),
    ("Undetermined", None, "Not enough data to decide."),
)
INCIDENTS_PER_WORKSPACE = 20
USERS = ("adele.vance", "lee.gu", "isaiah.langer", "nestor.wilke", "pradeep.gupta", "lidia.holloway")


def incident_name(tenant_key: str, number: int) -> str:
    return _id("incident", f"{tenant_key}:{number}")


def comment_name(tenant_key: str, number: int, index: int) -> str:
    return _id("comment", f"{tenant_key}:{number}:{index}")


def _entity(kind: str, tenant: DemoTenant, user: str, host: str, rng: random.Random) -> dict[str, Any]:
    address = f"{rng.choice((185, 45, 91, 203))}.{rng.randint(1, 254)}.{rng.randint(1, 254)}.{rng.randint(1, 254)}"
    properties: dict[str, dict[str, Any]] = {
        "Account": {"accountName": user, "upnSuffix": tenant.domain, "friendlyName": user},
        "Ip": {"address": address, "friendlyName": address},
        "Host": {"hostName": host, "dnsDomain": tenant.domain, "osFamily": "Windows", "friendlyName": host},
        "Process": {
            "commandLine": "powershell.exe -enc SQBFAFgA",
            "processId": "4242",
            "friendlyName": "powershell.exe",
        },
        "File": {"fileName": "invoice.pdf.exe", "directory": "C:\\Users\\Public", "friendlyName": "invoice.pdf.exe"},
        "Mailbox": {"mailboxPrimaryAddress": f"{user}@{tenant.domain}", "friendlyName": f"{user}@{tenant.domain}"},
        "Url": {
            "url": "https://login-micros0ft.example/reset",
            "friendlyName": "https://login-micros0ft.example/reset",
        },
        "CloudApplication": {"appId": 20892, "appName": "Microsoft SharePoint Online", "friendlyName": "SharePoint"},
    }
    return {"kind": kind, "properties": properties[kind]}


def _build_incident(
    state: SentinelState, tenant: DemoTenant, rng: random.Random, *, created: int, name: str | None
) -> Incident:
    workspace = state.workspace(tenant.workspace)
    title, severity, tactics, product, kinds = rng.choice(TEMPLATES)
    user = rng.choice(USERS)
    host = f"{tenant.key[:3].upper()}-WS{rng.randint(100, 999)}"
    text = title.format(user=f"{user}@{tenant.domain}", host=host)
    return state.create_incident(
        workspace,
        {
            "title": text,
            "description": f"{text}. Raised by the scheduled analytics rule '{title.split(' {')[0]}'.",
            "severity": severity,
            "status": "New",
            "tactics": list(tactics),
            "relatedAnalyticRuleIds": [f"{workspace.resource_id}/providers/Microsoft.SecurityInsights/alertRules/"
                                       f"{_id('rule', title)}"],
            "firstActivityTimeUtc": None,
        },
        name=name,
        alerts=[{"alertDisplayName": text, "severity": severity, "productName": product, "tactics": list(tactics),
                 "compromisedEntity": host if "Host" in kinds else f"{user}@{tenant.domain}",
                 "name": _id("alert", name) if name else None}],
        entities=[_entity(kind, tenant, user, host, rng) | ({"name": _id("entity", f"{name}:{kind}")} if name else {})
                  for kind in kinds],
        created=created,
        modified=created,
    )  # fmt: skip


def seed_fixtures(state: SentinelState) -> None:
    now = state.clock.now().replace(second=0, microsecond=0)
    state.identity.register_client(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URIS, name=DEMO_APP_NAME)
    directory = state.directory
    directory.add_tenant("socdesk MSP", MSP_DOMAIN, tenant_id=MSP_TENANT_ID)
    directory.add_user(MSP_TENANT_ID, MSP_USER, "MSP Analyst", DEMO_PASSWORD, object_id=_id("user", MSP_USER))
    for tenant in TENANTS:
        directory.add_tenant(tenant.display_name, tenant.domain, tenant_id=tenant.tenant_id)
        if tenant.admin_consent:
            directory.tenant(tenant.tenant_id).admin_consents.add(DEMO_CLIENT_ID)
        for upn, name, admin in (
            (tenant.admin_upn, "MSP Administrator", True),
            (tenant.reader_upn, "SOC Reader", False),
            (tenant.analyst_upn, tenant.analyst[1], False),
        ):
            directory.add_user(tenant.tenant_id, upn, name, DEMO_PASSWORD, object_id=_id("user", upn), admin=admin)
        state.add_subscription(tenant.tenant_id, f"{tenant.display_name} - Production", tenant.subscription_id)
        workspace = state.add_workspace(
            tenant.subscription_id, tenant.resource_group, tenant.workspace, customer_id=_id("workspace", tenant.key)
        )
        state.set_role(workspace, tenant.admin_upn, "Microsoft Sentinel Responder")
        state.set_role(workspace, tenant.reader_upn, "Microsoft Sentinel Reader")
        state.set_role(workspace, tenant.analyst_upn, "Microsoft Sentinel Responder")
        _seed_incidents(state, tenant, now)


def _seed_incidents(state: SentinelState, tenant: DemoTenant, now: Any) -> None:
    rng = random.Random(tenant.key)  # noqa: S311  (demo data, not security)
    workspace = state.workspace(tenant.workspace)
    analyst = state.directory.user(tenant.analyst_upn)
    for index in range(INCIDENTS_PER_WORKSPACE):
        number = index + 1
        # Oldest first, so incident numbers follow creation time: ten days back to an hour ago.
        created_at = now - timedelta(hours=240 - index * 12 + rng.randint(0, 5))
        incident = _build_incident(
            state, tenant, rng, created=to_ticks(created_at), name=incident_name(tenant.key, number)
        )
        last = created_at
        if index % 3 == 0 or index % 4 == 1:
            incident.owner = state.resolve_owner(workspace, analyst.user_principal_name)
            incident.status = "Active"
        for comment_index in range(index % 3):
            last = created_at + timedelta(minutes=20 * (comment_index + 1))
            state.put_comment(
                workspace,
                incident,
                comment_name(tenant.key, number, comment_index),
                ("Investigating: pulled sign-in logs for the account.", "Blocked the source IP at the firewall.")[
                    comment_index
                ],
                state.author_of(analyst),
                created=to_ticks(last),
            )
        if index % 4 == 0 and index < 16:
            classification, reason, note = CLOSURES[(index // 4) % len(CLOSURES)]
            incident.status = "Closed"
            incident.classification, incident.classification_reason = classification, reason
            incident.classification_comment = note
            last = last + timedelta(hours=2)
        # The last change is fixed, whatever the real time; etags start fresh.
        incident.modified = to_ticks(last) + 7
        incident.first_activity = to_ticks(created_at - timedelta(minutes=15))
        incident.last_activity = to_ticks(created_at - timedelta(minutes=5))
    state.logic_apps.pending.clear()  # seeding is not activity anyone is told about


def demo_activity_step(state: SentinelState, rng: random.Random | None = None) -> Incident:
    """What a customer's SOC does now and then in the demo: a new incident, or a comment on an open one.

    Call ``await state.logic_apps.flush()`` afterwards to deliver the Logic App payloads it caused.
    """
    rng = rng or random.Random()  # noqa: S311  (demo data, not security)
    tenant = rng.choice(TENANTS)
    workspace = state.workspace(tenant.workspace)
    open_incidents = [i for i in workspace.incidents.values() if i.status != "Closed"]
    if open_incidents and rng.random() < 0.3:
        incident = rng.choice(open_incidents)
        analyst = state.directory.user(tenant.analyst_upn)
        message = rng.choice(
            ("Escalated to the customer's IT lead.", "User confirmed the activity was theirs.", "Isolated the device.")
        )
        state.put_comment(workspace, incident, str(uuid.uuid4()), message, state.author_of(analyst))
        return incident
    return _build_incident(state, tenant, rng, created=state.now_ticks(), name=None)
