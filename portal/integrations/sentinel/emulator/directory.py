"""Entra ID as the emulator knows it: tenants, their users, app consents, and the resources tokens are for.

A tenant's users sign in with their UPN (or email) and password on the emulated sign-in page.
Consent is kept as Entra keeps it: an administrator's tenant-wide grant for an app (admin
consent), or one user's grant of the scopes they accepted.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from portal.integrations.emulation.app import EmulatedError
from portal.integrations.emulation.oauth_server import Principal

OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
ARM_RESOURCE = "https://management.azure.com"
LOG_ANALYTICS_RESOURCE = "https://api.loganalytics.io"
# The `aud` of an access token for each resource the emulator serves.
AUDIENCES = {ARM_RESOURCE: "https://management.azure.com/", LOG_ANALYTICS_RESOURCE: "https://api.loganalytics.io"}
# What the consent page says each permission lets the app do (Entra's own wording).
PERMISSION_TEXT = {
    "openid": "Sign you in",
    "profile": "View your basic profile",
    "email": "View your email address",
    "offline_access": "Maintain access to data you have given it access to",
    f"{ARM_RESOURCE}/user_impersonation": "Access Azure Service Management as you",
    f"{ARM_RESOURCE}/.default": "Access Azure Service Management as you",
    f"{LOG_ANALYTICS_RESOURCE}/Data.Read": "Read Log Analytics data as user",
    f"{LOG_ANALYTICS_RESOURCE}/.default": "Read Log Analytics data as user",
}
TENANT_ALIASES = frozenset({"common", "organizations", "consumers"})


def resource_of(scope: str) -> str | None:
    """``https://management.azure.com/user_impersonation`` -> ``https://management.azure.com``; None for OIDC scopes."""
    if scope in OIDC_SCOPES:
        return None
    if "://" not in scope:
        return ""  # a bare permission name: not one of a resource the emulator knows
    resource, _, permission = scope.rpartition("/")
    return resource.rstrip("/") if permission else scope.rstrip("/")


def resources_of(scopes: tuple[str, ...] | list[str]) -> list[str]:
    """The distinct resources ``scopes`` name, in order."""
    return list(dict.fromkeys(r for r in (resource_of(s) for s in scopes) if r is not None))


@dataclass
class EntraUser:
    object_id: str
    tenant_id: str
    user_principal_name: str
    display_name: str
    password: str
    email: str
    admin: bool = False  # a Global Administrator: may grant admin consent

    def principal(self) -> Principal:
        claims = {"oid": self.object_id, "name": self.display_name, "preferred_username": self.user_principal_name}
        return Principal(self.object_id, self.tenant_id, claims)

    def to_json(self) -> dict[str, object]:
        return {
            "objectId": self.object_id,
            "tenantId": self.tenant_id,
            "userPrincipalName": self.user_principal_name,
            "displayName": self.display_name,
            "email": self.email,
            "admin": self.admin,
        }


@dataclass
class EntraTenant:
    id: str
    display_name: str
    domain: str
    user_consent_allowed: bool = True  # False: only an administrator can consent (AADSTS90094)
    admin_consents: set[str] = field(default_factory=set)  # client ids granted tenant-wide
    users: dict[str, EntraUser] = field(default_factory=dict)  # by object id

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "displayName": self.display_name,
            "domain": self.domain,
            "userConsentAllowed": self.user_consent_allowed,
            "adminConsents": sorted(self.admin_consents),
            "users": [user.to_json() for user in self.users.values()],
        }


class Directory:
    def __init__(self) -> None:
        self.tenants: dict[str, EntraTenant] = {}
        self.user_consents: dict[tuple[str, str], set[str]] = {}  # (object id, client id) -> scopes

    def clear(self) -> None:
        self.tenants.clear()
        self.user_consents.clear()

    def add_tenant(
        self, display_name: str, domain: str, *, tenant_id: str | None = None, user_consent_allowed: bool = True
    ) -> EntraTenant:
        tenant_id = tenant_id or str(uuid.uuid4())
        if not display_name or not domain:
            raise EmulatedError(400, "InvalidValue", "A tenant needs a displayName and a domain.")
        if self.find_tenant(tenant_id) or self.find_tenant(domain):
            raise EmulatedError(409, "TenantExists", f"Tenant {tenant_id} or domain {domain} exists already.")
        tenant = EntraTenant(tenant_id, display_name, domain.lower(), user_consent_allowed)
        self.tenants[tenant_id] = tenant
        return tenant

    def add_user(
        self,
        tenant_id: str,
        user_principal_name: str,
        display_name: str,
        password: str,
        *,
        object_id: str | None = None,
        email: str | None = None,
        admin: bool = False,
    ) -> EntraUser:
        tenant = self.tenant(tenant_id)
        if not user_principal_name or "@" not in user_principal_name or not password:
            raise EmulatedError(400, "InvalidValue", "A user needs a userPrincipalName (name@domain) and a password.")
        if self.find_user(user_principal_name):
            raise EmulatedError(409, "UserExists", f"User {user_principal_name} exists already.")
        user = EntraUser(
            object_id or str(uuid.uuid4()),
            tenant.id,
            user_principal_name,
            display_name or user_principal_name,
            password,
            email or user_principal_name,
            admin,
        )
        tenant.users[user.object_id] = user
        return user

    def find_tenant(self, key: str) -> EntraTenant | None:
        """A tenant by id or by domain (both work in Entra's URLs)."""
        key = key.lower()
        return self.tenants.get(key) or next((t for t in self.tenants.values() if t.domain == key), None)

    def tenant(self, key: str) -> EntraTenant:
        tenant = self.find_tenant(key)
        if tenant is None:
            raise EmulatedError(404, "TenantNotFound", f"There is no tenant {key!r}.")
        return tenant

    def find_user(self, login: str) -> EntraUser | None:
        """A user by UPN, email or object id, in any tenant."""
        login = login.strip().lower()
        for tenant in self.tenants.values():
            for user in tenant.users.values():
                if login in (user.user_principal_name.lower(), user.email.lower(), user.object_id):
                    return user
        return None

    def user(self, login: str) -> EntraUser:
        user = self.find_user(login)
        if user is None:
            raise EmulatedError(404, "UserNotFound", f"There is no user {login!r}.")
        return user

    def has_consent(self, user: EntraUser, client_id: str, scopes: tuple[str, ...]) -> bool:
        """Admin consent covers every permission of the app; a user's covers what they accepted."""
        if client_id in self.tenant(user.tenant_id).admin_consents:
            return True
        granted = self.user_consents.get((user.object_id, client_id), set())
        return set(scopes) - OIDC_SCOPES <= granted

    def consented_scopes(self, user: EntraUser, client_id: str) -> set[str]:
        return self.user_consents.get((user.object_id, client_id), set())

    def record_consent(self, user: EntraUser, client_id: str, scopes: tuple[str, ...]) -> None:
        self.user_consents.setdefault((user.object_id, client_id), set()).update(set(scopes) - OIDC_SCOPES)
