"""The SentinelOne emulator: one Management API v2.1 console that socdesk's SentinelOne client talks to.

What it emulates (from the reference, §1): ``ApiToken`` authentication with per-token users,
scopes (global, account, site), roles and expiry; the ``{data, pagination, errors}`` envelope
with cursor paging (``limit`` 1-1000, ``skip``, ``countOnly``, ``skipCount``, ``sortBy``); accounts,
sites (object-shaped ``data``), agents, threats (v2.1 nested shape) with their filters, threat
notes, incident status, analyst verdict and external ticket id writes (``affected``),
cloud-detection alerts (Title Case values, UPPERCASE filters, lowercase writes) with their
writes, ``GET /user``, ``POST /users/api-token-details``, ``GET /service-users`` and
``GET /activities/types``; S1's error bodies (401 4010010, 403 4030010, 400 4000010, 404, 429,
500 5000010). Faults (429 storms, 5xx, latency, malformed pages or records) come from the kit.

What it deliberately does not: the console UI and console-login (``Token``) sessions, agent
actions (disconnect, scan, mitigate), activities beyond their types, groups and policies,
Deep Visibility and the UAM GraphQL alerts API, and real rate limits (no public numbers exist:
429s are injected as faults). Adding a note does not move a threat's ``updatedAt``; status and
verdict writes move it only when they change something. Notes on cloud-detection alerts do not
exist (UNCONFIRMED upstream).

:mod:`.app` builds it, :mod:`.api` and :mod:`.admin` are its contract, :mod:`.fixtures` the
two demo consoles.
"""
