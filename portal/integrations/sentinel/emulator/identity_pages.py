"""The HTML of the emulated Microsoft sign-in: account and password, permissions requested,
"Need admin approval", and the ``form_post`` answer. Plain forms, no script needed (the
``form_post`` page submits itself when script runs and shows a Continue button otherwise)."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping

from portal.integrations.sentinel.emulator.directory import PERMISSION_TEXT, EntraUser

# Enough of Microsoft's look that a demo's sign-in feels like the real one (the emulator sets no CSP).
STYLE = (
    "body{margin:0;background:#f2f2f2;font-family:'Segoe UI',system-ui,sans-serif;color:#1b1b1b}"
    "main{max-width:440px;margin:8vh auto;background:#fff;padding:44px;box-shadow:0 2px 6px rgba(0,0,0,.2)}"
    "h1{font-size:24px;font-weight:600;margin:16px 0}label{display:block;margin-top:12px;font-size:14px}"
    "input[type=email],input[type=password]{width:100%;box-sizing:border-box;border:0;border-bottom:1px solid #666;"
    "padding:6px 0;font-size:15px}button{margin-top:20px;min-width:108px;padding:6px 12px;border:0;"
    "background:#0067b8;color:#fff;font-size:15px;cursor:pointer}button[value=cancel]{background:#ccc;color:#000}"
    "[role=alert]{color:#e81123}code{font-size:12px;color:#666}ul{padding-left:20px}"
)


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body><main>"
        "<p><strong>Microsoft</strong> <small>(socdesk emulator)</small></p>"
        f"{body}</main></body></html>"
    )


def _hidden(request_id: str, step: str) -> str:
    return (
        f"<input type='hidden' name='request' value='{html.escape(request_id)}'>"
        f"<input type='hidden' name='step' value='{html.escape(step)}'>"
    )


def sign_in_page(
    action: str, request_id: str, app_name: str, accounts: Iterable[str], *, login: str = "", error: str = ""
) -> str:
    options = "".join(f"<option value='{html.escape(upn)}'></option>" for upn in accounts)
    problem = f"<p role='alert' id='passwordError'>{html.escape(error)}</p>" if error else ""
    return _page(
        "Sign in to your account",
        f"<h1>Sign in</h1><p>to continue to <strong>{html.escape(app_name)}</strong></p>{problem}"
        f"<form method='post' action='{html.escape(action)}'>{_hidden(request_id, 'signin')}"
        "<label for='login'>Email, phone, or Skype</label> "
        f"<input id='login' name='login' type='email' list='accounts' value='{html.escape(login)}' required>"
        f"<datalist id='accounts'>{options}</datalist> "
        "<label for='passwd'>Password</label> <input id='passwd' name='passwd' type='password' required> "
        "<button type='submit' name='decision' value='signin'>Sign in</button></form>",
    )


def _permissions(scopes: Iterable[str]) -> str:
    items = "".join(
        f"<li><span class='permission'>{html.escape(PERMISSION_TEXT.get(scope, scope))}</span> "
        f"<code>{html.escape(scope)}</code></li>"
        for scope in scopes
    )
    return f"<ul id='permissions'>{items}</ul>"


def consent_page(
    action: str, request_id: str, app_name: str, user: EntraUser, scopes: Iterable[str], *, organization: str = ""
) -> str:
    """Permissions requested; ``organization`` set: an administrator accepting for the whole tenant."""
    for_whom = (
        f"<p>Accepting these permissions means that you allow this app to use your organization's data "
        f"(<strong>{html.escape(organization)}</strong>).</p>"
        if organization
        else "<p>Accepting these permissions means that you allow this app to use your data.</p>"
    )
    heading = "Permissions requested" + (" — Accept for your organization" if organization else "")
    return _page(
        "Permissions requested",
        f"<h1>{html.escape(heading)}</h1><p>Signed in as <strong>{html.escape(user.user_principal_name)}</strong></p>"
        f"<p><strong>{html.escape(app_name)}</strong> <small>unverified</small></p>"
        f"<p>This app would like to:</p>{_permissions(scopes)}{for_whom}"
        f"<form method='post' action='{html.escape(action)}'>{_hidden(request_id, 'consent')}"
        "<button type='submit' name='decision' value='cancel'>Cancel</button> "
        "<button type='submit' name='decision' value='accept'>Accept</button></form>",
    )


def approval_needed_page(action: str, request_id: str, app_name: str, user: EntraUser) -> str:
    return _page(
        "Need admin approval",
        f"<h1>Need admin approval</h1><p>Signed in as <strong>{html.escape(user.user_principal_name)}</strong></p>"
        f"<p><strong>{html.escape(app_name)}</strong> needs permission to access resources in your organization "
        "that only an admin can grant. Please ask an admin to grant permission to this app before you can use it.</p>"
        f"<form method='post' action='{html.escape(action)}'>{_hidden(request_id, 'approval')}"
        "<button type='submit' name='decision' value='back'>Return to the application without granting consent"
        "</button></form>",
    )


def form_post_page(redirect_uri: str, params: Mapping[str, str]) -> str:
    fields = "".join(
        f"<input type='hidden' name='{html.escape(key)}' value='{html.escape(value)}'>" for key, value in params.items()
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Working...</title></head>"
        "<body onload='document.forms[0].submit()'>"
        f"<form method='post' name='hiddenform' action='{html.escape(redirect_uri)}'>{fields}"
        "<noscript><p>Script is disabled. Click Submit to continue.</p></noscript>"
        "<button type='submit'>Submit</button></form></body></html>"
    )
