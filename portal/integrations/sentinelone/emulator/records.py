"""The records the console prints: agents, threats (v2.1, nested) and cloud-detection alerts.

Field names and types follow the published examples (``threats_list_v2_1.json``,
``agents_list_data_only.json``) and the reference; ``agentRealtimeInfo`` is built from the
agent as it is now, ``agentDetectionInfo`` is kept as it was when the detection happened.
"""

from __future__ import annotations

import copy
import hashlib
import uuid
from typing import TYPE_CHECKING, Any

from portal.integrations.sentinelone.emulator.errors import invalid
from portal.integrations.sentinelone.emulator.state import (
    ALERT_SEVERITIES,
    ANALYST_VERDICTS,
    CONFIDENCE_LEVELS,
    DESCRIPTIONS,
    INCIDENT_STATUSES,
    MITIGATION_STATUSES,
    Alert,
    Threat,
    alert_word,
    check_choice,
    iso,
    parse_iso,
)

if TYPE_CHECKING:
    from portal.integrations.sentinelone.emulator.state import S1State

OS_TYPES = ("windows", "macos", "linux", "windows_legacy")
MACHINE_TYPES = ("desktop", "laptop", "server", "kubernetes node", "unknown")
NETWORK_STATUSES = ("connected", "connecting", "disconnected", "disconnecting")


def _time(details: dict[str, Any], key: str, default: str) -> str:
    value = details.pop(key, None)
    if value is None:
        return default
    try:
        return iso(parse_iso(str(value)))
    except ValueError:
        raise invalid(f"{key}: must be an ISO 8601 time.") from None


def _reject_unknown(details: dict[str, Any], known: set[str], what: str) -> None:
    unknown = set(details) - known
    if unknown:
        raise invalid(f"{', '.join(sorted(unknown))}: not {what} fields.")


