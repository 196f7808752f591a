"""Statutory reports: Energy Conservation Act (省エネ法) and GHG (温対法 SHK) figures.

Layers (pure functions first, orchestration last):

* ``reports.energy_act`` — GJ, crude-oil kL, intensity, 5-year average, S/A/B class,
  non-fossil share (pure);
* ``reports.ghg`` — CO2 by source with retailer/menu basic and adjusted factors (pure);
* ``reports.build`` — reads the Store and the config, returns ``ReportSet`` with warnings;
* ``reports.export`` — JSON / CSV / xlsx writers; ``reports.production_csv`` — CSV import;
* ``reports.commands`` — ``greenpipe report …`` and ``greenpipe import production``.
"""
