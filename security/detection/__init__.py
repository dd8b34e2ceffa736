"""Anomaly detection: which clients behave like attackers, and what to do about them.

    drain --new rows--> streaming.detect() --+
                          rules.py (once)      +--> flags.record() --> triage.act_on()
    hourly / command ---> scan.scan()       --+    SuspiciousIP         blocks, dry run

- rules.py: every rule, its window and threshold, and the per-request signature verdicts;
- signatures/: the lists as data, and the path normalisation that matching relies on;
- streaming.py: rules evaluated on each stored batch, counting windows in Redis;
- scan.py: the same rules over a time window in SQL, idempotent, the catch-up;
- flags.py and triage.py: rows with evidence; operator decisions and automatic blocks;
- lookups.py: the SQL the ORM has no single word for.
"""
