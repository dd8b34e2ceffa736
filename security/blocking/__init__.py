"""Blocking: who is refused, and how that list changes.

    operator / admin / feeds / detection        every process (hot path)
    ------------------------------------        ------------------------
    changes.block() / unblock() / allow()
      -> BlockedIP, AllowedIP rows (one transaction)
      -> on commit: announce_change()
           reload this process -------------->  blocklist.blocklist (compiled NetworkSets)
           SET version (Redis) -- <= 1 s ---->    reloaded by its thread on a new version,
           request_export()                       an expiry, or every few s without Redis
             | debounced actor (tasks.py)        BlockedIPMiddleware
             v                                     -> blocklist.is_blocked(ip)    403
           export.export_configured()              -> georules.denial(ip)         403
             nginx / ipset / csv / json file,          (country and ASN, local GeoLite2)
             then the reload command

    feeds.refresh_due() (every 10 min) -> fetch -> FORMATS[name](text) -> replace_entries()

- blocklist.py: the compiled copy each process matches against, kept fresh without a query
  per request, never dropped because a reload failed;
- changes.py: block, unblock, allow, disallow; merged_block (a new block never shortens one);
- feeds.py: named threat feeds, refreshed on a schedule, each replacing only its own entries;
- georules.py: SECURITY_BLOCK_COUNTRIES / _ALLOW_COUNTRIES / _BLOCK_ASNS;
- export.py: the active blocks for the edge (SECURITY_EXPORT), one renderer per format.
"""
