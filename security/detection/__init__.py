"""Anomaly detection: which clients behave like attackers, and what to do about them.

- scan.py: the windowed SQL scan (hourly actor and `manage.py detect_anomalies`);
- triage.py: blocking, allowlisting and dismissing flagged IPs, by hand or automatically;
- lookups.py: the SQL the ORM has no single word for.
"""
