"""Failover drills on the local stack (issue 6, provider-failover.md "Training & Drills").

A drill starts (or reuses) the local stack, sends steady generated traffic across the seven operation
types, injects a scenario's fault, lets breakers, health checks, alarms and workflows act with no human
step, lifts the fault, waits for failback, and writes a report: a markdown timeline with the runbook's
failover KPIs against their targets, and a PNG chart of weights and error rate over time.

Modules: `scenarios` (what each drill injects), `traffic` (the open-loop generator), `timeline` (what
was seen, and the recorder that samples it), `kpis` (the KPI definitions, pure), `report` (markdown and
PNG), `runner` (one drill end to end). `python -m local.drill SCENARIO` runs one.
"""
