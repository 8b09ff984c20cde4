"""The data a fresh Acme emulator starts with: two tenants, a handful of cases each, comments.

Ids are fixed (UUIDv5 of tenant and number) and times are fixed offsets from the emulator
clock, so a frozen clock gives byte-identical data, and a running one gives cases from the
last few days (inside the sync's first look-back). A demo OAuth client is registered too.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from portal.integrations.acme.emulator.state import AcmeState

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://acme.test/socdesk-emulator")

DEMO_CLIENT_ID = "socdesk-demo"
DEMO_CLIENT_SECRET = "acme-demo-secret"  # noqa: S105  (a published demo credential for a local emulator)
DEMO_REDIRECT_URIS = (
    "http://127.0.0.1:8000/authcallback",
    "http://localhost:8000/authcallback",
    "http://testserver.local/authcallback",
)

TENANTS = (("contoso", "Contoso Ltd"), ("fabrikam", "Fabrikam Inc"))

# title, severity, status, classification, assignee, hours before "now", comments (author, body)
SeedCase = tuple[str, str, str, str | None, str | None, int, tuple[tuple[str, str], ...]]
CASES: dict[str, tuple[SeedCase, ...]] = {
    "contoso": (
        (
            "Impossible travel for j.doe@contoso.example",
            "high",
            "active",
            None,
            "senior@demo.socdesk.test",
            70,
            (("analyst@acme.test", "Sign-ins from Lisbon and Singapore 20 minutes apart."),),
        ),
        ("Malware detected on CON-WS014", "high", "new", None, None, 50, ()),
        (
            "Phishing report: invoice.html",
            "medium",
            "closed",
            "true_positive",
            None,
            40,
            (("analyst@acme.test", "Message purged from 12 mailboxes."), ("soc@contoso.example", "Thanks!")),
        ),
        ("Unusual admin role assignment", "low", "new", None, None, 20, ()),
    ),
    "fabrikam": (
        (
            "Brute force against VPN gateway",
            "medium",
            "active",
            None,
            None,
            60,
            (("analyst@acme.test", "Source IPs blocked at the firewall."),),
        ),
        ("Test alert from EDR onboarding", "low", "closed", "benign_positive", None, 30, ()),
        ("Ransomware canary file touched on FAB-FS01", "high", "new", None, None, 5, ()),
    ),
}


def case_id(tenant: str, number: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"case:{tenant}:{number}"))


def comment_id(tenant: str, number: int, index: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"comment:{tenant}:{number}:{index}"))


def seed_fixtures(state: AcmeState) -> None:
    now = state.now().replace(second=0, microsecond=0)
    state.oauth.register_client(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URIS, name="socdesk (demo)")
    for tenant, name in TENANTS:
        state.create_tenant(tenant, name)
        for offset, (title, severity, status, classification, assignee, hours, comments) in enumerate(CASES[tenant]):
            number = 1001 + offset
            created = now - timedelta(hours=hours)
            case = state.create_case(
                tenant,
                title=title,
                description=f"{title}. Raised by Acme detection rules for {name}.",
                severity=severity,
                status=status,
                classification=classification,
                assignee=assignee,
                case_id=case_id(tenant, number),
                created_at=created,
                modified_at=created,
            )
            for index, (author, body) in enumerate(comments):
                state.add_comment(
                    case,
                    body=body,
                    author=author,
                    comment_id=comment_id(tenant, number, index),
                    created_at=created + timedelta(minutes=10 * (index + 1)),
                )
            # The last change is the last comment (or the creation): fixed, whatever the real time.
            case.modified_at = created + timedelta(minutes=10 * len(comments))
            case.version = 1
