"""Typed configuration: loaded from TOML, overridden by ``GREENPIPE_*`` environment variables.

Defaults live here and only here. Validation happens once, at load, and every error names
the key, the bad value and the fix (``ConfigError``). Connecting happens later, elsewhere.

Environment overrides follow one rule: ``GREENPIPE_<SECTION>_<KEY>`` sets ``[section] key``
for the scalar keys of the ``broker``, ``store``, ``collector``, ``simulator`` and ``alerts``
sections, for example ``GREENPIPE_STORE_URL`` or ``GREENPIPE_BROKER_PORT``. Secrets are never read
from the TOML file: the broker password comes from ``GREENPIPE_BROKER_PASSWORD`` or from
the file named by ``broker.password_file``; the InfluxDB token from
``GREENPIPE_INFLUX_TOKEN`` or the file named by ``store.token_file``; the alert channels'
secrets from ``GREENPIPE_ALERTS_<NAME>`` or the file named by ``alerts.<name>_file``.
"""

from __future__ import annotations

import difflib
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from datetime import date
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from greenpipe.config_checks import month_day, validate
from greenpipe.errors import ConfigError
from greenpipe.model import Meter, MeterKind, Sector, Site
from greenpipe.tariff import Tariff, tariff_from_dict

ENV_PREFIX = "GREENPIPE_"

UNITS_BY_KIND: dict[MeterKind, tuple[str, ...]] = {
    MeterKind.ELECTRICITY: ("kWh", "Wh", "MWh"),
    MeterKind.GAS: ("kWh", "Wh", "MWh"),
    MeterKind.PV: ("kWh", "Wh", "MWh"),
    MeterKind.EV_CHARGING: ("kWh", "Wh", "MWh"),
    MeterKind.HEAT: ("kWh", "Wh", "MWh"),
    MeterKind.WEATHER: ("degC",),
    MeterKind.PRODUCTION: (),
}
"""Allowed register units per kind; an empty tuple means any unit named in config."""
DEFAULT_PRODUCTION_UNIT = "units"


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """Where the MQTT broker is and how to log in."""

    host: str = ""
    """Broker host name. Empty means: ``greenpipe demo`` starts the embedded amqtt broker."""
    port: int = 1883
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    username: str | None = None
    password_file: str | None = None
    """File holding the broker password (alternative to GREENPIPE_BROKER_PASSWORD)."""
    password: str | None = field(default=None, repr=False)
    """Filled from the environment or ``password_file`` only; never logged."""
    topic_prefix: str = "greenpipe/v1"
    keepalive_s: int = 60
    protocol: Literal["3.1.1", "5"] = "3.1.1"


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Where readings are stored."""

    url: str = "sqlite:var/greenpipe.db"
    org: str = ""
    """InfluxDB 2.x organisation (ignored by 1.x and 3.x)."""
    token_file: str | None = None
    """File holding the InfluxDB token (alternative to GREENPIPE_INFLUX_TOKEN)."""
    api: Literal["auto", "v1", "v2"] = "auto"
    """InfluxDB write API: ``auto`` detects it from /ping (v2 on 1.8+, 2.x, 3.x)."""
    retention: str = ""
    """InfluxDB retention as an InfluxQL duration such as ``400d``; empty keeps data forever."""
    timeout_s: float = 10.0
    """InfluxDB request timeout. [s]"""
    token: str | None = field(default=None, repr=False)
    """Filled from GREENPIPE_INFLUX_TOKEN or ``token_file`` only; never logged."""


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    """Collector tuning."""

    client_id: str = "greenpipe-collector"
    batch_size: int = 500
    """Flush to the store once this many readings are waiting. [readings]"""
    flush_interval_s: float = 1.0
    """Flush at least this often while readings are waiting. [s]"""
    summary_interval_s: float = 10.0
    """Log a one-line throughput summary this often. [s]"""
    queue_size: int = 20000
    """Messages buffered between the MQTT thread and the writer. [messages]"""
    max_inflight: int = 20
    """QoS 1 messages held unacknowledged before the collector flushes and acks them; sent
    as Receive Maximum on MQTT 5. On MQTT 3.1.1 set Mosquitto's ``max_inflight_messages``
    to the same value (its default is 20). [messages]"""
    session_expiry_s: int = 604800
    """How long the broker keeps the collector's session (and queues readings) while it is
    away; MQTT 5 SessionExpiryInterval. [s]"""
    spool_path: str = "auto"
    """SQLite file that holds readings while the store is down. ``auto``: for a network
    store (InfluxDB) ``var/collector-spool-<client_id>.db``, none for SQLite stores (already
    a local file); empty disables the spool."""
    spool_max_readings: int = 2000000
    """Spool capacity; when full, the collector stops acking and the broker holds readings.
    [readings]"""
    future_tolerance_s: float = 86400.0
    """Readings stamped later than this after receipt are dead letters (a meter clock
    running ahead); generous by default because ``greenpipe demo --speed`` runs ahead. [s]"""
    gap_after_s: float = 3600.0
    """An interval longer than this is flagged ``quality.gap``. [s]"""
    routes: str = ""
    """Device topics besides the native ones: ``DECODER TOPIC_FILTER`` entries separated by
    ``;`` (decoders: tasmota, shelly_gen2, json_path:<spec>; see docs/collector.md)."""
    metrics_port: int = 0
    """Port of the Prometheus ``/metrics`` and ``/healthz`` endpoint; 0 disables it."""
    metrics_host: str = "127.0.0.1"
    """Address the metrics endpoint listens on."""
    log_format: Literal["text", "json"] = "text"
    """``json``: one JSON object per log line, for log shippers."""
    share_group: str = ""
    """MQTT shared-subscription group (``$share/<group>/...``); empty: no sharing. Without
    ``share_members`` the members are stateless: the (SQLite) store's write transaction
    orders each meter's readings (docs/collector.md)."""
    share_members: str = ""
    """For stores without transactions (InfluxDB): comma-separated client ids of every
    collector in ``share_group``, this one included; each meter's readings are processed
    by exactly one of them, the others forward (docs/collector.md)."""
    writer: Literal["thread", "process"] = "thread"
    """Where decoding and store writes run: ``thread``, a writer thread beside paho's in one
    process; ``process``, a child process, so they do not share one GIL with MQTT intake
    (not with ``share_members``; docs/collector.md, "Writer process")."""


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """Simulated meters."""

    client_id: str = "greenpipe-simulator"
    seed: int = 42
    interval_s: int = 1800
    """Reading interval in backfill; 30 min is the Japanese smart-meter standard. [s]"""
    live_interval_s: int = 60
    """Reading interval in live mode, in simulated time. [s]"""
    backfill_days: int = 400
    """History ``greenpipe demo`` publishes before going live. [d]"""
    speed: float = 1.0
    """Live mode: simulated seconds per real second."""
    latitude_deg: float = 36.6
    """Site latitude for the PV clear-sky model (Hitachi City). [deg]"""
    longitude_deg: float = 140.65
    """Site longitude for the PV clear-sky model (Hitachi City). [deg]"""