def new_agent(state: S1State, site: dict[str, Any], details: dict[str, Any]) -> dict[str, Any]:
    now = iso(state.now())
    registered = _time(details, "registeredAt", now)
    agent_id = str(details.pop("id", None) or state.new_id())
    name = str(details.get("computerName") or f"DESKTOP-{agent_id[-6:]}")
    ip = "10.0.0.10"
    agent: dict[str, Any] = {
        "accountId": site["accountId"],
        "accountName": site["accountName"],
        "activeDirectory": {
            "computerDistinguishedName": None,
            "computerMemberOf": [],
            "lastUserDistinguishedName": None,
            "lastUserMemberOf": [],
        },
        "activeThreats": 0,
        "agentVersion": "23.4.2.14",
        "allowRemoteShell": False,
        "appsVulnerabilityStatus": "up_to_date",
        "cloudProviders": {},
        "computerName": name,
        "consoleMigrationStatus": "N/A",
        "coreCount": 4,
        "cpuCount": 1,
        "cpuId": "Intel(R) Core(TM) i5-10310U CPU @ 1.70GHz",
        "createdAt": registered,
        "domain": "WORKGROUP",
        "encryptedApplications": False,
        "externalId": None,
        "externalIp": "203.0.113.10",
        "firewallEnabled": True,
        "groupId": site["groupId"],
        "groupIp": "203.0.113.x",
        "groupName": "Default Group",
        "id": agent_id,
        "inRemoteShellSession": False,
        "infected": False,
        "installerType": ".msi",
        "isActive": True,
        "isDecommissioned": False,
        "isPendingUninstall": False,
        "isUninstalled": False,
        "isUpToDate": True,
        "lastActiveDate": now,
        "lastIpToMgmt": ip,
        "lastLoggedInUserName": "",
        "licenseKey": "",
        "locationEnabled": False,
        "locationType": "not_supported",
        "locations": None,
        "machineType": "desktop",
        "mitigationMode": "protect",
        "mitigationModeSuspicious": "detect",
        "modelName": "Dell Inc. - OptiPlex 7090",
        "networkInterfaces": [],
        "networkQuarantineEnabled": False,
        "networkStatus": "connected",
        "operationalState": "na",
        "operationalStateExpiration": None,
        "osArch": "64 bit",
        "osName": "Windows 11 Pro",
        "osRevision": "22631",
        "osStartTime": now.split(".")[0] + "Z",
        "osType": "windows",
        "osUsername": None,
        "rangerStatus": "NotApplicable",
        "rangerVersion": None,
        "registeredAt": registered,
        "remoteProfilingState": "disabled",
        "remoteProfilingStateExpiration": None,
        "scanAbortedAt": None,
        "scanFinishedAt": registered,
        "scanStartedAt": registered,
        "scanStatus": "finished",
        "serialNumber": hashlib.sha1(agent_id.encode()).hexdigest()[:10].upper(),  # noqa: S324  (not security)
        "siteId": site["id"],
        "siteName": site["name"],
        "tags": {"sentinelone": []},
        "threatRebootRequired": False,
        "totalMemory": 16384,
        "updatedAt": now,
        "userActionsNeeded": [],
        "uuid": uuid.uuid5(uuid.NAMESPACE_OID, f"s1-agent:{agent_id}").hex,
    }
    for key in ("siteId", "siteName", "accountId", "accountName", "groupId", "groupName"):
        if key in details:
            raise invalid(f"{key}: set by the site the agent is added to.")
    _reject_unknown(details, set(agent), "agent")
    agent.update(copy.deepcopy(details))
    agent["updatedAt"] = _time(details, "updatedAt", agent["updatedAt"])
    if agent["osType"] not in OS_TYPES:
        raise invalid(f"osType: must be one of {', '.join(OS_TYPES)}.")
    if agent["networkStatus"] not in NETWORK_STATUSES:
        raise invalid(f"networkStatus: must be one of {', '.join(NETWORK_STATUSES)}.")
    if not agent["networkInterfaces"]:
        agent["networkInterfaces"] = [
            {
                "gatewayIp": "10.0.0.1",
                "gatewayMacAddress": "00:50:56:c0:00:01",
                "id": state.new_id(),
                "inet": [ip],
                "inet6": ["fe80::1"],
                "name": "Ethernet",
                "physical": "00:50:56:" + ":".join(agent["uuid"][i : i + 2] for i in (0, 2, 4)),
            }
        ]
    return agent


def realtime_info(state: S1State, agent_id: str, detection: dict[str, Any]) -> dict[str, Any]:
    """``agentRealtimeInfo``: the agent now (or, once removed from the console, as it was detected)."""
    agent = state.agents.get(agent_id)
    if agent is None:
        return {"agentId": agent_id, "agentIsDecommissioned": True} | {
            key: detection.get(key) for key in ("accountId", "accountName", "siteId", "siteName", "groupId")
        }
    return {
        "accountId": agent["accountId"],
        "accountName": agent["accountName"],
        "activeThreats": agent["activeThreats"],
        "agentComputerName": agent["computerName"],
        "agentDecommissionedAt": agent["updatedAt"] if agent["isDecommissioned"] else None,
        "agentDomain": agent["domain"],
        "agentId": agent["id"],
        "agentInfected": agent["infected"],
        "agentIsActive": agent["isActive"],
        "agentIsDecommissioned": agent["isDecommissioned"],
        "agentMachineType": agent["machineType"],
        "agentMitigationMode": agent["mitigationMode"],
        "agentNetworkStatus": agent["networkStatus"],
        "agentOsName": agent["osName"],
        "agentOsRevision": agent["osRevision"],
        "agentOsType": agent["osType"],
        "agentUuid": agent["uuid"],
        "agentVersion": agent["agentVersion"],
        "groupId": agent["groupId"],
        "groupName": agent["groupName"],
        "networkInterfaces": [
            {key: nic.get(key) for key in ("id", "inet", "inet6", "name", "physical")}
            for nic in agent["networkInterfaces"]
        ],
        "operationalState": agent["operationalState"],
        "rebootRequired": agent["threatRebootRequired"],
        "scanAbortedAt": agent["scanAbortedAt"],
        "scanFinishedAt": agent["scanFinishedAt"],
        "scanStartedAt": agent["scanStartedAt"],
        "scanStatus": agent["scanStatus"],
        "siteId": agent["siteId"],
        "siteName": agent["siteName"],
        "userActionsNeeded": list(agent["userActionsNeeded"]),
    }


