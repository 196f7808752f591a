"""Forecasting: baselines, savings, CO2 and goal projections from stored readings.

Layers (pure functions first, orchestration last):

* ``forecasting.data`` — ``BaselineData`` (from the Store, CSV or series) with sufficiency
  findings as stable codes;
* ``forecasting.metrics`` — CV(RMSE), NMBE, R², ASHRAE Guideline 14 flags, time-series CV;
* ``forecasting.balance`` — balance points of the degree terms chosen from the data;
* ``forecasting.baseline`` — the Prophet counterfactual (``fit(data) -> self``, ``predict``,
  JSON round trip);
* ``forecasting.savings`` — avoided energy with an interval (IPMVP Option C);
* ``forecasting.projection`` — fiscal-year P10/P50/P90, target trajectory, gap, probability;
* ``forecasting.runner`` / ``forecasting.commands`` / ``forecasting.export`` — ``greenpipe
  forecast run``, ``greenpipe savings`` and ``greenpipe forecast export``.

Results are stored as ``greenpipe.results.ForecastRecord`` / ``SavingsRecord``; readers (the
dashboard) use ``Store.read_forecasts()`` / ``read_savings()`` and never import Prophet.
See docs/forecasting.md.
"""