@dataclass(frozen=True, slots=True)
class CityConfig:
    """The city the programme covers."""

    name: str = "Demo City"
    timezone: str = "Asia/Tokyo"
    language: Literal["ja", "en"] = "ja"


@dataclass(frozen=True, slots=True)
class DashboardConfig:
    """The operators' dashboard (``greenpipe dashboard``)."""

    refresh_s: int = 60
    """How often live panels (power, meter health) refresh. [s]"""
    cache_ttl_s: int = 60
    """How long query results are reused before the store is asked again. [s]"""
    offline_after_s: int = 3600
    """A meter whose newest reading is older than this is shown as offline. [s]"""
    login: bool = False
    """Require OIDC login (``st.login``); the provider goes in ``.streamlit/secrets.toml``."""


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    """Alert delivery (``greenpipe alerts``): channels, de-duplication and retries.

    A channel is on when its recipients are set (``email_to``, ``line_to``) or, for the
    webhook, when its URL is present. Secrets come only from the environment or a file:
    GREENPIPE_ALERTS_WEBHOOK_URL / ``webhook_url_file``, GREENPIPE_ALERTS_SMTP_PASSWORD /
    ``smtp_password_file``, GREENPIPE_ALERTS_LINE_TOKEN / ``line_token_file``.
    """

    dedupe_window_s: int = 86400
    """The same alert key is not re-sent on a channel within this window. [s]"""
    state_path: str = "auto"
    """SQLite file remembering what was sent; ``auto``: ``<store file>.alerts.db`` beside
    a SQLite store, ``var/alerts-state.db`` for InfluxDB."""
    finding_min_confidence: Literal["low", "medium", "high"] = "medium"
    """New findings at or above this confidence are alerted by ``greenpipe alerts check``."""
    offline_factor: float = 3.0
    """A meter is offline after this many of its reading intervals without a reading."""
    default_interval_s: int = 1800
    """Reading interval assumed for a meter with fewer than two stored readings. [s]"""
    stall_after_s: int = 3600
    """The collector has stalled when the store received nothing for this long. [s]"""
    retries: int = 3
    """Extra attempts per channel after a failed send."""
    backoff_s: float = 2.0
    """Wait before the first retry; doubles at each further retry. [s]"""
    timeout_s: float = 10.0
    """Network timeout of one send. [s]"""
    webhook_url_file: str | None = None
    """File holding the Slack-compatible webhook URL (alternative to the environment)."""
    email_to: str = ""
    """Comma-separated recipients; empty turns e-mail off."""
    email_from: str = ""
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_user: str = ""
    smtp_password_file: str | None = None
    """File holding the SMTP password (alternative to GREENPIPE_ALERTS_SMTP_PASSWORD)."""
    line_to: str = ""
    """Comma-separated LINE user, group or room ids (Messaging API push); empty: off."""
    line_token_file: str | None = None
    """File holding the LINE channel access token (alternative to the environment)."""
    webhook_url: str | None = field(default=None, repr=False)
    """Filled from GREENPIPE_ALERTS_WEBHOOK_URL or ``webhook_url_file`` only; never logged."""
    smtp_password: str | None = field(default=None, repr=False)
    """Filled from GREENPIPE_ALERTS_SMTP_PASSWORD or ``smtp_password_file`` only."""
    line_token: str | None = field(default=None, repr=False)
    """Filled from GREENPIPE_ALERTS_LINE_TOKEN or ``line_token_file`` only; never logged."""