def _first_ip(agent: dict[str, Any], key: str) -> str | None:
    addresses = [address for nic in agent["networkInterfaces"] for address in nic.get(key) or []]
    return addresses[0] if addresses else None


def detection_info(agent: dict[str, Any]) -> dict[str, Any]:
    return {
        "accountId": agent["accountId"],
        "accountName": agent["accountName"],
        "agentDomain": agent["domain"],
        "agentIpV4": _first_ip(agent, "inet"),
        "agentIpV6": _first_ip(agent, "inet6"),
        "agentLastLoggedInUserName": agent["lastLoggedInUserName"],
        "agentMitigationMode": agent["mitigationMode"],
        "agentOsName": agent["osName"],
        "agentOsRevision": agent["osRevision"],
        "agentRegisteredAt": agent["registeredAt"],
        "agentUuid": agent["uuid"],
        "agentVersion": agent["agentVersion"],
        "externalIp": agent["externalIp"],
        "groupId": agent["groupId"],
        "groupName": agent["groupName"],
        "siteId": agent["siteId"],
        "siteName": agent["siteName"],
    }


THREAT_DETAILS = {
    "id",
    "threatName",
    "classification",
    "confidenceLevel",
    "incidentStatus",
    "analystVerdict",
    "mitigationStatus",
    "filePath",
    "sha1",
    "originatorProcess",
    "processUser",
    "engines",
    "detectionType",
    "createdAt",
    "updatedAt",
}


