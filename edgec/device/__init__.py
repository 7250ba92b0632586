"""Devices: where artifacts run (this machine, over RPC, on an emulated board)."""