@dataclass(frozen=True, slots=True)
class ShutdownPeriod:
    """A recurring plant shutdown (Golden Week, Obon, New Year), as month-day bounds."""

    name: str
    start: str
    """First day, ``MM-DD`` (inclusive)."""
    end: str
    """Last day, ``MM-DD`` (inclusive); may be earlier than start to wrap the new year."""

    def contains(self, day: date) -> bool:
        """Return True when ``day`` (a local calendar date) falls in this shutdown."""
        md = (day.month, day.day)
        start = month_day(self.start)
        end = month_day(self.end)
        if start <= end:
            return start <= md <= end
        return md >= start or md <= end


@dataclass(frozen=True, slots=True)
class Measure:
    """A declared efficiency measure, e.g. an LED retrofit that cuts a meter's use by 8%."""

    id: str
    meter: str
    start: date
    """First local day the measure is in effect."""
    change_pct: float
    """Change in the meter's energy, e.g. -8 for an 8% saving. [%]"""
    description: str = ""


WASTE_PATTERN_KINDS = ("weekend_base_load", "hvac_schedule_drift", "shift_start_spike",
                       "pv_soiling", "measure_underdelivery", "evening_charging")


@dataclass(frozen=True, slots=True)
class WastePattern:
    """A waste pattern the simulator injects into one meter, so the finder has work to do.

    Each is switchable (``enabled``) and deterministic given the simulator seed; see
    ``simulators.patterns`` for what each ``kind`` does with its parameters.
    """

    kind: str
    """One of ``WASTE_PATTERN_KINDS``."""
    meter: str = ""
    start: date | None = None
    """First local day the pattern is in effect (None: always)."""
    enabled: bool = True
    extra_kw: float = 0.0
    """Added power: on non-working days (weekend_base_load) or in the spike half-hour. [kW]"""
    at_h: float = 0.0
    """Local hour of the spike (shift_start_spike) or the charger start (evening_charging). [h]"""
    hours_per_week: float = 0.0
    """hvac_schedule_drift: hours the HVAC switch-off moves later per week since start. [h/wk]"""
    pct_per_day: float = 0.0
    """pv_soiling: yield lost per day since the last cleaning. [%/d]"""
    cleaned: date | None = None
    """pv_soiling: a cleaning day that resets the soiling, which then builds up again."""
    measure: str = ""
    """measure_underdelivery: the declared measure that delivers less."""
    delivered_pct: float = 100.0
    """measure_underdelivery: share of the declared change the measure really delivers. [%]"""