def new_threat(state: S1State, agent: dict[str, Any], details: dict[str, Any]) -> Threat:
    _reject_unknown(details, THREAT_DETAILS, "threat")
    now = iso(state.now())
    created = _time(details, "createdAt", now)
    updated = _time(details, "updatedAt", created)
    threat_id = str(details.get("id") or state.new_id())
    name = str(details.get("threatName") or "invoice_2291.exe")
    incident = check_choice("incidentStatus", details.get("incidentStatus", "unresolved"), INCIDENT_STATUSES)
    verdict = check_choice("analystVerdict", details.get("analystVerdict", "undefined"), ANALYST_VERDICTS)
    mitigation = check_choice("mitigationStatus", details.get("mitigationStatus", "not_mitigated"), MITIGATION_STATUSES)
    confidence = check_choice("confidenceLevel", details.get("confidenceLevel", "malicious"), CONFIDENCE_LEVELS)
    assert incident is not None  # the defaults are valid choices
    assert verdict is not None
    assert mitigation is not None
    assert confidence is not None
    sha1 = str(details.get("sha1") or hashlib.sha1(f"{threat_id}:{name}".encode()).hexdigest())  # noqa: S324
    user = agent["lastLoggedInUserName"] or "SYSTEM"
    info = {
        "analystVerdict": verdict,
        "analystVerdictDescription": DESCRIPTIONS[verdict],
        "automaticallyResolved": False,
        "browserType": None,
        "certificateId": "",
        "classification": str(details.get("classification") or "Malware"),
        "classificationSource": "Static",
        "cloudFilesHashVerdict": "black" if confidence == "malicious" else None,
        "collectionId": state.new_id(),
        "confidenceLevel": confidence,
        "createdAt": created,
        "detectionType": str(details.get("detectionType") or "static"),
        "engines": list(details.get("engines") or ["On-Write DFI"]),
        "externalTicketExists": False,
        "externalTicketId": None,
        "failedActions": False,
        "fileExtension": name.rsplit(".", 1)[-1].upper() if "." in name else "",
        "fileExtensionType": "Executable",
        "filePath": str(details.get("filePath") or f"\\Device\\HarddiskVolume3\\Users\\{user}\\Downloads\\{name}"),
        "fileSize": 184320,
        "fileVerificationType": "NotSigned",
        "identifiedAt": created,
        "incidentStatus": incident,
        "incidentStatusDescription": DESCRIPTIONS[incident],
        "initiatedBy": "agent_policy",
        "initiatedByDescription": "Agent Policy",
        "initiatingUserId": None,
        "initiatingUsername": None,
        "isFileless": False,
        "isValidCertificate": False,
        "maliciousProcessArguments": None,
        "md5": None,
        "mitigatedPreemptively": False,
        "mitigationStatus": mitigation,
        "mitigationStatusDescription": DESCRIPTIONS[mitigation],
        "originatorProcess": str(details.get("originatorProcess") or "explorer.exe"),
        "pendingActions": False,
        "processUser": str(details.get("processUser") or f"{agent['domain']}\\{user}"),
        "publisherName": "",
        "reachedEventsLimit": False,
        "rebootRequired": False,
        "sha1": sha1,
        "sha256": None,
        "storyline": sha1[:16].upper(),
        "threatId": threat_id,
        "threatName": name,
        "updatedAt": updated,
    }
    actions = [] if mitigation == "not_mitigated" else ["kill", "quarantine"]
    return Threat(
        id=threat_id,
        agent_id=agent["id"],
        info=info,
        detection=detection_info(agent),
        mitigation=[
            {
                "action": action,
                "actionsCounters": {"failed": 0, "notFound": 0, "pendingReboot": 0, "success": 1, "total": 1},
                "agentSupportsReport": True,
                "groupNotFound": False,
                "lastUpdate": created,
                "latestReport": None,
                "mitigationEndedAt": created,
                "mitigationStartedAt": created,
                "status": "success",
            }
            for action in actions
        ],
        indicators=[
            {
                "category": "Malware",
                "description": "Detected by the Static AI engine as malicious.",
                "ids": [37],
                "tactics": [],
            }
        ],
    )


def threat_json(state: S1State, threat: Threat) -> dict[str, Any]:
    return {
        "agentDetectionInfo": copy.deepcopy(threat.detection),
        "agentRealtimeInfo": realtime_info(state, threat.agent_id, threat.detection),
        "containerInfo": {"id": None, "image": None, "labels": None, "name": None},
        "id": threat.id,
        "indicators": copy.deepcopy(threat.indicators),
        "kubernetesInfo": dict.fromkeys(
            (
                "cluster",
                "controllerKind",
                "controllerLabels",
                "controllerName",
                "namespace",
                "namespaceLabels",
                "node",
                "pod",
                "podLabels",
            )
        ),
        "mitigationStatus": copy.deepcopy(threat.mitigation),
        "threatInfo": copy.deepcopy(threat.info),
        "whiteningOptions": ["hash", "path"],
    }


ALERT_DETAILS = {
    "id",
    "ruleName",
    "severity",
    "incidentStatus",
    "analystVerdict",
    "processName",
    "commandline",
    "createdAt",
    "updatedAt",
    "eventType",
}


