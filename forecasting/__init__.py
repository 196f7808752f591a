"""Forecasting: baselines, savings, CO2 and goal projections from stored readings."""
