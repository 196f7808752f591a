"""Cross-field validation of a loaded configuration (the checks that need all of it).

Kept apart from ``greenpipe.config``, which defines the typed sections and parses TOML and
the environment, so each module stays small. Every failure is a ConfigError that names the
key, the bad value and the fix.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from greenpipe.errors import ConfigError
from greenpipe.model import Sector
from greenpipe.stores.url import parse_store_url

if TYPE_CHECKING:
    from greenpipe.config import Config

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ID_RULE = ("an id starts with a letter or digit, continues with letters, digits, '-', '_' "
           "or '.', and is at most 64 characters (ids appear in MQTT topics)")
"""``ID_PATTERN`` in words, for error messages (all of the rule, not just the characters)."""


def _id_problem(value: str) -> str:
    """Say which part of ``ID_RULE`` an id breaks, then the whole rule."""
    if not value:
        why = "it is empty"
    elif len(value) > 64:
        why = f"it has {len(value)} characters"
    elif not value[0].isascii() or not value[0].isalnum():
        why = f"it starts with {value[0]!r}"
    else:
        bad = sorted({c for c in value if not (c.isascii() and (c.isalnum() or c in "_.-"))})
        why = "it contains " + ", ".join(repr(c) for c in bad)
    return f"{why}; {ID_RULE}"
"""Site and meter ids appear in MQTT topics, so they may not contain / + # or spaces."""


def month_day(text: str) -> tuple[int, int]:
    """Parse ``MM-DD`` into ``(month, day)``; raise ValueError when it is not a real day."""
    m = re.fullmatch(r"(\d\d)-(\d\d)", text)
    if not m:
        raise ValueError(text)
    month, day = int(m.group(1)), int(m.group(2))
    date(2024, month, day)  # 2024 is a leap year, so 02-29 is accepted
    return month, day


def _check_unique(ids: list[str], where: str) -> None:
    seen: set[str] = set()
    for i, ident in enumerate(ids):
        if ident in seen:
            raise ConfigError(f"{where}[{i}].id", ident, "ids must be unique; rename one")
        seen.add(ident)


