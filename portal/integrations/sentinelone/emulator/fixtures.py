"""The two demo consoles: an MSP's US console (one account per customer) and its EU console
(one account holding a site per customer), each with accounts, sites, agents, a few days of
threats and alerts, and the API tokens to read them.

Console ``usea1`` is read with a console user's token that expires within 7 days (so the demo
shows the expiry warning); console ``euce1`` with a service user's token chosen to last half a
year. Each console also has an account or site that matches no socdesk demo client (for the
"unmapped" list). Account and site ids are fixed (see :data:`CONSOLES`); agents, threats and
alerts come from a seeded generator, so a frozen clock gives byte-identical data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from portal.integrations.sentinelone.emulator.state import console_id_base

if TYPE_CHECKING:
    from portal.integrations.sentinelone.emulator.state import Alert, S1State, Threat


@dataclass(frozen=True)
class FixtureSite:
    id: str
    name: str


@dataclass(frozen=True)
class FixtureAccount:
    id: str
    name: str
    sites: tuple[FixtureSite, ...]
    mapped: bool  # False: no socdesk demo client goes by this name


@dataclass(frozen=True)
class FixtureToken:
    user_id: str
    user: str
    token: str
    kind: str  # console | service
    scope: str
    role: str
    expires_in_days: float


@dataclass(frozen=True)
class ConsoleFixture:
    key: str
    name: str  # what the console's host would be called at SentinelOne
    matching: str  # "account" or "site": which S1 level names the MSP's customers here
    accounts: tuple[FixtureAccount, ...]
    token: FixtureToken  # the token the demo connection uses
    viewer: FixtureToken  # a read-only token (403 on writes and alerts)

    def account(self, name: str) -> FixtureAccount:
        return next(account for account in self.accounts if account.name == name)

    def site(self, name: str) -> FixtureSite:
        return next(site for account in self.accounts for site in account.sites if site.name == name)


def _console(
    key: str,
    name: str,
    matching: str,
    accounts: tuple[tuple[str, tuple[str, ...], bool], ...],
    token: tuple[str, str, str, str, float],
    viewer_token: str,
) -> ConsoleFixture:
    base = console_id_base(key)
    built = tuple(
        FixtureAccount(
            str(base + 1000 * (index + 1)),
            account_name,
            tuple(
                FixtureSite(str(base + 1000 * (index + 1) + 10 * (number + 1)), site)
                for number, site in enumerate(sites)
            ),
            mapped,
        )
        for index, (account_name, sites, mapped) in enumerate(accounts)
    )
    user, value, kind, scope, days = token
    return ConsoleFixture(
        key=key,
        name=name,
        matching=matching,
        accounts=built,
        token=FixtureToken(str(base + 50), user, value, kind, scope, "Admin", days),
        viewer=FixtureToken(str(base + 60), "Riley Readonly", viewer_token, "console", "global", "Viewer", 25),
    )


# Published demo credentials for a local emulator, not secrets.
CONSOLES: dict[str, ConsoleFixture] = {
    "usea1": _console(
        "usea1",
        "usea1-northbridge-msp",
        "account",
        (
            ("Northwind Traders", ("Seattle HQ", "Portland Warehouse"), True),
            ("Contoso Dental Group", ("Main Clinic", "Eastside Clinic", "Northgate Clinic"), True),
            ("Halvorsen Bakery", ("Default site", "Production Floor"), False),
        ),
        ("Morgan Admin", "s1demo-usea1-console-7Qm2Xv9LpK4rT8wZ", "console", "global", 5),
        "s1demo-usea1-viewer-3Hn6Ck1RsY0dB5eJ",
    ),
    "euce1": _console(
        "euce1",
        "euce1-northbridge-msp",
        "site",
        (
            (
                "Northbridge MSP Europe",
                ("Woodgrove Credit Union", "Litware Engineering", "Lucerne Publishing", "Coho Winery"),
                True,
            ),
            ("Northbridge Partner Sites", ("Alpine Ski Rentals", "Proseware Clinics"), True),
        ),
        ("socdesk sync (service user)", "s1demo-euce1-service-9Tb4Wd2NqF7uM1hS", "service", "account", 180),
        "s1demo-euce1-viewer-6Gv8Pz3KxL2cQ9aD",
    ),
}
UNMAPPED = {"usea1": "Halvorsen Bakery", "euce1": "Coho Winery"}  # the account (usea1) / site (euce1) no client has

FIRST_NAMES = ("alex", "bea", "chris", "dana", "eli", "fran", "gus", "hana", "ivan", "jo", "kim", "lee")
# (osType, osName, osRevision, machineType, modelName, hostname part)
MACHINES = (
    ("windows", "Windows 11 Pro", "22631", "laptop", "Dell Inc. - Latitude 5440", "LT"),
    ("windows", "Windows 11 Pro", "22631", "laptop", "LENOVO - ThinkPad T14 Gen 4", "LT"),
    ("windows", "Windows 10 Pro", "19045", "desktop", "HP - EliteDesk 800 G6", "WS"),
    ("windows", "Windows 11 Enterprise", "22631", "desktop", "Dell Inc. - OptiPlex 7010", "WS"),
    ("macos", "macOS Sonoma", "14.4.1", "laptop", "MacBookPro18,3", "MBP"),
    ("windows", "Windows Server 2022 Standard", "20348", "server", "VMware, Inc. - VMware7,1", "SRV"),
    ("linux", "Ubuntu 22.04.4 LTS", "5.15.0-105-generic", "server", "QEMU - Standard PC (Q35)", "LNX"),
)
VERSIONS = ("23.4.2.14", "23.3.3.264", "24.1.4.257")
THREATS = (
    ("invoice_2291.exe", "Trojan", "malicious", "C:\\Users\\{user}\\Downloads\\invoice_2291.exe", "outlook.exe"),
    ("mimikatz.exe", "Hacktool", "malicious", "C:\\Windows\\Temp\\mimikatz.exe", "cmd.exe"),
    (
        "update_flash.js",
        "Malware",
        "suspicious",
        "C:\\Users\\{user}\\AppData\\Local\\Temp\\update_flash.js",
        "wscript.exe",
    ),
    ("locker.dll", "Ransomware", "malicious", "C:\\ProgramData\\locker.dll", "rundll32.exe"),
    ("keygen_pro.zip", "PUA", "suspicious", "C:\\Users\\{user}\\Downloads\\keygen_pro.zip", "chrome.exe"),
    ("xmrig", "Miner", "malicious", "/var/tmp/.cache/xmrig", "bash"),  # noqa: S108  (a path on the emulated host)
)
ALERTS = (
    ("Suspicious PowerShell download cradle", "High", "powershell.exe"),
    ("LSASS memory access by unsigned process", "Critical", "procdump64.exe"),
    ("Scheduled task created from Office macro", "Medium", "schtasks.exe"),
    ("RDP logon from a new country", "Low", "svchost.exe"),
)


def _reference(name: str) -> str:
    words = [word for word in name.replace("-", " ").split() if word[0].isalnum()]
    return "".join(word[0] for word in words).upper()[:3] or "S1"


def _agent_record(rng: random.Random, site_name: str, number: int, subnet: int, now: datetime) -> dict[str, Any]:
    os_type, os_name, revision, machine, model, part = rng.choice(MACHINES)
    user = rng.choice(FIRST_NAMES)
    registered = now - timedelta(days=rng.randint(40, 700), minutes=rng.randint(0, 1400))
    host = f"{_reference(site_name)}-{part}{number:03d}"
    ip = f"10.{subnet}.{rng.randint(1, 9)}.{rng.randint(10, 250)}"
    mac = ":".join(f"{rng.randint(0, 255):02x}" for _ in range(6))
    return {
        "computerName": host,
        "osType": os_type,
        "osName": os_name,
        "osRevision": revision,
        "machineType": machine,
        "modelName": model,
        "lastLoggedInUserName": "" if machine == "server" else user,
        "agentVersion": rng.choice(VERSIONS),
        "domain": _reference(site_name) if os_type == "windows" else "",
        "registeredAt": registered.isoformat(),
        "lastActiveDate": (now - timedelta(minutes=rng.randint(1, 300))).isoformat(),
        "updatedAt": (now - timedelta(days=rng.randint(1, 20), minutes=rng.randint(0, 1400))).isoformat(),
        "serialNumber": f"{rng.choice(('5CG', 'PF3', 'C02', 'VMW'))}{rng.randint(1000000, 9999999)}",
        "totalMemory": rng.choice((8192, 16384, 32768)),
        "coreCount": rng.choice((4, 8, 12)),
        "externalIp": f"198.51.100.{subnet}",
        "lastIpToMgmt": ip,
        "networkInterfaces": [
            {
                "gatewayIp": ip.rsplit(".", 1)[0] + ".1",
                "gatewayMacAddress": None,
                "id": str(rng.randint(10**17, 10**18 - 1)),
                "inet": [ip],
                "inet6": [f"fe80::{rng.randint(1, 0xFFFF):x}:{rng.randint(1, 0xFFFF):x}"],
                "name": "en0" if os_type == "macos" else ("eth0" if os_type == "linux" else "Ethernet"),
                "physical": mac,
            }
        ],
    }


def seed_console(state: S1State, key: str) -> None:
    """Fill an empty console with fixture ``key``'s accounts, sites, agents, threats, alerts and tokens."""
    fixture = CONSOLES.get(key)
    if fixture is None:
        raise ValueError(f"there is no demo console {key!r} (known: {', '.join(CONSOLES)})")
    state.name = fixture.name
    now = state.now().replace(microsecond=0)
    rng = random.Random(f"socdesk-s1-{key}")  # noqa: S311  (demo data, not security)
    subnet = 10
    for account_number, account in enumerate(fixture.accounts):
        state.create_account(
            account.name,
            account_id=account.id,
            created_at=now - timedelta(days=400 - 30 * account_number),
            total_licenses=0 if account_number % 2 else 50,
        )
        for site_number, site in enumerate(account.sites):
            state.create_site(
                account.id,
                site.name,
                site_id=site.id,
                is_default=site_number == 0,
                created_at=now - timedelta(days=390 - 30 * account_number - site_number),
            )
            subnet += 1
            for number in range(1, rng.randint(5, 9) + 1):
                state.add_agent(site.id, _agent_record(rng, site.name, number, subnet, now))
    agents = sorted(state.agents.values(), key=lambda agent: int(agent["id"]))
    # One endpoint was decommissioned last week: "deactivate assets deleted in SentinelOne" has one to find.
    retired = agents[3]
    state.update_agent(
        retired["id"],
        {"isDecommissioned": True, "isActive": False, "networkStatus": "disconnected"},
        at=now - timedelta(days=6),
    )
    live = _live_agents(state)
    statuses = (
        ("unresolved", "undefined", "not_mitigated"),
        ("unresolved", "undefined", "mitigated"),
        ("in_progress", "suspicious", "mitigated"),
        ("resolved", "true_positive", "mitigated"),
        ("unresolved", "undefined", "mitigated"),
        ("resolved", "false_positive", "marked_as_benign"),
    )
    for index, (incident, verdict, mitigation) in enumerate(statuses):
        agent = live[(index * 7 + 2) % len(live)]
        created = now - timedelta(hours=90 - 14 * index)
        _raise_fixture_threat(state, agent, index, created, incident, verdict, mitigation)
    for index, (rule, severity, process) in enumerate(ALERTS):
        agent = live[(index * 11 + 5) % len(live)]
        created = now - timedelta(hours=70 - 15 * index)
        state.raise_alert(
            agent["id"],
            {
                "ruleName": rule,
                "severity": severity,
                "processName": process,
                "incidentStatus": "resolved" if index == 0 else "unresolved",
                "analystVerdict": "true_positive" if index == 0 else "undefined",
                "createdAt": created.isoformat(),
                "updatedAt": (created + timedelta(hours=2 if index == 0 else 0)).isoformat(),
            },
        )
    for token in (fixture.token, fixture.viewer):
        scope_ids = () if token.scope == "global" else tuple(account.id for account in fixture.accounts)
        user = state.create_user(
            token.user,
            kind=token.kind,
            scope=token.scope,
            scope_ids=scope_ids,
            role=token.role,
            token=token.token,
            expires_at=now + timedelta(days=token.expires_in_days),
            user_id=token.user_id,
        )
        user.token_created_at = user.created_at = now - timedelta(
            days=(30 if token.kind == "console" else 365) - token.expires_in_days
        )


