"""The rollout workflows' Lambda: the Task states of the failover, canary and failback state machines."""