def new_alert(state: S1State, agent: dict[str, Any], details: dict[str, Any]) -> Alert:
    _reject_unknown(details, ALERT_DETAILS, "alert")
    now = iso(state.now())
    created = _time(details, "createdAt", now)
    updated = _time(details, "updatedAt", created)
    alert_id = str(details.get("id") or state.new_id())
    severity = str(details.get("severity") or "High")
    if severity not in ALERT_SEVERITIES:
        raise invalid(f"severity: must be one of {', '.join(ALERT_SEVERITIES)}.")
    incident = check_choice("incidentStatus", details.get("incidentStatus", "unresolved"), INCIDENT_STATUSES)
    verdict = check_choice("analystVerdict", details.get("analystVerdict", "undefined"), ANALYST_VERDICTS)
    assert incident is not None  # the defaults are valid choices
    assert verdict is not None
    process = str(details.get("processName") or "powershell.exe")
    storyline = hashlib.sha1(alert_id.encode()).hexdigest()[:16].upper()  # noqa: S324  (an id, not security)
    user = agent["lastLoggedInUserName"] or "SYSTEM"
    info = {
        "alertId": alert_id,
        "analystVerdict": alert_word(verdict),
        "createdAt": created,
        "dnsRequest": None,
        "dnsResponse": None,
        "dstIp": None,
        "dstPort": None,
        "dvEventId": f"01H{alert_id[-12:]}",
        "eventType": str(details.get("eventType") or "PROCESSCREATION"),
        "hitType": "Events",
        "incidentStatus": alert_word(incident),
        "isEdr": True,
        "reportedAt": created,
        "source": "STAR",
        "srcIp": None,
        "srcMachineIp": _first_ip(agent, "inet"),
        "srcPort": None,
        "updatedAt": updated,
    }
    rule_name = str(details.get("ruleName") or "Suspicious PowerShell download cradle")
    return Alert(
        id=alert_id,
        agent_id=agent["id"],
        info=info,
        rule={
            "id": str(int(hashlib.sha1(rule_name.encode()).hexdigest()[:12], 16)),  # noqa: S324
            "name": rule_name,
            "queryLang": "1.0",
            "queryType": "events",
            "s1ql": f'EventType = "Process Creation" AND TgtProcName = "{process}"',
            "scopeLevel": "account",
            "severity": severity,
            "treatAsThreat": "UNDEFINED",
        },
        detection={
            "machineType": agent["machineType"],
            "name": agent["computerName"],
            "osFamily": agent["osType"],
            "osName": agent["osName"],
            "osRevision": agent["osRevision"],
            "siteId": agent["siteId"],
            "uuid": agent["uuid"],
            "version": agent["agentVersion"],
        },
        process={
            "commandline": str(details.get("commandline") or f"{process} -nop -w hidden -enc SQBFAFgA"),
            "effectiveUser": None,
            "fileHashMd5": None,
            "fileHashSha1": hashlib.sha1(process.encode()).hexdigest(),  # noqa: S324
            "fileHashSha256": None,
            "filePath": f"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\{process}",
            "fileSignerIdentity": "MICROSOFT WINDOWS",
            "integrityLevel": "MEDIUM",
            "name": process,
            "pid": "4312",
            "pidStarttime": created,
            "realUser": None,
            "storyline": storyline,
            "subsystem": "SYS_WIN32",
            "uniqueId": storyline,
            "user": f"{agent['domain']}\\{user}",
        },
        parent_process={"name": "explorer.exe", "pid": "2120", "storyline": storyline, "user": user},
        target_process={"name": None, "pid": None},
    )


def alert_json(state: S1State, alert: Alert) -> dict[str, Any]:
    agent = state.agents.get(alert.agent_id)
    realtime: dict[str, Any] = {"id": alert.agent_id}
    if agent is not None:
        realtime |= {
            "infected": agent["infected"],
            "isActive": agent["isActive"],
            "isDecommissioned": agent["isDecommissioned"],
            "machineType": agent["machineType"],
            "name": agent["computerName"],
            "os": agent["osType"],
            "uuid": agent["uuid"],
        }
    return {
        "agentDetectionInfo": copy.deepcopy(alert.detection),
        "agentRealtimeInfo": realtime,
        "alertInfo": copy.deepcopy(alert.info),
        "containerInfo": {},
        "kubernetesInfo": {},
        "ruleInfo": copy.deepcopy(alert.rule),
        "sourceParentProcessInfo": copy.deepcopy(alert.parent_process),
        "sourceProcessInfo": copy.deepcopy(alert.process),
        "targetProcessInfo": copy.deepcopy(alert.target_process),
    }


def agent_json(agent: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(agent)
