"""Fleet work: audit many connections at once, roll a policy out to many, and seed a synthetic fleet.

``audit_fleet`` (audit.py) reads with list endpoints, one resource group per worker; ``rollout`` (rollout.py)
applies through the operations layer (plan → If-Match apply) with bounded concurrency, a resumable state
file and one evidence record; ``seed_fleet`` (seed.py) fills the emulator fast; report.py writes CSV/HTML.
"""
