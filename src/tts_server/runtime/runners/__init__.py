"""Engine runners, the async face of every engine: the runner protocol, the registry of this process's
engines, the process pool (its workers and the server-thread lane) for the CPU engines, and the batched
runners of the GPU engines (Dia, S1-mini) on one continuous-batching core."""
