"""Anomaly detection: which clients behave like attackers, and what to do about them.

    drain --new rows--> streaming.detect() --+
                      registry.py (the rules) +--> flags.record() --> triage.act_on()
    hourly / command ---> scan.scan()       --+    SuspiciousIP         blocks, dry run

- rule.py: what a rule is (one class: its window, threshold, streaming and SQL evaluation);
- builtin_rules.py: the rules shipped; registry.py: the ones SECURITY_DETECT_RULE_CLASSES runs;
- verdicts.py: the signature rules' verdicts on one request (transforms.py decodes each field,
  detectors.py reads its syntax);
- signatures/: the lists as data, and the path normalisation that matching relies on;
- streaming.py: rules evaluated on each stored batch, counting windows in Redis;
- scan.py: the same rules over a time window in SQL, idempotent, the catch-up;
- flags.py and triage.py: rows with evidence; operator decisions and automatic blocks;
- lookups.py: the SQL the ORM has no single word for.
"""
