"""Tuning: MetaSchedule with its XGBoost cost model over the kernels edgec's pipeline makes,
resumable databases in ``tuning_logs/<board>/``, local or RPC-tracker measurement."""