def _threat_details(agent: dict[str, Any], template: tuple[str, str, str, str, str]) -> dict[str, Any]:
    name, classification, confidence, path, parent = template
    return {
        "threatName": name,
        "classification": classification,
        "confidenceLevel": confidence,
        "filePath": path.format(user=agent["lastLoggedInUserName"] or "Administrator"),
        "originatorProcess": parent,
    }


def _raise_fixture_threat(
    state: S1State,
    agent: dict[str, Any],
    index: int,
    created: datetime,
    incident: str,
    verdict: str,
    mitigation: str,
) -> None:
    threat = state.raise_threat(
        agent["id"],
        _threat_details(agent, THREATS[index % len(THREATS)])
        | {
            "incidentStatus": incident,
            "analystVerdict": verdict,
            "mitigationStatus": mitigation,
            "createdAt": created.isoformat(),
            "updatedAt": (created + timedelta(hours=3 if incident != "unresolved" else 0)).isoformat(),
        },
    )
    if incident != "unresolved":
        note = state.add_note(
            threat, "Reviewed the storyline; process tree starts from a user download.", by="Morgan Admin"
        )
        note.created_at = note.updated_at = created + timedelta(hours=3)


def _live_agents(state: S1State) -> list[dict[str, Any]]:
    return sorted((a for a in state.agents.values() if not a["isDecommissioned"]), key=lambda a: int(a["id"]))


def raise_demo_threat(state: S1State, rng: random.Random) -> Threat:
    """A new unresolved threat on a random live agent, now: what the demo's activity loop calls."""
    agent = rng.choice(_live_agents(state))
    details = _threat_details(agent, rng.choice(THREATS))
    return state.raise_threat(agent["id"], details | {"mitigationStatus": rng.choice(("not_mitigated", "mitigated"))})


def raise_demo_alert(state: S1State, rng: random.Random) -> Alert:
    """A new unresolved cloud-detection alert on a random live agent, now."""
    rule, severity, process = rng.choice(ALERTS)
    agent = rng.choice(_live_agents(state))
    return state.raise_alert(agent["id"], {"ruleName": rule, "severity": severity, "processName": process})
