"""The backtest engine: pure Python, numpy and numba over arrays; no Django import.

rules.compile_signals turns a JSON rule set into Signals, simulator.simulate runs them
on Bars under an EngineConfig (types.py) and returns trades, curves and metrics.
"""
