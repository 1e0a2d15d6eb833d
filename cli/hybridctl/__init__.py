"""hybridctl: the operator CLI of Hybrid Routing (replaces the runbooks' `tsx quality-gates-cli.ts`).

It speaks only HTTP to the admin API and the health endpoints (httpx + the standard library), so it
works against the local gateway (`make run`) and a deployed stack alike.
"""
