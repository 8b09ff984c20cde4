"""The Management API v2.1 (``/web/api/v2.1``): what socdesk's SentinelOne client talks to.

Every route needs ``Authorization: ApiToken <token>`` (401, code 4010010, for a missing, wrong,
revoked or expired one) and a permission of the token user's role (403, 4030010). What a token
sees is its user's scope: global, some accounts, or some sites. Lists answer
``{"data": [...], "pagination": {"nextCursor", "totalItems"}, "errors": null}`` (sites: ``data``
is ``{"allSites": {...}, "sites": [...]}``) and page as :mod:`.query` describes. Writes take
``{"filter": {...}, "data": {...}}`` and answer ``{"data": {"affected": n}}``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from litestar import Request, Router, delete, get, post, put
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath

from portal.integrations.emulation.admin import json_object
from portal.integrations.sentinelone.emulator.errors import PERMISSION, S1Error, invalid, not_found
from portal.integrations.sentinelone.emulator.query import ListQuery, Sorting, matches_time, paged, time_filters
from portal.integrations.sentinelone.emulator.records import agent_json, alert_json, threat_json
from portal.integrations.sentinelone.emulator.state import (
    ANALYST_VERDICTS,
    API_PREFIX,
    CONFIDENCE_LEVELS,
    INCIDENT_STATUSES,
    MITIGATION_STATUSES,
    Alert,
    ApiUser,
    S1State,
    Threat,
    iso,
)

R = TypeVar("R")  # a record a bulk write changes
V = TypeVar("V")  # the value it writes

ACCOUNT_FILTERS = frozenset(
    {"ids", "accountIds", "name", "name__contains", "states", "state", "accountType", "usageType", "query"}
) | time_filters("createdAt", "updatedAt")
SITE_FILTERS = frozenset(
    {"siteIds", "accountIds", "accountId", "name", "state", "states", "siteType", "query", "isDefault"}
) | time_filters("createdAt", "updatedAt")
AGENT_FILTERS = frozenset(
    {
        "ids",
        "uuids",
        "uuid",
        "siteIds",
        "accountIds",
        "groupIds",
        "computerName",
        "computerName__like",
        "computerName__contains",
        "osTypes",
        "machineTypes",
        "isActive",
        "isDecommissioned",
        "isUninstalled",
        "infected",
        "networkStatuses",
        "mitigationMode",
        "scanStatus",
        "query",
    }
) | time_filters("updatedAt", "createdAt", "registeredAt", "lastActiveDate")
THREAT_FILTERS = frozenset(
    {
        "ids",
        "siteIds",
        "accountIds",
        "agentIds",
        "groupIds",
        "incidentStatuses",
        "analystVerdicts",
        "mitigationStatuses",
        "confidenceLevels",
        "classifications",
        "resolved",
        "query",
        "tenant",
    }
) | time_filters("createdAt", "updatedAt")
# updatedAt__* on alerts is not in the reference's filter list; accepted so a client can poll changes.
ALERT_FILTERS = frozenset(
    {"ids", "incidentStatus", "analystVerdict", "severity", "siteIds", "accountIds", "ruleName__contains", "tenant"}
) | time_filters("createdAt", "reportedAt", "updatedAt")
NOTE_FILTERS: frozenset[str] = frozenset()
SERVICE_USER_FILTERS = frozenset({"ids", "query"})
WRITE_FILTERS = frozenset({"ids", "siteIds", "accountIds", "agentIds", "tenant"})

ACTIVITY_TYPES = (
    (19, "Threat Mitigation Report Kill Success", "Agent {{ computer_name }} successfully killed {{ threat_name }}."),
    (
        2001,
        "Threat Incident Status Changed",
        "The management user {{ username }} changed the incident status of {{ threat_name }}.",
    ),
    (3100, "User Added Note", "The management user {{ username }} added a note to {{ threat_name }}."),
    (5020, "Agent Decommissioned", "Agent {{ computer_name }} was decommissioned."),
)


def envelope(records: list[dict[str, Any]], pagination: dict[str, Any]) -> dict[str, Any]:
    return {"data": records, "pagination": pagination, "errors": None}


def _params(request: Request[Any, Any, Any]) -> dict[str, str]:
    return dict(request.query_params.items())


def _contains(needle: str | None, *haystack: Any) -> bool:
    return needle is None or any(needle.lower() in str(value or "").lower() for value in haystack)


def _in(values: list[str] | None, value: Any) -> bool:
    return values is None or str(value) in values


def _flag(wanted: bool | None, value: Any) -> bool:
    return wanted is None or bool(value) is wanted


def _known_scope(state: S1State, user: ApiUser, query: ListQuery) -> tuple[list[str] | None, list[str] | None]:
    """(siteIds, accountIds) filters, each id one the token can see (else a 400 naming it)."""
    site_ids = query.ids("siteIds")
    account_ids = query.ids("accountIds")
    if query.text("accountId") is not None:
        account_ids = [*(account_ids or []), *(query.ids("accountId") or [])]
    _check_known("siteIds", site_ids, state.visible_site_ids(user))
    visible_accounts = {state.sites[site]["accountId"] for site in state.visible_site_ids(user)}
    _check_known("accountIds", account_ids, visible_accounts | state.visible_account_ids(user))
    return site_ids, account_ids


def _check_known(name: str, ids: Iterable[str] | None, known: set[str]) -> None:
    unknown = [item for item in ids or () if item not in known]
    if unknown:
        raise invalid(f"{name}: {', '.join(unknown)} not found.")


def _field(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda record: record[name]


def api_router(state: S1State) -> Router:
    def user_of(request: Request[Any, Any, Any]) -> ApiUser:
        user: ApiUser = request.state.user
        return user

    async def authenticate(request: Request[Any, Any, Any]) -> None:
        user = state.authenticate(request.headers.get("authorization"))
        request.state.user = user
        permission = request.route_handler.opt.get("permission")
        if permission:
            state.require(user, str(permission))

    def listing(
        path: str,
        permission: str,
        filters: frozenset[str],
        select: Callable[[ApiUser, ListQuery], Sequence[R]],
        sorting: Sorting,
        record_id: Callable[[R], str],
        render: Callable[[R], dict[str, Any]],
    ) -> HTTPRouteHandler:
        """A GET listing: the records ``select`` finds for the token and query, one page of them."""

        @get(path, sync_to_thread=False, opt={"permission": permission})
        def list_records(request: Request[Any, Any, Any]) -> dict[str, Any]:
            query = ListQuery(_params(request), filters)
            records = select(user_of(request), query)
            page, pagination = paged(query, records, sorting=sorting, record_id=record_id, render=render)
            return envelope(page, pagination)

        return list_records

    # -- accounts and sites --------------------------------------------------------------------

    @get("/accounts", sync_to_thread=False, opt={"permission": "Accounts.view"})
    def list_accounts(request: Request[Any, Any, Any]) -> dict[str, Any]:
        query = ListQuery(_params(request), ACCOUNT_FILTERS)
        user = user_of(request)
        ids = (query.ids("ids") or []) + (query.ids("accountIds") or []) or None
        states = query.strings("states") or query.strings("state")
        visible = state.visible_account_ids(user)
        records = [
            account
            for account_id, account in state.accounts.items()
            if account_id in visible
            and _in(ids, account_id)
            and (query.text("name") is None or account["name"] == query.text("name"))
            and _contains(query.text("name__contains"), account["name"])
            and _in(states, account["state"])
            and _in(query.strings("accountType"), account["accountType"])
            and _in(query.strings("usageType"), account["usageType"])
            and _contains(query.text("query"), account["name"], account["id"])
            and matches_time(query, "createdAt", account["createdAt"])
            and matches_time(query, "updatedAt", account["updatedAt"])
        ]
        sorting = Sorting(
            {"id": lambda a: int(a["id"]), "name": _field("name"), "createdAt": _field("createdAt")}, "id"
        )
        page, pagination = paged(
            query, records, sorting=sorting, record_id=lambda a: a["id"], render=state.account_json
        )
        return envelope(page, pagination)

    @get("/accounts/{account_id:str}", sync_to_thread=False, opt={"permission": "Accounts.view"})
    def get_account(request: Request[Any, Any, Any], account_id: FromPath[str]) -> dict[str, Any]:
        if account_id not in state.visible_account_ids(user_of(request)):
            raise not_found(f"There is no account {account_id}.")  # as for an id that does not exist
        return {"data": state.account_json(state.account(account_id))}

    @get("/sites", sync_to_thread=False, opt={"permission": "Sites.view"})
    def list_sites(request: Request[Any, Any, Any]) -> dict[str, Any]:
        query = ListQuery(_params(request), SITE_FILTERS)
        user = user_of(request)
        site_ids, account_ids = _known_scope(state, user, query)
        states = query.strings("states") or query.strings("state")
        visible = state.visible_site_ids(user)
        records = [
            state.site_json(site)
            for site_id, site in state.sites.items()
            if site_id in visible
            and _in(site_ids, site_id)
            and _in(account_ids, site["accountId"])
            and (query.text("name") is None or site["name"] == query.text("name"))
            and _in(states, site["state"])
            and _in(query.strings("siteType"), site["siteType"])
            and _flag(query.boolean("isDefault"), site["isDefault"])
            and _contains(query.text("query"), site["name"], site["accountName"], site["id"])
            and matches_time(query, "createdAt", site["createdAt"])
            and matches_time(query, "updatedAt", site["updatedAt"])
        ]
        sorting = Sorting(
            {
                "id": lambda s: int(s["id"]),
                "name": _field("name"),
                "accountName": _field("accountName"),
                "createdAt": _field("createdAt"),
            },
            "id",
        )
        page, pagination = paged(query, records, sorting=sorting, record_id=lambda s: s["id"], render=dict)
        every = [state.site_json(state.sites[site_id]) for site_id in visible]
        all_sites = {
            "activeLicenses": sum(site["activeLicenses"] for site in every),
            "totalLicenses": sum(site["totalLicenses"] for site in every),
        }
        return {"data": {"allSites": all_sites, "sites": page}, "pagination": pagination, "errors": None}

    @get("/sites/{site_id:str}", sync_to_thread=False, opt={"permission": "Sites.view"})
    def get_site(request: Request[Any, Any, Any], site_id: FromPath[str]) -> dict[str, Any]:
        if site_id not in state.visible_site_ids(user_of(request)):
            raise not_found(f"There is no site {site_id}.")
        return {"data": state.site_json(state.site(site_id))}

    # -- agents --------------------------------------------------------------------------------

    @get("/agents", sync_to_thread=False, opt={"permission": "Endpoints.view"})
    def list_agents(request: Request[Any, Any, Any]) -> dict[str, Any]:
        query = ListQuery(_params(request), AGENT_FILTERS)
        user = user_of(request)
        site_ids, account_ids = _known_scope(state, user, query)
        uuids = (query.strings("uuids") or []) + (query.strings("uuid") or []) or None
        like = query.text("computerName__like") or query.text("computerName__contains")
        visible = state.visible_site_ids(user)
        records = [
            agent
            for agent in state.agents.values()
            if agent["siteId"] in visible
            and _in(query.ids("ids"), agent["id"])
            and _in(uuids, agent["uuid"])
            and _in(site_ids, agent["siteId"])
            and _in(account_ids, agent["accountId"])
            and _in(query.ids("groupIds"), agent["groupId"])
            and (query.text("computerName") is None or agent["computerName"] == query.text("computerName"))
            and _contains(like, agent["computerName"])
            and _in(query.strings("osTypes"), agent["osType"])
            and _in(query.strings("machineTypes"), agent["machineType"])
            and _flag(query.boolean("isActive"), agent["isActive"])
            and _flag(query.boolean("isDecommissioned"), agent["isDecommissioned"])
            and _flag(query.boolean("isUninstalled"), agent["isUninstalled"])
            and _flag(query.boolean("infected"), agent["infected"])
            and _in(query.strings("networkStatuses"), agent["networkStatus"])
            and _in(query.strings("mitigationMode"), agent["mitigationMode"])
            and _in(query.strings("scanStatus"), agent["scanStatus"])
            and _contains(query.text("query"), agent["computerName"], agent["uuid"], agent["lastLoggedInUserName"])
            and all(
                matches_time(query, name, agent[name])
                for name in ("updatedAt", "createdAt", "registeredAt", "lastActiveDate")
            )
        ]
        sorting = Sorting(
            {
                "id": lambda a: int(a["id"]),
                "computerName": _field("computerName"),
                "updatedAt": _field("updatedAt"),
                "createdAt": _field("createdAt"),
                "registeredAt": _field("registeredAt"),
                "lastActiveDate": _field("lastActiveDate"),
            },
            "id",
        )
        page, pagination = paged(query, records, sorting=sorting, record_id=lambda a: a["id"], render=agent_json)
        return envelope(page, pagination)

    # -- threats -------------------------------------------------------------------------------

    def visible_threats(user: ApiUser) -> list[Threat]:
        visible = state.visible_site_ids(user)
        return [threat for threat in state.threats.values() if threat_site(threat) in visible]

    def threat_site(threat: Threat) -> str:
        agent = state.agents.get(threat.agent_id)
        return str(agent["siteId"] if agent else threat.detection["siteId"])

    def threat_account(threat: Threat) -> str:
        agent = state.agents.get(threat.agent_id)
        return str(agent["accountId"] if agent else threat.detection["accountId"])

    def select_threats(user: ApiUser, query: ListQuery) -> list[Threat]:
        site_ids, account_ids = _known_scope(state, user, query)
        resolved = query.boolean("resolved")
        return [
            threat
            for threat in visible_threats(user)
            if _in(query.ids("ids"), threat.id)
            and _in(site_ids, threat_site(threat))
            and _in(account_ids, threat_account(threat))
            and _in(query.ids("agentIds"), threat.agent_id)
            and _in(query.ids("groupIds"), threat.detection["groupId"])
            and _in(query.strings("incidentStatuses", INCIDENT_STATUSES), threat.info["incidentStatus"])
            and _in(query.strings("analystVerdicts", ANALYST_VERDICTS), threat.info["analystVerdict"])
            and _in(query.strings("mitigationStatuses", MITIGATION_STATUSES), threat.info["mitigationStatus"])
            and _in(query.strings("confidenceLevels", CONFIDENCE_LEVELS), threat.info["confidenceLevel"])
            and _in(query.strings("classifications"), threat.info["classification"])
            and (resolved is None or (threat.info["incidentStatus"] == "resolved") is resolved)
            and _contains(query.text("query"), threat.info["threatName"], threat.info["filePath"], threat.id)
            and matches_time(query, "createdAt", threat.info["createdAt"])
            and matches_time(query, "updatedAt", threat.info["updatedAt"])
        ]

    threat_sorting = Sorting(
        {
            "id": lambda t: int(t.id),
            "createdAt": lambda t: t.info["createdAt"],
            "updatedAt": lambda t: t.info["updatedAt"],
            "threatName": lambda t: t.info["threatName"],
        },
        "id",
    )

    list_threats = listing(
        "/threats",
        "Threats.view",
        THREAT_FILTERS,
        select_threats,
        threat_sorting,
        lambda threat: threat.id,
        lambda threat: threat_json(state, threat),
    )

    async def write_body(request: Request[Any, Any, Any]) -> tuple[ListQuery, dict[str, Any]]:
        body = await json_object(request)
        target, data = body.get("filter"), body.get("data")
        if not isinstance(target, dict) or not isinstance(data, dict):
            raise invalid('filter: send {"filter": {...}, "data": {...}}.')
        params = {
            key: ",".join(map(str, value)) if isinstance(value, list) else str(value) for key, value in target.items()
        }
        query = ListQuery(params, WRITE_FILTERS)
        if not any(query.text(name) for name in WRITE_FILTERS - {"tenant"}):
            raise invalid("filter: name the threats or alerts (ids, siteIds, accountIds or agentIds).")
        return query, data

    def data_value(data: dict[str, Any], key: str, choices: tuple[str, ...]) -> str:
        value = data.get(key)
        if value not in choices:
            raise invalid(f"{key}: must be one of {', '.join(choices)}.")
        return str(value)

    def bulk_write(
        path: str,
        permission: str,
        select: Callable[[ApiUser, ListQuery], Sequence[R]],
        read: Callable[[dict[str, Any]], V],
        apply: Callable[[R, V, ApiUser], object],
    ) -> HTTPRouteHandler:
        """A ``{filter, data}`` POST: ``read`` checks ``data`` (even when nothing matches), ``apply`` changes
        each match."""

        @post(path, status_code=200, opt={"permission": permission})
        async def write(request: Request[Any, Any, Any]) -> dict[str, Any]:
            query, data = await write_body(request)
            value = read(data)
            records = select(user_of(request), query)
            for record in records:
                apply(record, value, user_of(request))
            return {"data": {"affected": len(records)}}

        return write

    def external_ticket(data: dict[str, Any]) -> str | None:
        ticket = data.get("externalTicketId")
        if ticket is not None and not isinstance(ticket, str):
            raise invalid("externalTicketId: must be a string or null.")
        return ticket

    def set_external_ticket(threat: Threat, ticket: str | None, user: ApiUser) -> None:
        threat.info.update(externalTicketId=ticket, externalTicketExists=ticket is not None)
        threat.info["updatedAt"] = iso(state.now())

    def note_text(data: dict[str, Any]) -> str:
        text = data.get("text")
        if not isinstance(text, str) or not text.strip():
            raise invalid("text: A note needs text.")
        return text

    threat_writes = [
        bulk_write(
            "/threats/incident",
            "Threats.updateIncidentStatus",
            select_threats,
            lambda data: data_value(data, "incidentStatus", INCIDENT_STATUSES),
            lambda threat, status, user: state.set_threat(threat, incident_status=status),
        ),
        bulk_write(
            "/threats/analyst-verdict",
            "Threats.updateAnalystVerdict",
            select_threats,
            lambda data: data_value(data, "analystVerdict", ANALYST_VERDICTS),
            lambda threat, verdict, user: state.set_threat(threat, analyst_verdict=verdict),
        ),
        bulk_write(
            "/threats/external-ticket-id",
            "Threats.updateIncidentStatus",
            select_threats,
            external_ticket,
            set_external_ticket,
        ),
        bulk_write(
            "/threats/notes",
            "Threats.addNote",
            select_threats,
            note_text,
            lambda threat, text, user: state.add_note(threat, text, creator=user),
        ),
    ]

    # -- threat notes --------------------------------------------------------------------------

    def visible_threat(request: Request[Any, Any, Any], threat_id: str) -> Threat:
        threat = state.threat(threat_id)
        if threat_site(threat) not in state.visible_site_ids(user_of(request)):
            raise not_found(f"There is no threat {threat_id}.")
        return threat

    @get("/threats/{threat_id:str}/notes", sync_to_thread=False, opt={"permission": "Threats.view"})
    def list_notes(request: Request[Any, Any, Any], threat_id: FromPath[str]) -> dict[str, Any]:
        query = ListQuery(_params(request), NOTE_FILTERS)
        notes = visible_threat(request, threat_id).notes.values()
        sorting = Sorting({"createdAt": lambda n: iso(n.created_at), "id": lambda n: int(n.id)}, "createdAt")
        page, pagination = paged(query, notes, sorting=sorting, record_id=lambda n: n.id, render=lambda n: n.to_json())
        return envelope(page, pagination)

    @put("/threats/{threat_id:str}/notes/{note_id:str}", opt={"permission": "Threats.addNote"})
    async def edit_note(request: Request[Any, Any, Any], threat_id: FromPath[str], note_id: FromPath[str]) -> Any:
        note = state.note(visible_threat(request, threat_id), note_id)
        data = (await json_object(request)).get("data")
        text = data.get("text") if isinstance(data, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise invalid("text: A note needs text.")
        note.text, note.edited, note.updated_at = text, True, state.now()
        return {"data": note.to_json()}

    @delete("/threats/{threat_id:str}/notes/{note_id:str}", status_code=200, opt={"permission": "Threats.addNote"})
    async def delete_note(request: Request[Any, Any, Any], threat_id: FromPath[str], note_id: FromPath[str]) -> Any:
        threat = visible_threat(request, threat_id)
        state.note(threat, note_id)
        del threat.notes[note_id]
        return {"data": {"affected": 1}}

    # -- cloud-detection alerts ----------------------------------------------------------------

    def select_alerts(user: ApiUser, query: ListQuery) -> list[Alert]:
        site_ids, account_ids = _known_scope(state, user, query)
        visible = state.visible_site_ids(user)
        statuses = query.strings("incidentStatus", [status.upper() for status in INCIDENT_STATUSES])
        verdicts = query.strings("analystVerdict", [verdict.upper() for verdict in ANALYST_VERDICTS])
        severities = query.strings("severity")
        return [
            alert
            for alert in state.alerts.values()
            if alert.detection["siteId"] in visible
            and _in(query.ids("ids"), alert.id)
            and _in(site_ids, alert.detection["siteId"])
            and _in(account_ids, state.sites[alert.detection["siteId"]]["accountId"])
            and _in(statuses, alert.info["incidentStatus"].upper().replace(" ", "_"))
            and _in(verdicts, alert.info["analystVerdict"].upper().replace(" ", "_"))
            and (severities is None or alert.rule["severity"].upper() in [s.upper() for s in severities])
            and _contains(query.text("ruleName__contains"), alert.rule["name"])
            and matches_time(query, "createdAt", alert.info["createdAt"])
            and matches_time(query, "reportedAt", alert.info["reportedAt"])
            and matches_time(query, "updatedAt", alert.info["updatedAt"])
        ]

    alert_sorting = Sorting(
        {
            "id": lambda a: int(a.id),
            "alertInfoCreatedAt": lambda a: a.info["createdAt"],
            "alertInfoUpdatedAt": lambda a: a.info["updatedAt"],
            "alertInfoReportedAt": lambda a: a.info["reportedAt"],
        },
        "id",
    )

    list_alerts = listing(
        "/cloud-detection/alerts",
        "Custom Alerts.view",
        ALERT_FILTERS,
        select_alerts,
        alert_sorting,
        lambda alert: alert.id,
        lambda alert: alert_json(state, alert),
    )

    alert_writes = [
        bulk_write(
            "/cloud-detection/alerts/incident",
            "Custom Alerts.updateIncidentStatus",
            select_alerts,
            lambda data: data_value(data, "incidentStatus", INCIDENT_STATUSES),
            lambda alert, status, user: state.set_alert(alert, incident_status=status),
        ),
        bulk_write(
            "/cloud-detection/alerts/analyst-verdict",
            "Custom Alerts.updateAnalystVerdict",
            select_alerts,
            lambda data: data_value(data, "analystVerdict", ANALYST_VERDICTS),
            lambda alert, verdict, user: state.set_alert(alert, analyst_verdict=verdict),
        ),
    ]

    # -- users and tokens ----------------------------------------------------------------------

    @get("/user", sync_to_thread=False)
    def current_user(request: Request[Any, Any, Any]) -> dict[str, Any]:
        user = user_of(request)
        return {
            "data": {
                "apiToken": user.api_token_json(),
                "dateJoined": iso(user.created_at),
                "email": user.email,
                "emailVerified": True,
                "fullName": user.full_name,
                "id": user.id,
                "lastLogin": iso(user.last_activation or user.created_at),
                "lowestRole": user.role,
                "scope": user.scope,
                "scopeRoles": state.scope_roles(user),
                "source": "mgmt",
                "twoFaEnabled": user.kind == "console",
                "userType": "service" if user.kind == "service" else "console",
            }
        }

    @post("/users/api-token-details", status_code=200)
    async def api_token_details(request: Request[Any, Any, Any]) -> dict[str, Any]:
        body = await json_object(request)
        data = body.get("data")
        token = data.get("apiToken") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise invalid("apiToken: Missing data for required field.")
        owner = state.user_by_token(token)
        if owner is None or owner.revoked:
            raise invalid("apiToken: Invalid API token.")
        if not owner.introspectable:
            raise S1Error(403, PERMISSION, "API token details are not available for this user; see GET /user.")
        return {"data": owner.api_token_json()}

    @get("/service-users", sync_to_thread=False, opt={"permission": "Service Users.view"})
    def list_service_users(request: Request[Any, Any, Any]) -> dict[str, Any]:
        query = ListQuery(_params(request), SERVICE_USER_FILTERS)
        caller = user_of(request)
        visible_sites = state.visible_site_ids(caller)

        def in_reach(user: ApiUser) -> bool:
            if caller.scope == "global" or user.id == caller.id:
                return True
            if user.scope == "site":
                return set(user.scope_ids) <= visible_sites
            return user.scope == "account" and set(user.scope_ids) <= state.visible_account_ids(caller)

        records = [
            user
            for user in state.users.values()
            if user.kind == "service"
            and in_reach(user)
            and _in(query.ids("ids"), user.id)
            and _contains(query.text("query"), user.full_name)
        ]

        def render(user: ApiUser) -> dict[str, Any]:
            creator = {"id": str(state.id_base), "name": "MSP Admin"}
            return {
                "apiToken": user.api_token_json(),
                "createdAt": iso(user.created_at),
                "createdBy": creator,
                "description": None,
                "id": user.id,
                "lastActivation": iso(user.last_activation) if user.last_activation else None,
                "name": user.full_name,
                "scope": user.scope,
                "scopeRoles": state.scope_roles(user),
                "updatedAt": iso(user.created_at),
                "updatedBy": creator,
            }

        sorting = Sorting({"id": lambda u: int(u.id), "name": lambda u: u.full_name}, "id")
        page, pagination = paged(query, records, sorting=sorting, record_id=lambda u: u.id, render=render)
        return envelope(page, pagination)

    @get("/activities/types", sync_to_thread=False)
    def activity_types() -> dict[str, Any]:
        """The connectivity check integrations use (any valid token may read it)."""
        return {
            "data": [
                {"id": number, "action": action, "descriptionTemplate": template}
                for number, action, template in ACTIVITY_TYPES
            ]
        }

    return Router(
        path=API_PREFIX,
        route_handlers=[
            list_accounts,
            get_account,
            list_sites,
            get_site,
            list_agents,
            list_threats,
            *threat_writes,
            list_notes,
            edit_note,
            delete_note,
            list_alerts,
            *alert_writes,
            current_user,
            api_token_details,
            list_service_users,
            activity_types,
        ],
        before_request=authenticate,
    )
