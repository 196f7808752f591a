"""Who may read what: identities from OIDC claims, the site scope of a role, suppression.

Pure functions over the validated ``Config``; the dashboard calls them where it reads data
(``dashboard/data.py``), so access is enforced on the data, not by hiding widgets.

Roles (``[[roles]]`` in config, docs/security.md):

* ``city`` (the city office): every site; may act on findings; reads the audit log.
* ``company``: its organisation's sites in full, plus city and sector totals in which the
  other organisations' sites are merged and suppressed where fewer than
  ``MIN_OTHER_SITES`` of them, or only one other organisation, contribute (such a total
  would reveal one competitor's figure).
* ``analyst``: read-only (no acknowledging) with exports; the city office's analysts see
  every site, a company's analysts its own sites.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from greenpipe.config import Config

MIN_OTHER_SITES = 3
"""Fewest other organisations' sites that must contribute to a total a company may see.

Statistical-disclosure practice (the "threshold rule" of e.g. Eurostat's and the Japanese
Statistics Act's confidentiality checks) suppresses cells with fewer than 3 contributors;
we count only the *other* organisations' sites, because a company can subtract its own."""

OTHERS = "_others"
"""Site and meter id of the merged rows that stand for other organisations' sites."""


@dataclass(frozen=True, slots=True)
class Identity:
    """A logged-in user as the dashboard knows them."""

    who: str
    """E-mail (or name) from the ID token, for display and the audit log."""
    organisation: str
    """Id of the ``[[companies]]`` entry; empty for the login-off city office."""
    role: str
    """One of ``greenpipe.config.ROLES``."""


CITY_OFFICE_NO_LOGIN = Identity(who="", organisation="", role="city")
"""Everyone, when ``[dashboard] login = false`` (a single-organisation or demo set-up)."""


@dataclass(frozen=True, slots=True)
class Scope:
    """What one identity may read and do."""

    identity: Identity
    sites: frozenset[str] | None
    """Sites readable in full; None means every site."""

    @property
    def restricted(self) -> bool:
        """True when the user sees only some sites in full."""
        return self.sites is not None

    @property
    def can_act(self) -> bool:
        """May acknowledge, resolve or dismiss findings (analysts are read-only)."""
        return self.identity.role in ("city", "company")

    @property
    def has_access(self) -> bool:
        """False for a logged-in user whom no ``[[roles]]`` entry maps."""
        return self.identity.role in ("city", "company", "analyst")

    @property
    def can_audit(self) -> bool:
        """May read the audit log (the city office)."""
        return self.identity.role == "city"

    def allows_site(self, site_id: str) -> bool:
        """True when ``site_id`` may be read in full."""
        return self.sites is None or site_id in self.sites


FULL = Scope(CITY_OFFICE_NO_LOGIN, None)
"""The scope without login: every site."""


def nobody(who: str = "") -> Scope:
    """The scope of a visitor who is not logged in or whom no role maps: nothing."""
    return Scope(Identity(who=who, organisation="", role="none"), frozenset())


def _claim_values(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple | set | frozenset):
        return [str(v) for v in value]
    return []


def identify(cfg: Config, claims: Mapping[str, Any]) -> Identity | None:
    """Map ID-token claims to an identity, or None when no ``[[roles]]`` entry matches.

    An e-mail mapping wins over a group mapping; among group mappings the first one in
    config order wins, so list the narrower roles first.
    """
    email = str(claims.get("email") or "").strip().lower()
    who = email or str(claims.get("name") or claims.get("sub") or "")
    groups = set(_claim_values(claims.get(cfg.access.claim)))
    for r in cfg.roles:
        if r.email and email and r.email.lower() == email:
            return Identity(who=who, organisation=r.organisation, role=r.role)
    for r in cfg.roles:
        if r.group and r.group in groups:
            return Identity(who=who, organisation=r.organisation, role=r.role)
    return None


def scope_for(cfg: Config, identity: Identity) -> Scope:
    """Return the sites ``identity`` may read in full."""
    if identity.role == "city":
        return Scope(identity, None)
    org = next((c for c in cfg.companies if c.id == identity.organisation), None)
    if org is None:
        return Scope(identity, frozenset())
    if identity.role == "analyst" and org.kind == "city":
        return Scope(identity, None)
    return Scope(identity, frozenset(org.sites))


def site_owners(cfg: Config) -> dict[str, str]:
    """Map each site to the organisation owning it; an unowned site is its own owner."""
    owners = {s.id: f"site:{s.id}" for s in cfg.sites}
    for c in cfg.companies:
        for sid in c.sites:
            owners[sid] = c.id
    return owners


def allowed_meters(cfg: Config, scope: Scope) -> set[str] | None:
    """Ids of the meters ``scope`` may read in full (None: all)."""
    if scope.sites is None:
        return None
    return {m.id for m in cfg.meters if m.site in scope.sites}


def restrict_ids(requested: list[str] | None, allowed: set[str] | frozenset[str] | None
                 ) -> list[str] | None:
    """Intersect a requested id filter (None: everything) with the allowed ids."""
    if allowed is None:
        return requested
    if requested is None:
        return sorted(allowed)
    return [i for i in requested if i in allowed]


def merge_others(frame: pd.DataFrame, scope: Scope, by: tuple[str, ...] = ("sector", "kind"),
                 min_sites: int = MIN_OTHER_SITES, owners: Mapping[str, str] | None = None
                 ) -> tuple[pd.DataFrame, set[str]]:
    """Keep the scope's own rows; merge other sites' rows per ``by`` and bucket, suppressed.

    ``frame`` is per meter (or site) with ``site``, ``bucket`` and the ``by`` columns. Rows
    of sites outside the scope are summed per ``(*by, bucket)`` into one row with site and
    meter ``OTHERS``; a group with fewer than ``min_sites`` distinct contributing sites, or
    (given ``owners``, see ``site_owners``) with all of them owned by one organisation, is
    dropped. Returns the frame and the suppressed ``by[0]`` values (e.g. sectors).
    """
    if scope.sites is None or frame.empty:
        return frame, set()
    own_mask = frame["site"].isin(scope.sites)
    own, other = frame[own_mask], frame[~own_mask]
    if other.empty:
        return own.reset_index(drop=True), set()
    keys = [*by, "bucket", *(["day"] if "day" in frame else [])]
    numeric = [c for c in other.columns
               if c not in keys and pd.api.types.is_numeric_dtype(other[c])]
    sums = other.groupby(keys, as_index=False, dropna=False)[numeric].sum(min_count=1)
    for col in ("power_kw", "temp_air_c"):  # means do not add up across sites
        if col in sums:
            sums[col] = float("nan")
    other = other.assign(_owner=[(owners or {}).get(s, s) for s in other["site"]])
    grouped = other.groupby(keys, dropna=False)
    counts = pd.concat([grouped["site"].nunique().rename("_n"),
                        grouped["_owner"].nunique().rename("_orgs")], axis=1).reset_index()
    sums = sums.merge(counts, on=keys)
    small = (sums["_n"] < min_sites) | (sums["_orgs"] < 2)
    suppressed = set(sums.loc[small, by[0]].astype(str))
    kept = sums[~small].drop(columns=["_n", "_orgs"])
    kept = kept.assign(site=OTHERS, **({"meter": OTHERS} if "meter" in frame else {}))
    for col in frame.columns:
        if col not in kept:
            kept[col] = float("nan") if pd.api.types.is_numeric_dtype(frame[col]) else ""
    out = pd.concat([own, kept[frame.columns]], ignore_index=True)
    return out, suppressed
