"""The demo's believable MSP: clients with sites and assets, staff, and 30 days of ticket history.

Seeded once into an empty database (re-running the demo keeps whatever people changed).
Random but reproducible: the same seed gives the same MSP.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.db.base import utcnow
from portal.domain.accounts.models import Role, User, UserClient
from portal.domain.accounts.service import NewUser, create_user, find_by_email
from portal.domain.assets.models import Asset, AssetType
from portal.domain.clients.models import Client, Site
from portal.domain.tickets.models import (
    ActionKind,
    Priority,
    Status,
    Ticket,
    TicketAction,
    TicketSource,
    TicketType,
    Visibility,
)

CLIENTS = [
    ("Northwind Traders", "NWT", ["Seattle HQ", "Portland Warehouse"]),
    ("Contoso Dental Group", "CDG", ["Main Clinic", "Eastside Clinic", "Northgate Clinic"]),
    ("Fabrikam Legal LLP", "FAB", ["Chancery Lane"]),
    ("Tailspin Logistics", "TSL", ["Depot 1", "Depot 2"]),
    ("Adventure Works Outdoor", "AWO", ["Flagship Store"]),
    ("Wingtip Accounting", "WTA", ["Head Office"]),
    ("Litware Engineering", "LWE", ["Design Studio", "Test Lab"]),
    ("Proseware Clinics", "PRC", ["Riverside"]),
    ("Woodgrove Credit Union", "WCU", ["Branch 1", "Branch 2", "Operations"]),
    ("Blue Yonder Schools", "BYS", ["Primary Campus", "Secondary Campus"]),
    ("Lucerne Publishing", "LUP", ["Editorial"]),
    ("Alpine Ski Rentals", "ASR", ["Base Lodge"]),
]
STAFF = [
    ("analyst@demo.socdesk.test", "Ana Lyst", Role.ANALYST, 3),  # limited to three clients
    ("senior@demo.socdesk.test", "Sam Senior", Role.ANALYST, None),
    ("viewer@demo.socdesk.test", "Vic Viewer", Role.VIEWER, None),
]
ALERTS = [
    ("Suspicious PowerShell execution on {host}", TicketSource.SENTINEL),
    ("Impossible travel sign-in for {user}", TicketSource.SENTINEL),
    ("Mass download by {user} from SharePoint", TicketSource.SENTINEL),
    ("Multiple failed sign-ins followed by success for {user}", TicketSource.SENTINEL),
    ("Ransomware behaviour blocked on {host}", TicketSource.SENTINELONE),
    ("Malicious file quarantined on {host}", TicketSource.SENTINELONE),
    ("Credential dumping attempt (LSASS access) on {host}", TicketSource.SENTINELONE),
    ("Agent offline for 3 days: {host}", TicketSource.KASEYA),
    ("Patch failure: cumulative update on {host}", TicketSource.KASEYA),
    ("Phishing email reported by {user}", TicketSource.VISIONONE),
    ("Suspicious outbound connection from {host}", TicketSource.VISIONONE),
    ("New MFA method registered for {user}", TicketSource.MANUAL),
    ("User requests access review for {user}", TicketSource.MANUAL),
]
NOTES = [
    "Checked the device timeline; the process tree starts from an Office macro.",
    "Contacted the user by phone; they confirm the sign-in was theirs while travelling.",
    "Isolated the endpoint from the network pending investigation.",
    "Reset the user's password and revoked their sessions.",
    "No further activity seen in the last 24 hours.",
    "Customer asked for a summary for their insurer.",
    "Hash matches a known commodity loader; blocked tenant-wide.",
]
CLASSIFICATIONS = [
    ("TruePositive", "SuspiciousActivity"),
    ("BenignPositive", "SuspiciousButExpected"),
    ("FalsePositive", "IncorrectAlertLogic"),
    ("FalsePositive", "InaccurateData"),
]
FIRST_NAMES = ["alex", "bea", "chris", "dana", "eli", "fran", "gus", "hana", "ivan", "jo"]


@dataclass(frozen=True)
class DemoStaff:
    email: str
    password: str
    role: str


async def seed_demo_data(
    session: AsyncSession, password_for: dict[str, str], *, tickets: int = 360, seed: int = 7
) -> list[DemoStaff]:
    """Fill an empty database; returns the staff accounts created (with their passwords)."""
    if await session.scalar(select(func.count()).select_from(Client)):
        return []
    rng = random.Random(seed)  # noqa: S311  (demo data, not security)
    now = utcnow()
    asset_types = list((await session.scalars(select(AssetType))).all())
    priorities = sorted((await session.scalars(select(Priority))).all(), key=lambda p: p.rank)
    statuses = list((await session.scalars(select(Status))).all())
    types = {t.name: t for t in (await session.scalars(select(TicketType))).all()}
    open_statuses = [s for s in statuses if not s.is_closed]
    resolved = next(s for s in statuses if s.is_resolved)

    clients: list[tuple[Client, list[Site], list[Asset]]] = []
    for name, reference, site_names in CLIENTS:
        client = Client(name=name, reference=reference, notes=f"Managed security since {now.year - rng.randint(1, 6)}.")
        session.add(client)
        await session.flush()
        sites = [Site(client_id=client.id, name=site, is_main=index == 0) for index, site in enumerate(site_names)]
        session.add_all(sites)
        await session.flush()
        assets = []
        for number in range(rng.randint(6, 18)):
            asset_type = rng.choice(asset_types)
            host = f"{reference}-{asset_type.name[:2].upper()}{number + 1:03d}"
            assets.append(
                Asset(
                    client_id=client.id,
                    site_id=rng.choice(sites).id,
                    asset_type_id=asset_type.id,
                    name=host,
                    hostname=host.lower(),
                    serial=f"SN{rng.randrange(10**7, 10**8)}",
                    device_uuid=str(uuid.UUID(int=rng.getrandbits(128))),
                    status="active" if rng.random() > 0.08 else "inactive",
                )
            )
        session.add_all(assets)
        await session.flush()
        clients.append((client, sites, assets))

    staff: list[DemoStaff] = []
    agents: list[User] = []
    for email, display_name, role, limit in STAFF:
        password = password_for[email]
        user = await find_by_email(session, email) or await create_user(
            session, NewUser(email, display_name, role, password)
        )
        if limit:
            user.all_clients = False
            session.add_all(UserClient(user_id=user.id, client_id=c.id) for c, _, _ in clients[:limit])
        if role is not Role.VIEWER:
            agents.append(user)
        staff.append(DemoStaff(email, password, role.value))
    await session.flush()

    for _ in range(tickets):
        client, sites, assets = rng.choice(clients)
        asset = rng.choice(assets)
        template, source = rng.choice(ALERTS)
        summary = template.format(
            host=asset.name, user=f"{rng.choice(FIRST_NAMES)}@{(client.reference or 'demo').lower()}.example"
        )
        ticket_type = (
            types["Service Request"]
            if source is TicketSource.MANUAL and "access" in summary
            else (types["Security Incident"] if rng.random() < 0.3 else types["Alert"])
        )
        opened = now - timedelta(minutes=rng.randint(5, 30 * 24 * 60))
        closed = rng.random() < 0.7 and opened < now - timedelta(hours=2)
        agent = rng.choice(agents) if rng.random() < 0.75 else None
        ticket = Ticket(
            client_id=client.id,
            site_id=asset.site_id,
            asset_id=asset.id,
            ticket_type_id=ticket_type.id,
            priority_id=rng.choices(priorities, weights=[1, 3, 5, 3])[0].id,
            status_id=(resolved if closed else rng.choice(open_statuses)).id,
            agent_id=agent.id if agent else None,
            summary=summary,
            details=f"Raised from {source.value}. Device {asset.name} at {client.name}.",
            source=source.value,
            opened_at=opened,
            created_at=opened,
            custom_fields={"containment": "Device isolated"} if ticket_type.name == "Security Incident" else {},
        )
        session.add(ticket)
        await session.flush()
        moments = _history(rng, opened, closed, now)
        actions: list[TicketAction] = []
        actions.append(_action(ticket, ActionKind.CREATED, "", None, opened))
        if agent:
            actions.append(
                _action(ticket, ActionKind.ASSIGNMENT, "", agent, moments[0], {"agent": [None, agent.display_name]})
            )
            ticket.first_response_at = moments[0]
        for moment in moments[1:-1] if closed else moments[1:]:
            actions.append(_action(ticket, ActionKind.NOTE, rng.choice(NOTES), agent or agents[0], moment))
        if closed:
            classification, reason = rng.choice(CLASSIFICATIONS)
            ticket.classification, ticket.classification_reason = classification, reason
            ticket.closed_at = moments[-1]
            actions.append(
                _action(
                    ticket,
                    ActionKind.CLOSURE,
                    "Closed after investigation.",
                    agent or agents[0],
                    moments[-1],
                    {"classification": [None, classification], "classification_reason": [None, reason]},
                )
            )
        session.add_all(actions)
        ticket.updated_at = max(moments[-1], opened)
    await session.flush()
    return staff


def _history(rng: random.Random, opened: datetime, closed: bool, now: datetime) -> list[datetime]:
    span = max((now - opened).total_seconds(), 60)
    count = rng.randint(2, 5) if closed else rng.randint(1, 3)
    return sorted(
        opened + timedelta(seconds=rng.uniform(30, span if not closed else min(span, 3 * 86400))) for _ in range(count)
    )


def _action(
    ticket: Ticket,
    kind: ActionKind,
    body: str,
    author: User | None,
    when: datetime,
    changes: dict[str, list[str | None]] | None = None,
) -> TicketAction:
    return TicketAction(
        ticket_id=ticket.id,
        kind=kind.value,
        body=body,
        author_id=author.id if author else None,
        external_author=None if author or kind is not ActionKind.CREATED else ticket.source,
        visibility=Visibility.INTERNAL.value,
        changes=changes or {},
        created_at=when,
        updated_at=when,
    )