@dataclass(frozen=True, slots=True)
class Target:
    """An emission-reduction target with its base-year inventory value.

    ``scope`` is ``city`` (all sites), ``sector`` (``id`` is a sector; the Japanese
    inventory's commercial sector 業務その他部門 includes ``public`` sites) or ``site``.
    Met when emissions in ``target_fy`` ≤ ``base_co2_t`` × (1 − ``reduction_pct``/100).
    """

    scope: Literal["city", "sector", "site"]
    id: str
    base_fy: int
    """Base fiscal year (April–March), e.g. 2013."""
    base_co2_t: float
    """Base-year inventory emissions of the scope. [t-CO2]"""
    target_fy: int
    reduction_pct: float
    """Required reduction from the base year, e.g. 46; 100 is net zero. [%]"""
    name: str = ""
    source: str = ""
    """Where the base-year inventory value comes from."""


@dataclass(frozen=True, slots=True)
class EmissionFactorOverride:
    """A user emission factor replacing or adding to ``greenpipe/data/emission_factors.toml``.

    Without ``fiscal_year`` it applies to every year and replaces all shipped values of
    the same kind, region and basis; with it, it applies from that fiscal year on.
    """

    kind: Literal["electricity", "ev_charging", "gas", "heat", "pv"]
    ef_kg_per_kwh: float
    """Emission factor. [kg-CO2/kWh]"""
    source: str
    """Citation, e.g. the retailer's published factor and year (required)."""
    grid_region: str = "japan"
    fiscal_year: int | None = None
    basis: Literal["location", "market", "basic", "adjusted"] = "location"
    retailer: str = ""
    """Electricity retailer (SHK 電気事業者別排出係数); only the statutory reports use it."""
    menu: str = ""
    """The retailer's menu (A, B, C ...)."""


@dataclass(frozen=True, slots=True)
class Company:
    """An organisation and the sites it owns: a company (法人) or the city office.

    Used for the company-wide 1,500 kL test of the statutory reports and for dashboard
    access (``greenpipe.access``): a company's users see its own sites in full.
    """

    id: str
    name: str = ""
    sites: tuple[str, ...] = ()
    """Ids of the sites the company owns; a site belongs to at most one company."""
    kind: Literal["company", "city"] = "company"
    """``city``: the city office, whose ``city`` role sees every site (at most one)."""


ROLES = ("city", "company", "analyst")
"""Dashboard roles: city office (everything), company (own sites in full plus city and
sector totals with small groups suppressed), analyst (read-only, with exports)."""


@dataclass(frozen=True, slots=True)
class RoleMapping:
    """Maps users to an organisation and role: by a value of the OIDC claim
    ``access.claim`` (``group``) or by e-mail address (``email``), exactly one of them."""

    organisation: str
    """Id of a ``[[companies]]`` entry (the city office is one, with ``kind = "city"``)."""
    role: Literal["city", "company", "analyst"]
    group: str = ""
    """A value of the ``access.claim`` claim (e.g. a group name) that grants this role."""
    email: str = ""
    """An e-mail address (the ``email`` claim, compared case-insensitively)."""


@dataclass(frozen=True, slots=True)
class AccessConfig:
    """Who sees what in the dashboard (docs/security.md)."""

    claim: str = "groups"
    """OIDC ID-token claim holding the user's groups or organisation (a string or a list)."""
    audit_path: str = "var/audit.db"
    """SQLite file of the audit log (acknowledged findings, downloads, exports)."""
    public_page: bool = False
    """Serve the residents' progress page without login."""


@dataclass(frozen=True, slots=True)
class SiteReporting:
    """How a site is reported under the Energy Conservation Act and the SHK system."""

    site: str
    retailer: str = ""
    """Electricity retailer id as in the factor file (e.g. ``yonden``, ``tepco_ep``)."""
    menu: str = ""
    """The retailer's menu (A, B, C ...); empty when the retailer has one."""
    nonfossil_certificate_pct: float = 0.0
    """The retailer's non-fossil certificate use for this menu (A in A + (100−A)×0.13). [%]"""
    intensity_denominator: Literal["production", "floor_area"] = "production"
    """Energy intensity per unit of production (factories) or per floor area (offices)."""
    floor_area_m2: float | None = None
    """Floor area, required for ``floor_area``. [m²]"""
    pv_exported: bool = False
    """True when the site's PV output is sold to the grid (a PV plant), not self-consumed."""


