"""Running artifacts on this machine with the TVM runtime only (no compiler needed)."""