def validate(cfg: Config) -> None:
    """Run the cross-field checks that need the whole configuration; raise ConfigError."""
    b = cfg.broker
    if not 1 <= b.port <= 65535:
        raise ConfigError("broker.port", b.port, "use a TCP port between 1 and 65535")
    if not b.topic_prefix or b.topic_prefix.endswith("/") or any(c in b.topic_prefix for c in "+#"):
        raise ConfigError(
            "broker.topic_prefix", b.topic_prefix,
            "use a topic prefix without wildcards or a trailing slash, e.g. greenpipe/v1",
        )
    for name in ("ca_file", "cert_file", "key_file"):
        value = getattr(b, name)
        if value and not Path(value).is_file():
            raise ConfigError(f"broker.{name}", value, "the file does not exist; fix the path")
    parse_store_url(cfg.store.url)
    for key in ("refresh_s", "cache_ttl_s", "offline_after_s"):
        if getattr(cfg.dashboard, key) < 1:
            raise ConfigError(f"dashboard.{key}", getattr(cfg.dashboard, key), "use 1 s or more")
    c = cfg.collector
    if c.batch_size < 1:
        raise ConfigError("collector.batch_size", c.batch_size, "use 1 or more")
    if c.flush_interval_s <= 0:
        raise ConfigError("collector.flush_interval_s", c.flush_interval_s, "use more than 0 s")
    if c.queue_size < c.batch_size:
        raise ConfigError(
            "collector.queue_size", c.queue_size, "use at least collector.batch_size"
        )
    if not 1 <= c.max_inflight <= 65535:
        raise ConfigError("collector.max_inflight", c.max_inflight, "use 1 to 65535 messages")
    if c.session_expiry_s < 1:
        raise ConfigError("collector.session_expiry_s", c.session_expiry_s, "use 1 s or more")
    if c.spool_max_readings < 1:
        raise ConfigError("collector.spool_max_readings", c.spool_max_readings, "use 1 or more")
    if not 0 <= c.metrics_port <= 65535:
        raise ConfigError("collector.metrics_port", c.metrics_port, "use 0 (off) to 65535")
    if c.future_tolerance_s <= 0 or c.gap_after_s <= 0:
        raise ConfigError("collector.future_tolerance_s / gap_after_s",
                          (c.future_tolerance_s, c.gap_after_s), "use more than 0 s")
    s = cfg.simulator
    if s.interval_s < 1 or s.live_interval_s < 1:
        raise ConfigError("simulator.interval_s", s.interval_s, "use 1 s or more")
    if s.speed <= 0:
        raise ConfigError("simulator.speed", s.speed, "use a speed-up factor above 0")
    try:
        ZoneInfo(cfg.city.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError("city.timezone", cfg.city.timezone, "use an IANA name") from None

    _check_unique([x.id for x in cfg.sites], "sites")
    _check_unique([x.id for x in cfg.meters], "meters")
    for i, site in enumerate(cfg.sites):
        if not ID_PATTERN.match(site.id):
            raise ConfigError(
                f"sites[{i}].id", site.id,
                _id_problem(site.id),
            )
    site_ids = {s.id for s in cfg.sites}
    for i, meter in enumerate(cfg.meters):
        if not ID_PATTERN.match(meter.id):
            raise ConfigError(
                f"meters[{i}].id", meter.id,
                _id_problem(meter.id),
            )
        if meter.site not in site_ids:
            raise ConfigError(
                f"meters[{i}].site", meter.site,
                "no [[sites]] entry has this id; add the site or fix the meter's site",
            )
    for i, sd in enumerate(cfg.shutdowns):
        for bound in ("start", "end"):
            text = getattr(sd, bound)
            try:
                month_day(text)
            except ValueError:
                raise ConfigError(
                    f"shutdowns[{i}].{bound}", text, "use month-day as MM-DD, e.g. 12-29"
                ) from None
    meter_ids = {m.id for m in cfg.meters}
    _check_unique([x.id for x in cfg.measures], "measures")
    for i, ms in enumerate(cfg.measures):
        if ms.meter not in meter_ids:
            raise ConfigError(
                f"measures[{i}].meter", ms.meter, "no [[meters]] entry has this id"
            )
        if not -100 < ms.change_pct <= 100:
            raise ConfigError(
                f"measures[{i}].change_pct", ms.change_pct,
                "use a percentage change above -100 and at most 100, e.g. -8",
            )
    _validate_waste_patterns(cfg, meter_ids)
    _validate_forecasting(cfg)
    _validate_alerts(cfg)
    _validate_reporting(cfg)
    _validate_roles(cfg)


def _validate_roles(cfg: Config) -> None:
    """Role mappings name a known organisation, fit its kind, and say whom they match."""
    orgs = {c.id: c for c in cfg.companies}
    cities = [c.id for c in cfg.companies if c.kind == "city"]
    if len(cities) > 1:
        raise ConfigError("companies", cities, 'mark only the city office with kind = "city"')
    if not cfg.access.claim.strip():
        raise ConfigError("access.claim", cfg.access.claim,
                          'name the OIDC claim holding groups, e.g. "groups"')
    for i, r in enumerate(cfg.roles):
        where = f"roles[{i}]"
        if r.organisation not in orgs:
            raise ConfigError(f"{where}.organisation", r.organisation,
                              "no organisation has this id; use the id of a [[companies]] "
                              f"entry ({', '.join(orgs) or 'none declared'})")
        if r.role == "city" and orgs[r.organisation].kind != "city":
            raise ConfigError(f"{where}.role", r.role,
                              f"the city role belongs to the city office; use company or "
                              f"analyst, or mark {r.organisation!r} kind = \"city\"")
        if bool(r.group) == bool(r.email):
            raise ConfigError(where, r.group or r.email,
                              "set exactly one of group (a value of the access.claim "
                              "claim) or email")


def _validate_reporting(cfg: Config) -> None:
    """Companies own known sites (each at most once); site_reporting entries are complete."""
    site_ids = {s.id for s in cfg.sites}
    _check_unique([c.id for c in cfg.companies], "companies")
    owner: dict[str, str] = {}
    for i, c in enumerate(cfg.companies):
        for j, sid in enumerate(c.sites):
            key = f"companies[{i}].sites[{j}]"
            if sid not in site_ids:
                raise ConfigError(key, sid, "no site has this id; add it under [[sites]]")
            if sid in owner:
                raise ConfigError(key, sid, f"the site already belongs to company "
                                  f"{owner[sid]!r}; a site belongs to one company")
            owner[sid] = c.id
    seen: set[str] = set()
    for i, r in enumerate(cfg.site_reporting):
        where = f"site_reporting[{i}]"
        if r.site not in site_ids:
            raise ConfigError(f"{where}.site", r.site,
                              "no site has this id; add it under [[sites]]")
        if r.site in seen:
            raise ConfigError(f"{where}.site", r.site, "one [[site_reporting]] entry per site")
        seen.add(r.site)
        if not 0 <= r.nonfossil_certificate_pct <= 100:
            raise ConfigError(f"{where}.nonfossil_certificate_pct", r.nonfossil_certificate_pct,
                              "use a percentage between 0 and 100")
        if r.intensity_denominator == "floor_area" and not (r.floor_area_m2 or 0) > 0:
            raise ConfigError(f"{where}.floor_area_m2", r.floor_area_m2,
                              "intensity per floor area needs a positive floor_area_m2 [m2]")
        if r.menu and not r.retailer:
            raise ConfigError(f"{where}.retailer", r.retailer,
                              "a menu needs its retailer; set retailer too")


def _validate_waste_patterns(cfg: Config, meter_ids: set[str]) -> None:
    """Checks of [[waste_patterns]]: a known kind, an existing meter or measure."""
    from greenpipe.config import WASTE_PATTERN_KINDS

    measure_ids = {m.id for m in cfg.measures}
    for i, p in enumerate(cfg.waste_patterns):
        if p.kind not in WASTE_PATTERN_KINDS:
            raise ConfigError(f"waste_patterns[{i}].kind", p.kind,
                              f"choose one of {', '.join(WASTE_PATTERN_KINDS)}")
        if p.kind == "measure_underdelivery":
            if p.measure not in measure_ids:
                raise ConfigError(f"waste_patterns[{i}].measure", p.measure,
                                  "no [[measures]] entry has this id")
        elif p.meter not in meter_ids:
            raise ConfigError(f"waste_patterns[{i}].meter", p.meter,
                              "no [[meters]] entry has this id")
        for key in ("extra_kw", "hours_per_week", "pct_per_day", "delivered_pct"):
            if getattr(p, key) < 0:
                raise ConfigError(f"waste_patterns[{i}].{key}", getattr(p, key),
                                  "use 0 or more")
        if not 0 <= p.at_h < 24:
            raise ConfigError(f"waste_patterns[{i}].at_h", p.at_h, "use a local hour 0-24")


def _validate_forecasting(cfg: Config) -> None:
    """Checks of [forecasting], [[targets]] and [[emission_factors]]."""
    f = cfg.forecasting
    if not 0.5 <= f.interval_level < 1:
        raise ConfigError("forecasting.interval_level", f.interval_level,
                          "use a probability from 0.5 to below 1, e.g. 0.9")
    if f.uncertainty_samples < 50:
        raise ConfigError("forecasting.uncertainty_samples", f.uncertainty_samples,
                          "use at least 50 posterior samples (300 is the default)")
    if not 0 < f.min_coverage <= 1:
        raise ConfigError("forecasting.min_coverage", f.min_coverage,
                          "use a fraction above 0 and at most 1, e.g. 0.9")
    if f.hdd_base_c > f.cdd_base_c:
        raise ConfigError("forecasting.hdd_base_c", f.hdd_base_c,
                          "the heating base must not exceed forecasting.cdd_base_c")
    for key in ("baseline_days", "reporting_days", "cv_folds"):
        if getattr(f, key) < 1:
            raise ConfigError(f"forecasting.{key}", getattr(f, key), "use 1 or more")
    if f.workers < 0:
        raise ConfigError("forecasting.workers", f.workers, "use 0 (one per core) or more")
    if not 0 <= f.level_drift_pct_per_year <= 50:
        raise ConfigError("forecasting.level_drift_pct_per_year", f.level_drift_pct_per_year,
                          "use a yearly standard deviation in percent from 0 (off) to 50, e.g. 3")
    site_ids = {s.id for s in cfg.sites}
    seen: set[tuple[str, str, int]] = set()
    for i, t in enumerate(cfg.targets):
        where = f"targets[{i}]"
        if t.scope == "sector" and t.id not in {s.value for s in Sector}:
            raise ConfigError(f"{where}.id", t.id,
                              f"a sector target names one of {', '.join(s.value for s in Sector)}")
        if t.scope == "site" and t.id not in site_ids:
            raise ConfigError(f"{where}.id", t.id, "no [[sites]] entry has this id")
        if not 1990 <= t.base_fy <= 2100:
            raise ConfigError(f"{where}.base_fy", t.base_fy, "use a fiscal year such as 2013")
        if t.target_fy <= t.base_fy:
            raise ConfigError(f"{where}.target_fy", t.target_fy,
                              "the target year must come after base_fy")
        if not t.base_co2_t > 0:
            raise ConfigError(f"{where}.base_co2_t", t.base_co2_t,
                              "use the base-year inventory in t-CO2 (above 0)")
        if not 0 < t.reduction_pct <= 100:
            raise ConfigError(f"{where}.reduction_pct", t.reduction_pct,
                              "use a reduction above 0 and at most 100 (net zero), e.g. 46")
        target_key = (t.scope, t.id, t.target_fy)
        if target_key in seen:
            raise ConfigError(f"{where}.target_fy", t.target_fy,
                              f"{t.scope} {t.id!r} already has a target for this year")
        seen.add(target_key)
    for i, ef in enumerate(cfg.emission_factors):
        where = f"emission_factors[{i}]"
        if not (ef.ef_kg_per_kwh >= 0 and ef.ef_kg_per_kwh < 10):
            raise ConfigError(f"{where}.ef_kg_per_kwh", ef.ef_kg_per_kwh,
                              "use kg-CO2 per kWh from 0 to below 10, e.g. 0.441")
        if not ef.source.strip():
            raise ConfigError(f"{where}.source", ef.source,
                              "name where the factor comes from (publisher and year)")
        if not ef.grid_region.strip():
            raise ConfigError(f"{where}.grid_region", ef.grid_region,
                              "use a region name such as japan or tepco")


def _validate_alerts(cfg: Config) -> None:
    """Checks of [alerts]; a channel's missing secret is reported when alerts are sent."""
    a = cfg.alerts
    for key in ("dedupe_window_s", "default_interval_s", "stall_after_s"):
        if getattr(a, key) < 1:
            raise ConfigError(f"alerts.{key}", getattr(a, key), "use 1 s or more")
    if not a.offline_factor >= 1:
        raise ConfigError("alerts.offline_factor", a.offline_factor,
                          "use 1 or more reading intervals, e.g. 3")
    if not 0 <= a.retries <= 10:
        raise ConfigError("alerts.retries", a.retries, "use 0 to 10 extra attempts")
    if not (a.backoff_s >= 0 and a.timeout_s > 0):
        raise ConfigError("alerts.backoff_s / timeout_s", (a.backoff_s, a.timeout_s),
                          "use a backoff of 0 s or more and a timeout above 0 s")
    if not a.state_path.strip():
        raise ConfigError("alerts.state_path", a.state_path,
                          "name a SQLite file, or use auto (beside a SQLite store)")
    if a.email_to.strip():
        if not a.smtp_host.strip():
            raise ConfigError("alerts.smtp_host", a.smtp_host,
                              "alerts.email_to is set; name the SMTP server, e.g. smtp.example.jp")
        if "@" not in a.email_from:
            raise ConfigError("alerts.email_from", a.email_from,
                              "alerts.email_to is set; give the sender address, "
                              "e.g. greenpipe@example.jp")
        if any("@" not in x for x in _split_list(a.email_to)):
            raise ConfigError("alerts.email_to", a.email_to,
                              "use comma-separated e-mail addresses")
    if not 1 <= a.smtp_port <= 65535:
        raise ConfigError("alerts.smtp_port", a.smtp_port, "use a TCP port between 1 and 65535")
    for i, target in enumerate(_split_list(a.line_to)):
        if not re.fullmatch(r"[UCR][0-9a-f]{32}", target):
            raise ConfigError(f"alerts.line_to[{i}]", target,
                              "use a LINE user (U...), group (C...) or room (R...) id: "
                              "a letter and 32 hex digits, from your bot's webhook events")


def _split_list(text: str) -> list[str]:
    """Split a comma-separated config value into its non-empty, stripped items."""
    return [x.strip() for x in text.split(",") if x.strip()]