@dataclass(frozen=True, slots=True)
class ForecastingConfig:
    """Baselines, savings and projections (``greenpipe forecast run``, ``greenpipe savings``)."""

    granularity: Literal["daily", "hourly"] = "daily"
    """Model resolution; daily is the robust default for annual savings."""
    interval_level: float = 0.90
    """Central probability of reported uncertainty intervals (0.90 = P5–P95)."""
    uncertainty_samples: int = 300
    """Prophet posterior samples behind each interval."""
    shutdown_handling: Literal["holidays", "exclude", "ignore"] = "holidays"
    """Plant shutdowns as holiday effects, excluded from fits, or ignored."""
    hdd_base_c: float = 18.0
    """Heating degree base temperature, used when balance_point_search is off. [°C]"""
    cdd_base_c: float = 22.0
    """Cooling degree base temperature, used when balance_point_search is off. [°C]"""
    balance_point_search: bool = True
    """Choose each baseline's degree bases from its data (variable-base degree days)."""
    min_coverage: float = 0.9
    """Share of expected intervals that must hold data, else a sufficiency warning."""
    baseline_days: int = 365
    """Length of the baseline period before a measure (12 months for yearly seasonality). [d]"""
    reporting_days: int = 90
    """Reporting period for meters without a declared measure (a null test). [d]"""
    cv_folds: int = 3
    """Time-series cross-validation folds for out-of-sample CV(RMSE)."""
    emission_basis: Literal["location", "market"] = "location"
    workers: int = 0
    """Process-pool size for ``forecast run``; 0 means one per CPU core."""
    seed: int = 0
    """Seed of Prophet's posterior sampling, so intervals are reproducible."""
    level_drift_pct_per_year: float = 3.0
    """Yearly standard deviation of a flat-trend projection's level random walk; 0 = off. [%]"""


