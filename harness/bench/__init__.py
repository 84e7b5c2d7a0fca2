"""The core-scaling benchmark (``aethel bench``): workloads, the machine ceiling, resource
monitoring, measurement, its summary and targets, and the checkers' own throughput."""
