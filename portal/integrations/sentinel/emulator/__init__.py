"""The Microsoft emulator: Entra ID sign-in (identity platform v2) and Azure Resource Manager with
Microsoft Sentinel's incidents API, the two Microsoft hosts socdesk's Sentinel integration talks to.

``create_emulator()`` in :mod:`.app` builds it; ``socdesk emulate sentinel`` serves it.

What it emulates (see the module docstrings for the contract):

- :mod:`.identity`: ``/{tenant}/oauth2/v2.0/authorize`` with a sign-in form and the permissions
  consent screen (admin consent, user consent, tenants that block user consent), ``/token``
  (authorization code with PKCE S256, refresh with rotation, one resource per request, AADSTS
  errors in Entra's JSON), ``/{tenant}/v2.0/adminconsent``, OpenID discovery.
- :mod:`.arm`: ``GET /subscriptions``, workspaces by subscription, and under a workspace's
  ``providers/Microsoft.SecurityInsights``: incidents (list with ``$filter``/``$orderby``/``$top``
  and ``nextLink``, get, PUT with etag rules, delete), comments (list, get, PUT with a client-chosen
  id, delete), POST ``alerts``/``entities``/``bookmarks``; api-version checks, ARM's error envelope
  and 401/403/404 codes, token-bucket throttling with 429 and ``Retry-After``.
- :mod:`.logicapp`: per workspace, the automation rule -> Logic App -> HTTP action that POSTs the
  incident trigger payload to a URL (socdesk's webhook) with a secret header.
- :mod:`.admin`: ``/_emulator/...`` to play Entra/Azure administrators and Sentinel analysts.
- :mod:`.fixtures`: the demo app, the MSP tenant and two customer tenants with ~20 incidents each.

What it deliberately does not: sign JWTs (id tokens are ``alg: none``, access tokens are opaque
strings, as Microsoft tells clients to treat them), client-certificate or client-credentials
grants, device code, MFA/Conditional Access, guest accounts and Azure Lighthouse delegation,
sign-in sessions (every authorize shows the sign-in form), role assignments at subscription or
resource-group scope (roles are per workspace), the Log Analytics query API, incident tasks,
relations and bookmarks' contents, the 150-alerts limit, and any region or cloud other than one.
"""
