"""Running the server: counters and metrics, rate limits, machine resources, memory trimming, owned
background tasks, database health and the notices between replicas."""
