"""The async job queue: admission and queries, the workers that run jobs, the options a job keeps, the
events its watchers see (relayed between replicas), and the retention sweep."""
