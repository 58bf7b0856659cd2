"""`make bench`: driftloop's workloads beside baselines measured in the same run (see bench/suite.py)."""
