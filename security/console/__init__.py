"""The operator's console: one module a page, each a thin adapter over plain functions.

    analytics.py        /security/analytics/   visitors, pages, referrers, agents, places
                                               (analytics_report.py reads the rollups,
                                               analytics_output.py assembles page and CSV)
    address.py          /security/ip/<address or network>/ and inspect_ip: what it did and
                                               what decides its fate (address_page.py the page
                                               and its actions, evidence.py flags as facts,
                                               scope.py which rows a target covers,
                                               inspect_text.py the terminal form)
    events.py           /security/events/      flags, blocks, 403s and 429s, keyset-paged
                                               (events_page.py; now.py: the last 15 minutes)
    timerange.py        the time range of any page: presets or from/to, in whole UTC hours
    csvexport.py        any table as a CSV download

Templates extend security/console/base.html (navigation between the pages); charts are drawn
by static/security/console/charts.js on top of the vendored Chart.js.
"""