@dataclass(frozen=True, slots=True)
class Config:
    """The whole, validated configuration."""

    broker: BrokerConfig = field(default_factory=BrokerConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    collector: CollectorConfig = field(default_factory=CollectorConfig)
    simulator: SimulatorConfig = field(default_factory=SimulatorConfig)
    city: CityConfig = field(default_factory=CityConfig)
    forecasting: ForecastingConfig = field(default_factory=ForecastingConfig)
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    access: AccessConfig = field(default_factory=AccessConfig)
    sites: tuple[Site, ...] = ()
    meters: tuple[Meter, ...] = ()
    shutdowns: tuple[ShutdownPeriod, ...] = ()
    measures: tuple[Measure, ...] = ()
    targets: tuple[Target, ...] = ()
    emission_factors: tuple[EmissionFactorOverride, ...] = ()
    companies: tuple[Company, ...] = ()
    site_reporting: tuple[SiteReporting, ...] = ()
    tariff: Tariff = field(default_factory=Tariff)
    waste_patterns: tuple[WastePattern, ...] = ()
    roles: tuple[RoleMapping, ...] = ()
    source: str = "<defaults>"
    """Where the configuration was read from, for messages."""

    def meters_by_id(self) -> dict[str, Meter]:
        """Return a mapping from meter id to meter."""
        return {m.id: m for m in self.meters}

    def sites_by_id(self) -> dict[str, Site]:
        """Return a mapping from site id to site."""
        return {s.id: s for s in self.sites}


_SECTIONS: dict[str, type] = {
    "broker": BrokerConfig,
    "store": StoreConfig,
    "collector": CollectorConfig,
    "simulator": SimulatorConfig,
    "city": CityConfig,
    "forecasting": ForecastingConfig,
    "dashboard": DashboardConfig,
    "alerts": AlertsConfig,
    "access": AccessConfig,
}
_LISTS = ("sites", "meters", "shutdowns", "measures", "targets", "emission_factors",
          "companies", "site_reporting", "waste_patterns", "roles")
_ENV_SECTIONS = ("broker", "store", "collector", "simulator", "alerts")


def default_config_path() -> Path:
    """Return the config file used when none is given.

    Order: ``$GREENPIPE_CONFIG``, then the example city in the repository's ``config/``,
    then the copy of it shipped inside the installed package.
    """
    env = os.environ.get(ENV_PREFIX + "CONFIG")
    if env:
        return Path(env)
    repo_copy = Path(__file__).resolve().parent.parent / "config" / "example.toml"
    if repo_copy.is_file():
        return repo_copy
    return Path(__file__).resolve().parent / "_data" / "example.toml"


def load_config(
    path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> Config:
    """Load, override from the environment and validate the configuration.

    ``path`` defaults to ``default_config_path()``; ``env`` defaults to ``os.environ``.
    Raises ConfigError for anything invalid, including an unreadable file.
    """
    cfg_path = Path(path) if path is not None else default_config_path()
    try:
        raw = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            "--config", str(cfg_path), "the file does not exist; pass an existing TOML file"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("--config", str(cfg_path), f"not valid TOML ({exc})") from None
    return config_from_dict(raw, env=env, source=str(cfg_path), base_dir=cfg_path.parent)


def config_from_dict(
    raw: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    source: str = "<dict>",
    base_dir: Path | None = None,
) -> Config:
    """Build a validated Config from already-parsed TOML data plus environment overrides."""
    env = os.environ if env is None else env
    _reject_unknown(raw, [*_SECTIONS, *_LISTS, "tariff"], "")
    if "password" in raw.get("broker", {}):
        raise ConfigError(
            "broker.password",
            "***",
            "secrets do not belong in the config file; set GREENPIPE_BROKER_PASSWORD "
            "or broker.password_file",
        )
    for name in sorted(set(_ALERT_SECRETS) & set(raw.get("alerts", {}))):
        raise ConfigError(
            f"alerts.{name}", "***",
            f"secrets do not belong in the config file; set GREENPIPE_ALERTS_{name.upper()} "
            f"or alerts.{name}_file",
        )
    if "token" in raw.get("store", {}):
        raise ConfigError(
            "store.token", "***",
            "secrets do not belong in the config file; set GREENPIPE_INFLUX_TOKEN "
            "or store.token_file",
        )
    sections: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        data = dict(raw.get(name, {}))
        if not isinstance(data, dict):
            raise ConfigError(name, data, f"[{name}] must be a table")
        if name in _ENV_SECTIONS:
            data.update(_env_overrides(name, cls, env))
        sections[name] = _build(cls, data, name)

    broker: BrokerConfig = sections["broker"]
    broker = replace(broker, password=_secret(
        "BROKER_PASSWORD", broker.password_file, "broker.password_file", env, base_dir))
    sections["broker"] = broker
    store_cfg: StoreConfig = sections["store"]
    sections["store"] = replace(store_cfg, token=_secret(
        "INFLUX_TOKEN", store_cfg.token_file, "store.token_file", env, base_dir))
    alerts: AlertsConfig = sections["alerts"]
    alert_secrets: dict[str, Any] = {
        name: _secret(f"ALERTS_{name.upper()}", getattr(alerts, f"{name}_file"),
                      f"alerts.{name}_file", env, base_dir)
        for name in _ALERT_SECRETS}
    sections["alerts"] = replace(alerts, **alert_secrets)

    sites = tuple(_build_site(d, f"sites[{i}]") for i, d in enumerate(_table_list(raw, "sites")))
    meters = tuple(
        _build_meter(d, f"meters[{i}]") for i, d in enumerate(_table_list(raw, "meters"))
    )
    shutdowns = tuple(
        _build(ShutdownPeriod, d, f"shutdowns[{i}]")
        for i, d in enumerate(_table_list(raw, "shutdowns"))
    )
    measures = tuple(
        _build(Measure, d, f"measures[{i}]") for i, d in enumerate(_table_list(raw, "measures"))
    )
    targets = tuple(
        _build(Target, d, f"targets[{i}]") for i, d in enumerate(_table_list(raw, "targets"))
    )
    emission_factors = tuple(
        _build(EmissionFactorOverride, d, f"emission_factors[{i}]")
        for i, d in enumerate(_table_list(raw, "emission_factors"))
    )
    companies = tuple(_build_company(d, f"companies[{i}]")
                      for i, d in enumerate(_table_list(raw, "companies")))
    site_reporting = tuple(_build(SiteReporting, d, f"site_reporting[{i}]")
                           for i, d in enumerate(_table_list(raw, "site_reporting")))
    waste_patterns = tuple(
        _build(WastePattern, d, f"waste_patterns[{i}]")
        for i, d in enumerate(_table_list(raw, "waste_patterns"))
    )
    roles = tuple(_build(RoleMapping, d, f"roles[{i}]")
                  for i, d in enumerate(_table_list(raw, "roles")))
    cfg = Config(
        roles=roles, sites=sites, meters=meters, shutdowns=shutdowns, measures=measures,
        source=source,
        targets=targets, emission_factors=emission_factors, companies=companies,
        site_reporting=site_reporting,
        tariff=tariff_from_dict(raw.get("tariff", {})), waste_patterns=waste_patterns,
        **sections,
    )
    validate(cfg)
    return cfg


def _table_list(raw: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(key, value, f"write each entry as a [[{key}]] table")
    return value


def _reject_unknown(data: Mapping[str, Any], known: list[str], where: str) -> None:
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
            raise ConfigError(f"{where}{key}", data[key], f"unknown key; {hint}")


def _env_overrides(section: str, cls: type, env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in _SECRET_FIELDS:
            continue
        var = f"{ENV_PREFIX}{section.upper()}_{f.name.upper()}"
        if var in env:
            out[f.name] = _EnvString(env[var], var)
    return out


class _EnvString(str):
    """A string that came from an environment variable; coerced to the field type."""

    var: str

    def __new__(cls, value: str, var: str) -> _EnvString:
        obj = super().__new__(cls, value)
        obj.var = var
        return obj


_ALERT_SECRETS = ("webhook_url", "smtp_password", "line_token")
_SECRET_FIELDS = ("password", "token", *_ALERT_SECRETS)
"""Fields filled only from dedicated environment variables or files, never from TOML."""


def _secret(
    env_var: str, file: str | None, key: str, env: Mapping[str, str], base_dir: Path | None
) -> str | None:
    """Return a secret from ``env_var`` or, failing that, from the file named by ``key``."""
    if env.get(ENV_PREFIX + env_var):
        return env[ENV_PREFIX + env_var]
    if not file:
        return None
    path = Path(file)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            key, file, f"cannot read it ({exc.strerror}); create the file or fix the path"
        ) from None


def _build(cls: type, data: Mapping[str, Any], where: str) -> Any:
    known = [f.name for f in fields(cls) if f.name not in _SECRET_FIELDS]
    _reject_unknown(data, known, f"{where}.")
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        key = f"{where}.{f.name}"
        if f.name in data:
            kwargs[f.name] = _coerce(data[f.name], hints[f.name], key)
        elif f.default is MISSING and f.default_factory is MISSING:
            raise ConfigError(key, None, "this key is required; add it")
    return cls(**kwargs)


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Coerce a TOML (or environment-string) value to the annotated type, or explain why not."""
    from_env = isinstance(value, _EnvString)
    label = value.var if from_env else key
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        if value is None or (from_env and value == ""):
            return None
        return _coerce(value, non_none[0], key)
    if origin is Literal:
        if from_env:
            value = str(value)
        if value not in args:
            raise ConfigError(label, value, f"choose one of {', '.join(map(str, args))}")
        return value
    if tp is bool:
        if from_env:
            low = value.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
        elif isinstance(value, bool):
            return value
        raise ConfigError(label, value, "use true or false")
    if tp is int:
        if from_env:
            try:
                return int(value)
            except ValueError:
                pass
        elif isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(label, value, "use a whole number")
    if tp is float:
        if from_env:
            try:
                return float(value)
            except ValueError:
                pass
        elif isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(label, value, "use a number")
    if tp is str:
        if isinstance(value, str):
            return str(value)
        raise ConfigError(label, value, "use a quoted string")
    if tp is date:
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        raise ConfigError(label, value, "use a date such as 2025-04-01")
    raise TypeError(f"unsupported config type {tp!r} for {key}")  # a bug, not user input


def _build_site(data: Mapping[str, Any], where: str) -> Site:
    _reject_unknown(data, [f.name for f in fields(Site)], f"{where}.")
    for required in ("id", "name", "sector"):
        if required not in data:
            raise ConfigError(f"{where}.{required}", None, "this key is required; add it")
    sector = data["sector"]
    if sector not in Sector.__members__.values():
        raise ConfigError(
            f"{where}.sector", sector, f"choose one of {', '.join(s.value for s in Sector)}"
        )
    tz = data.get("timezone", "Asia/Tokyo")
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{where}.timezone", tz, "use an IANA time zone name such as Asia/Tokyo"
        ) from None
    return Site(
        id=_coerce(data["id"], str, f"{where}.id"),
        name=_coerce(data["name"], str, f"{where}.name"),
        sector=Sector(sector),
        timezone=str(tz),
        grid_region=_coerce(data.get("grid_region", "japan"), str, f"{where}.grid_region"),
    )


def _build_meter(data: Mapping[str, Any], where: str) -> Meter:
    _reject_unknown(data, [f.name for f in fields(Meter)], f"{where}.")
    for required in ("id", "site", "kind"):
        if required not in data:
            raise ConfigError(f"{where}.{required}", None, "this key is required; add it")
    kind = data["kind"]
    if kind not in MeterKind.__members__.values():
        raise ConfigError(
            f"{where}.kind", kind, f"choose one of {', '.join(k.value for k in MeterKind)}"
        )
    mkind = MeterKind(kind)
    units = UNITS_BY_KIND[mkind]
    unit = data.get("unit", units[0] if units else DEFAULT_PRODUCTION_UNIT)
    if not units:
        if not isinstance(unit, str) or not unit.strip():
            raise ConfigError(f"{where}.unit", unit,
                              "name the production unit as a string, e.g. \"t\" or \"units\"")
    elif unit not in units:
        raise ConfigError(
            f"{where}.unit", unit, f"a {kind} meter uses one of {', '.join(UNITS_BY_KIND[mkind])}"
        )
    rated = data.get("rated_max_power_kw")
    rated_kw = None if rated is None else _coerce(rated, float, f"{where}.rated_max_power_kw")
    if rated_kw is not None and rated_kw <= 0:
        raise ConfigError(f"{where}.rated_max_power_kw", rated, "use a positive power in kW")
    nominal = data.get("nominal_kw")
    nominal_kw = None if nominal is None else _coerce(nominal, float, f"{where}.nominal_kw")
    if nominal_kw is not None and nominal_kw < 0:
        raise ConfigError(f"{where}.nominal_kw", nominal, "use a power of 0 kW or more")
    rate = data.get("nominal_output_per_h")
    rate_h = None if rate is None else _coerce(rate, float, f"{where}.nominal_output_per_h")
    if rate_h is not None and (rate_h <= 0 or mkind != MeterKind.PRODUCTION):
        raise ConfigError(f"{where}.nominal_output_per_h", rate,
                          "only production meters take it, as a positive output per hour")
    return Meter(
        id=_coerce(data["id"], str, f"{where}.id"),
        site=_coerce(data["site"], str, f"{where}.site"),
        kind=mkind,
        unit=unit,
        cumulative=_coerce(data.get("cumulative", mkind not in (MeterKind.WEATHER,
                                                                MeterKind.PRODUCTION)), bool,
                           f"{where}.cumulative"),
        rated_max_power_kw=rated_kw,
        profile=_coerce(data["profile"], str, f"{where}.profile") if "profile" in data else None,
        nominal_kw=nominal_kw,
        nominal_output_per_h=rate_h,
    )


def _build_company(data: Mapping[str, Any], where: str) -> Company:
    _reject_unknown(data, [f.name for f in fields(Company)], f"{where}.")
    if "id" not in data:
        raise ConfigError(f"{where}.id", None, "this key is required; add it")
    sites = data.get("sites", [])
    if not isinstance(sites, list) or not all(isinstance(s, str) for s in sites):
        raise ConfigError(f"{where}.sites", sites, 'use a list of site ids, e.g. ["factory-1"]')
    kind = data.get("kind", "company")
    if kind not in ("company", "city"):
        raise ConfigError(f"{where}.kind", kind, "choose one of company, city")
    return Company(id=_coerce(data["id"], str, f"{where}.id"),
                   name=_coerce(data.get("name", ""), str, f"{where}.name"),
                   sites=tuple(sites), kind=kind)
