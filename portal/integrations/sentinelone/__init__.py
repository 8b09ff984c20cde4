"""SentinelOne: consoles (Management API v2.1, ``ApiToken`` auth) as socdesk connections.

Accounts and sites map to clients and sites (the connection's client links), agents become
assets, threats and cloud-detection alerts become tickets, and notes and closures made in
socdesk go back as threat notes, incident status and analyst verdict.
"""
