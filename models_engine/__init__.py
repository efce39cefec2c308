"""The liquidation models: numpy and pandas only. DataFrames in, DataFrames out; no I/O."""
