"""hybridctl: the operator CLI of Hybrid Routing. It speaks only HTTP to the admin API and the health endpoints
(httpx and the standard library), so it works against the local gateway (`make run`) and a deployed stack alike."""
