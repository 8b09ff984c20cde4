"""Microsoft Sentinel: incidents of each client's workspace as tickets, with comments and closures both ways.

One connection is one multi-tenant Entra ID application; the MSP signs in once per customer
tenant and keeps one token set per tenant. Each client link names its workspace (tenant,
subscription, resource group, workspace name); incidents are read from ARM's SecurityInsights
API, and notes, closures, priority changes and new incidents are written back to it.
"""
