"""Japanese and English strings and locale formatting for the dashboard.

Every label the dashboard shows comes from ``t(key, lang)``; ``tests/test_dashboard_i18n.py``
checks that every key has both languages. Times are shown in the city's time zone (JST for
the example city), never in UTC.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

Lang = Literal["ja", "en"]
LANGS: tuple[Lang, ...] = ("ja", "en")

_S: dict[str, tuple[str, str]] = {
    # app frame
    "app.title": ("グリーン産業ダッシュボード", "Green-industry dashboard"),
    "app.as_of": ("基準時刻: {ts}", "As of {ts}"),
    "app.store": ("データストア: {url}", "Store: {url}"),
    "app.login_required": (
        "このダッシュボードを見るにはログインが必要です。",
        "Please log in to view this dashboard.",
    ),
    "app.login": ("ログイン", "Log in"),
    "app.logout": ("ログアウト", "Log out"),
    "app.login_unavailable": (
        "ログインが設定されていますが利用できません: {why}",
        "Login is configured but unavailable: {why}",
    ),
    "app.config_error": ("設定エラー: {err}", "Configuration error: {err}"),
    "app.store_error": ("データストアのエラー: {err}", "Store error: {err}"),
    # who is logged in, access
    "app.who": ("ログイン中: {who}（{role}・{org}）", "Logged in: {who} ({role}, {org})"),
    "app.no_login": ("ログインなし: 全拠点を市の担当として表示",
                     "No login: every site, as the city office"),
    "app.no_access": (
        "{who} にはこのダッシュボードの権限がありません。市の担当者に連絡してください。",
        "{who} has no access to this dashboard. Please ask the city office.",
    ),
    "app.access_denied": ("権限がありません: {err}", "Access denied: {err}"),
    "role.city": ("市", "city office"),
    "role.company": ("企業", "company"),
    "role.analyst": ("分析担当（閲覧のみ）", "analyst (read-only)"),
    "role.none": ("権限なし", "no access"),
    "access.suppressed": (
        "他の組織の拠点が{n}か所未満の部門は合計を表示していません（個社の値がわかるため）: "
        "{sectors}",
        "Totals of sectors with fewer than {n} other organisations' sites are suppressed "
        "(they would reveal a single company's figure): {sectors}",
    ),
    "access.others": (
        "市・部門の合計には他の組織の拠点が合算で含まれます（{n}か所以上の場合のみ）。",
        "City and sector totals include other organisations' sites, merged (only where "
        "{n} or more contribute).",
    ),
    "fd.read_only": ("閲覧のみの権限です。", "Your role is read-only."),
    "nav.audit": ("監査ログ", "Audit log"),
    "nav.public": ("市民向け進捗", "Progress for residents"),
    "pub.title": ("{city}の脱炭素 {fy}", "{city} on the way to net zero, {fy}"),
    "pub.co2": ("今年度のCO₂排出量（累計）", "CO₂ emitted this fiscal year"),
    "pub.path": ("目標の道すじ（今日まで）", "Target path to date"),
    "pub.path_line": ("目標の道すじ", "Target path"),
    "pub.target": ("{fy}年度までに{pct}削減", "{pct} less by FY{fy}"),
    "pub.avoided": ("取り組みで減らしたCO₂", "CO₂ avoided by the measures"),
    "pub.avoided_help": ("太陽光 {pv_t} t ＋ 省エネ対策 {measures_t} t",
                         "solar {pv_t} t + efficiency measures {measures_t} t"),
    "pub.pv": ("太陽光の発電量", "Solar power generated"),
    "pub.cumulative": ("排出量の累計と目標の道すじ", "Emissions so far and the target path"),
    "pub.sectors": ("部門別の排出量", "Emissions by sector"),
    "pub.privacy": ("個別の企業・拠点の数値は表示しません。", "No company or site is shown."),
    "pub.suppressed": ("参加拠点が少ない部門は表示していません: {sectors}",
                       "Sectors with too few sites are not shown: {sectors}"),
    "pub.refresh": ("{s}秒ごとに自動更新", "Updates every {s} s"),
    "pub.no_data": ("まだデータがありません。", "No data yet."),
    "au.intro": ("所見の確認・ダウンロード・エクスポートの記録（新しい順）",
                 "Acknowledged findings, downloads and exports, newest first"),
    "au.empty": ("まだ記録はありません。", "Nothing recorded yet."),
    "nav.overview": ("概要", "Overview"),
    "nav.sites": ("拠点", "Sites"),
    "nav.forecast": ("予測", "Forecast"),
    "nav.meters": ("メーター", "Meters"),
    "nav.export": ("エクスポート", "Export"),
    # empty states
    "empty.store": (
        "まだデータがありません — コレクターは動いていますか？（`greenpipe collect` または "
        "`greenpipe demo`）",
        "No data yet — is the collector running? (`greenpipe collect` or `greenpipe demo`)",
    ),
    "empty.forecast": (
        "予測はまだありません — `greenpipe forecast run` を実行してください。",
        "No forecast yet — run `greenpipe forecast run`.",
    ),
    "empty.period": ("この期間のデータはありません。", "No data in this period."),
    "empty.targets": (
        "目標が設定されていません（設定ファイルの [[targets]]）。",
        "No targets configured ([[targets]] in the config file).",
    ),
    "empty.dead_letters": ("デッドレターはありません。", "No dead letters."),
    "empty.pv": ("この拠点には太陽光メーターがありません。", "This site has no PV meter."),
    # overview
    "ov.header": ("{city} — {fy} 進捗", "{city} — {fy} progress"),
    "ov.fytd_co2": ("年度累計 CO₂ 排出量", "FY-to-date CO₂ emissions"),
    "ov.fytd_energy": ("年度累計 エネルギー消費", "FY-to-date energy use"),
    "ov.vs_last_year": ("前年同期比", "vs same period last FY"),
    "ov.vs_target": ("目標軌道（年度累計）", "Target path (FY to date)"),
    "ov.partial_view": (
        "この表示は自社の拠点と、秘匿されていない他組織の合計です。市全体の目標と見通しとは"
        "比較できないため表示していません。",
        "This view covers your own sites and the other organisations' totals that are not "
        "suppressed, not the whole city, so it is not compared with the city's targets and "
        "projection.",
    ),
    "ov.avoided": ("削減 CO₂（累計）", "Avoided CO₂ to date"),
    "ov.projected": ("年度末見通し", "Projected FY end"),
    "ov.probability": ("目標達成確率", "Probability of meeting target"),
    "ov.vs_path": ("目標軌道比", "vs target path"),
    "ov.band": ("P10–P90: {p10}–{p90} t、目標軌道: {path} t",
                "P10–P90: {p10}–{p90} t; target path: {path} t"),
    "ov.avoided_help": (
        "太陽光 {pv_t} t（年度累計 {pv_mwh} MWh × 系統排出係数）＋ 対策 {n} 件 {measures_t} t",
        "PV {pv_t} t (FY-to-date {pv_mwh} MWh × grid factor) + {n} measures {measures_t} t",
    ),
    "ov.offline": ("オフラインのメーター", "Offline meters"),
    "ov.findings": ("品質指摘", "Quality findings"),
    "ov.dead_letters": ("デッドレター", "Dead letters"),
    "ov.sector_progress": ("部門別の進捗", "Progress by sector"),
    "ov.top_sites": ("排出量上位の拠点（年度累計）", "Top emitting sites (FY to date)"),
    "ov.cumulative": ("年度累計 CO₂ と目標軌道", "Cumulative CO₂ against the target trajectory"),
    "ov.no_history": (
        "前年同期のデータが揃っていないため、前年比は表示しません（データ開始: {since}）。",
        "No same-period comparison with last FY: the data starts on {since}.",
    ),
    # sites
    "si.pick": ("拠点を選択", "Choose a site"),
    "si.live": ("直近24時間の電力（自動更新）", "Power, last 24 h (live)"),
    "si.by_day": ("日別エネルギー", "Energy by day"),
    "si.by_month": ("月別エネルギー", "Energy by month"),
    "si.baseline": ("ベースラインと実績（削減量を網掛け）", "Baseline vs actual (savings shaded)"),
    "si.breakdown": ("メーター別内訳（年度累計）", "Breakdown by meter (FY to date)"),
    "si.pv": ("太陽光発電と消費", "PV generation vs consumption"),
    "si.null_test": ("対策なし（ヌルテスト）", "no measure (null test)"),
    "si.totals": ("評価期間 {start} – {end}（IPMVP Option C）の合計: 実績 {actual} MWh、"
                  "ベースライン {baseline} MWh、削減量 {savings} MWh"
                  "（{level}% 区間 {lower} – {upper} MWh）",
                  "Reporting period {start} – {end} (IPMVP Option C) totals: actual "
                  "{actual} MWh, baseline {baseline} MWh, savings {savings} MWh "
                  "({level}% interval {lower} – {upper} MWh)"),
    "si.co2": ("日別 CO₂", "CO₂ by day"),
    "si.sector": ("部門: {sector}", "Sector: {sector}"),
    "si.tab.by_day": ("日別", "By day"),
    "si.tab.by_month": ("月別", "By month"),
    "si.tab.co2": ("CO₂ 排出量", "CO₂ emissions"),
    "si.tab.baseline": ("ベースラインと削減量", "Baseline and savings"),
    "si.tab.breakdown": ("メーター別内訳", "By meter"),
    "si.tab.pv": ("太陽光", "PV"),
    "si.tab.intensity": ("原単位", "Intensity"),
    # forecast
    "fc.projection": ("部門別の見通し（不確実性の幅と目標線）",
                      "Projection per sector (uncertainty band and target line)"),
    "fc.targets": ("目標と目標軌道（設定）", "Targets and their straight-line paths (config)"),
    "fc.quality": ("サイト別モデル精度（ASHRAE Guideline 14）",
                   "Model quality per site (ASHRAE Guideline 14)"),
    "fc.savings": ("対策別の削減量（区間付き）", "Savings per measure (with interval)"),
    "fc.p50_band": ("{fy} 見通し（中央値と P10–P90）", "{fy} projection (median, P10–P90)"),
    "fc.observed": ("実績（年度累計）", "Observed so far"),
    "fc.p50": ("見通し中央値 [t]", "Projected median [t]"),
    "fc.path": ("目標軌道 [t]", "Target path [t]"),
    "fc.gap": ("軌道との差 [t]", "Gap to path [t]"),
    "fc.warnings": ("警告", "Warnings"),
    "fc.period": ("評価期間", "Reporting period"),
    "fc.interval": ("{pct}% 区間 [kWh]", "{pct}% interval [kWh]"),
    "fc.savings_pct": ("削減率", "Savings [%]"),
    "fc.granularity": ("粒度", "Resolution"),
    "fc.limits": ("基準 CV(RMSE) / NMBE", "Limits CV(RMSE) / NMBE"),
    "fc.pass": ("合格", "pass"),
    "fc.fail": ("不合格", "fail"),
    "fc.no_verdict": ("–（データ不足: {codes}）", "– (insufficient data: {codes})"),
    # meters
    "me.health": ("メーターの状態", "Meter health"),
    "me.dead": ("デッドレター（理由と生ペイロード）", "Dead letters (reasons and raw payloads)"),
    "me.online": ("オンライン", "online"),
    "me.offline": ("オフライン", "offline"),
    "me.never": ("受信なし", "never seen"),
    "me.gap_note": (
        "欠損 = 直近7日間で読み取りのない時間数（メーターの最初の読み取り以降）。",
        "Gaps = hours without a reading in the last 7 days (after the meter's first reading).",
    ),
    "me.payload": ("生ペイロード", "Raw payload"),
    "me.upstream": ("上流での欠落（コレクターに届かなかったメッセージ）",
                    "Upstream loss (messages that never reached the collector)"),
    "me.upstream_none": (
        "欠落なし: 各メーターの通し番号（seq）に抜けはありません。",
        "No loss: no meter's sequence numbers (seq) have gaps.",
    ),
    "me.upstream_warning": (
        "{n} 件のメッセージがコレクターに届く前に失われました。ブローカーのキューが溢れた"
        "可能性があります: Mosquitto では max_queued_messages 0（または滞留分より大きい上限）"
        "と persistence true を設定してください（docs/mqtt.md）。",
        "{n} messages were lost before they reached the collector, probably because the "
        "broker's queue overflowed: on Mosquitto set max_queued_messages 0 (or a bound "
        "above the backlog) and persistence true (docs/mqtt.md).",
    ),
    "me.broker_dropped": (
        "ブローカーが破棄したメッセージ（全クライアント、{client} が {ts} に確認）: {n}",
        "Messages the broker dropped (all clients, seen by {client} at {ts}): {n}",
    ),
    "me.broker_unknown": ("非公開", "not published"),
    "me.upstream_axis": ("失われたメッセージ数", "Messages lost"),
    # export
    "ex.dataset": ("データ", "Data"),
    "ex.readings": ("読み取り値（集計）", "Readings (aggregated)"),
    "ex.savings": ("削減量", "Savings"),
    "ex.forecasts": ("予測", "Forecasts"),
    "ex.scope": ("範囲", "Scope"),
    "ex.scope_city": ("市全体", "Whole city"),
    "ex.scope_sector": ("部門", "Sector"),
    "ex.scope_site": ("拠点", "Site"),
    "ex.scope_meter": ("メーター", "Meter"),
    "ex.which": ("対象", "Which"),
    "ex.period": ("期間（JST、両端を含む）", "Period (JST, inclusive)"),
    "ex.resolution": ("集計単位", "Resolution"),
    "ex.format": ("形式", "Format"),
    "ex.download": ("ダウンロード", "Download"),
    "ex.rows": ("{n} 行", "{n} rows"),
    "ex.rows_about": ("約 {n} 行（ダウンロード時に作成）",
                      "about {n} rows (built when you download)"),
    "ex.xlsx_too_big": ("xlsx は {n} 行までです。集計単位を粗くするか範囲を絞ってください。",
                        "xlsx holds at most {n} rows; choose a coarser resolution or a "
                        "smaller scope."),
    "ex.preview": ("プレビュー", "Preview"),
    "res.30min": ("30分", "30 min"),
    "res.hour": ("1時間", "1 hour"),
    "res.day": ("1日", "1 day"),
    # column headers and axis titles
    "col.meter": ("メーター", "Meter"),
    "col.site": ("拠点", "Site"),
    "col.sector": ("部門", "Sector"),
    "col.kind": ("種別", "Kind"),
    "col.status": ("状態", "Status"),
    "col.last_seen": ("最終受信 (JST)", "Last seen (JST)"),
    "col.age": ("経過", "Age"),
    "col.readings": ("読み取り数", "Readings"),
    "col.gaps_h": ("欠損 [h]", "Gaps [h]"),
    "col.quality": ("品質フラグ", "Quality flags"),
    "col.upstream_lost": ("上流欠落", "Lost upstream"),
    "col.received": ("受信時刻 (JST)", "Received (JST)"),
    "col.topic": ("トピック", "Topic"),
    "col.code": ("コード", "Code"),
    "col.reason": ("理由", "Reason"),
    "col.energy_kwh": ("エネルギー [kWh]", "Energy [kWh]"),
    "col.energy_mwh": ("エネルギー [MWh]", "Energy [MWh]"),
    "col.co2_t": ("CO₂ [t]", "CO₂ [t]"),
    "col.power_kw": ("電力 [kW]", "Power [kW]"),
    "col.time_jst": ("時刻 (JST)", "Time (JST)"),
    "col.day": ("日付", "Day"),
    "col.month": ("月", "Month"),
    "col.share": ("割合 [%]", "Share [%]"),
    "col.measure": ("対策", "Measure"),
    "col.cvrmse": ("CV(RMSE) [%]", "CV(RMSE) [%]"),
    "col.nmbe": ("NMBE [%]", "NMBE [%]"),
    "col.result": ("判定", "Result"),
    "col.savings_kwh": ("削減量 [kWh]", "Savings [kWh]"),
    "col.savings_mwh": ("削減量 [MWh]", "Savings [MWh]"),
    "col.base_fy": ("基準年度", "Base year"),
    "col.base_t": ("基準年度排出量 [t]", "Base-year emissions [t]"),
    "col.target_fy": ("目標年度", "Target year"),
    "col.allowed_t": ("{fy} の目標軌道 [t]", "{fy} trajectory [t]"),
    "col.target": ("目標", "Target"),
    "col.actual": ("実績", "Actual"),
    "col.baseline": ("ベースライン", "Baseline"),
    "col.baseline_band": ("ベースラインの {level}% 区間", "Baseline {level}% interval"),
    "col.baseline_period": ("実績（ベースライン期間）", "Actual (baseline period)"),
    "col.excess": ("ベースライン超過", "Above baseline"),
    "col.energy_per_day_kwh": ("1日のエネルギー [kWh/日]", "Energy per day [kWh/day]"),
    "col.consumption": ("消費", "Consumption"),
    "col.generation": ("発電", "Generation"),
    "col.savings": ("削減量", "Savings"),
    # findings (課題と提案)
    "nav.findings": ("課題と提案", "Findings"),
    "fd.title": ("課題と提案", "Problems and proposals"),
    "fd.empty": ("まだ課題の検出結果がありません。`greenpipe findings run` を実行してください。",
                 "No findings yet; run `greenpipe findings run`."),
    "fd.none_match": ("条件に合う課題はありません。", "No finding matches these filters."),
    "fd.rank_by": ("並べ替え", "Rank by"),
    "fd.by_co2": ("CO₂ [t/年]", "CO₂ [t/yr]"),
    "fd.by_cost": ("金額 [円/年]", "Cost [¥/yr]"),
    "fd.site": ("拠点", "Site"),
    "fd.sector": ("部門", "Sector"),
    "fd.status": ("状態", "Status"),
    "fd.total_cost": ("年間損失額（合計）", "At stake per year"),
    "fd.total_co2": ("年間 CO₂（合計）", "CO₂ at stake per year"),
    "fd.total_kwh": ("年間エネルギー（合計）", "Energy at stake per year"),
    "fd.count": ("件数", "Findings"),
    "fd.ranking": ("課題ランキング", "Ranked findings"),
    "fd.proposal": ("提案", "Proposal"),
    "fd.evidence": ("根拠", "Evidence"),
    "fd.since": ("開始 {day}", "since {day}"),
    "fd.confidence": ("確度: {level}", "Confidence: {level}"),
    "fd.status_line": ("状態: {status}（{by}, {at}）{note}",
                       "Status: {status} ({by}, {at}) {note}"),
    "fd.ack": ("対応中にする", "Acknowledge"),
    "fd.resolve": ("解決済みにする", "Resolve"),
    "fd.dismiss": ("問題なしとして閉じる", "Dismiss"),
    "fd.note": ("メモ", "Note"),
    "fd.changed": ("{id} を「{status}」にしました。", "{id} is now {status}."),
    "fd.top3": ("主な課題と提案（上位3件）", "Top problems and proposals"),
    "fd.more": ("すべての課題は「課題と提案」ページへ", "All findings are on the Findings page"),
    "fd.no_chart": ("この課題の根拠グラフに必要なデータがありません。",
                    "The data behind this finding's chart is not in the store."),
    "fd.floor": ("以前の水準", "Earlier level"),
    "fd.level": ("現在の水準", "Current level"),
    "fd.power_kw": ("電力 [kW]", "Power [kW]"),
    "fd.demand_kw": ("30分デマンド [kW]", "30-minute demand [kW]"),
    "fd.around": ("前後の負荷", "Load around it"),
    "fd.peak": ("ピーク", "Peak"),
    "fd.cusum": ("累積和 CUSUM S⁺ [σ]", "CUSUM S⁺ [σ]"),
    "fd.threshold": ("警報しきい値 h", "Alarm threshold h"),
    "fd.start": ("開始", "Start"),
    "fd.pv_ratio": ("発電 / 晴天時期待値", "Yield / clear-sky expectation"),
    "fd.pv_index": ("晴天日指標 (P90)", "Clear-day index (P90)"),
    "fd.declared": ("申告削減量", "Declared saving"),
    "fd.verified": ("検証済み削減量", "Verified saving"),
    "fd.energy_kwh": ("エネルギー [kWh]", "Energy [kWh]"),
    "fd.daily_kwh": ("日量 [kWh/日]", "Daily energy [kWh/day]"),
    "status.new": ("新規", "new"),
    "status.acknowledged": ("対応中", "acknowledged"),
    "status.resolved": ("解決済み", "resolved"),
    "status.dismissed": ("対象外", "dismissed"),
    "confidence.low": ("低", "low"),
    "confidence.medium": ("中", "medium"),
    "confidence.high": ("高", "high"),
    "code.waste.off_hours_base_load": ("休日・夜間の待機電力", "Off-hours base load"),
    "code.drift.baseline_cusum": ("ベースライン超過の継続", "Drift above baseline"),
    "code.drift.change_point": ("消費の段差", "Step change in use"),
    "code.demand.peak": ("デマンドピーク", "Demand peak"),
    "code.pv.underperformance": ("太陽光の発電低下", "PV underperformance"),
    "code.measure.underdelivering": ("対策の効果不足", "Measure under-delivers"),
    "code.ev.peak_charging": ("EV充電のピーク重なり", "EV charging on the peak"),
    # sectors and kinds
    "sector.industry": ("産業", "Industry"),
    "sector.commercial": ("業務", "Commercial"),
    "sector.public": ("公共", "Public"),
    "sector.household": ("家庭", "Households"),
    "sector.transport": ("運輸", "Transport"),
    "sector.unknown": ("不明", "Unknown"),
    "sector.city": ("市全体", "City"),
    "kind.electricity": ("電力", "Electricity"),
    "kind.gas": ("ガス", "Gas"),
    "kind.pv": ("太陽光", "PV"),
    "kind.ev_charging": ("EV充電", "EV charging"),
    "kind.heat": ("熱", "Heat"),
    "kind.weather": ("気象", "Weather"),
    "kind.unknown": ("不明", "Unknown"),
    "kind.production": ("生産量", "Production"),
    # statutory reports (issue 10)
    "nav.reports": ("報告", "Reports"),
    "rp.fy": ("報告年度", "Fiscal year"),
    "rp.companies": ("事業者別 原油換算量と1,500 kL基準", "Companies: crude-oil kL vs 1,500 kL"),
    "rp.kl_axis": ("原油換算 kL", "Crude-oil equivalent kL"),
    "rp.threshold": ("基準 {kl} kL", "Threshold {kl} kL"),
    "rp.specified": ("特定事業者に該当", "Specified business operator"),
    "rp.not_specified": ("基準未満", "Below the threshold"),
    "rp.partial": ("部分年度: {months}か月分のデータ (年換算なし)",
                   "Partial year: {months} months of data (not scaled up)"),
    "rp.site": ("事業所", "Site"),
    "rp.intensity": ("エネルギー消費原単位と年1%改善ライン", "Energy intensity vs the 1 %/yr line"),
    "rp.intensity_axis": ("原単位 [{unit}]", "Intensity [{unit}]"),
    "rp.actual": ("実績", "Actual"),
    "rp.partial_point": ("部分年度 (参考)", "Partial year (for reference)"),
    "rp.target_line": ("年1%改善ライン", "1 %/yr line"),
    "rp.class": ("クラス {cls}", "Class {cls}"),
    "rp.class_na": ("クラス判定不可", "Class not determinable"),
    "rp.avg": ("平均原単位変化 ({years}年度)", "Average change ({years} years)"),
    "rp.kl": ("原油換算 kL", "Crude-oil kL"),
    "rp.co2": ("CO2排出量: 基礎 vs 調整後", "CO2: basic vs adjusted"),
    "rp.basic": ("基礎排出量", "Basic"),
    "rp.adjusted": ("調整後排出量", "Adjusted"),
    "rp.co2_axis": ("排出量 t-CO2", "Emissions t-CO2"),
    "rp.download": ("レポートのダウンロード", "Download reports"),
    "rp.download_ea": ("省エネ法 定期報告 (xlsx)", "Energy Conservation Act (xlsx)"),
    "rp.download_ghg": ("温対法 排出量報告 (xlsx)", "GHG report (xlsx)"),
    "rp.download_json": ("全項目 (JSON形式)", "All figures (JSON)"),
    "rp.warnings": ("注意事項", "Warnings"),
    "rp.other_warnings": ("他の事業所の注意事項 ({n}件)", "Warnings of other sites ({n})"),
    "rp.no_sites": ("報告対象の事業所がありません。", "No site has energy meters to report."),
    "si.intensity": ("エネルギー消費原単位 (5年度)", "Energy intensity (5 fiscal years)"),
}

_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
              "Dec")


def all_keys() -> tuple[str, ...]:
    """Return every translation key (for tests and tooling)."""
    return tuple(_S)


def check_lang(lang: str) -> Lang:
    """Return ``lang`` when it is a supported language; raise ValueError otherwise."""
    if lang not in LANGS:
        raise ValueError(f"unsupported language {lang!r}; use one of {', '.join(LANGS)}")
    return lang


def t(key: str, lang: str, **values: object) -> str:
    """Return the label ``key`` in ``lang``, with ``{name}`` placeholders filled from ``values``.

    Raises KeyError for an unknown key, so a missing translation fails in tests, not on a
    wall screen.
    """
    ja, en = _S[key]
    text = ja if check_lang(lang) == "ja" else en
    return text.format(**values) if values else text


def sector_label(sector: str, lang: str) -> str:
    """Return the translated name of a sector (``industry`` -> ``産業``)."""
    return t(f"sector.{sector}", lang) if f"sector.{sector}" in _S else sector


def kind_label(kind: str, lang: str) -> str:
    """Return the translated name of a meter kind (``pv`` -> ``太陽光``)."""
    return t(f"kind.{kind}", lang) if f"kind.{kind}" in _S else kind


def fmt_number(value: float | int | None, lang: str, decimals: int = 0) -> str:
    """Format a number with thousands separators (both locales use ``1,234.5``); None -> ``–``."""
    check_lang(lang)
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:,.{decimals}f}"


def fmt_pct(value: float | None, lang: str, decimals: int = 1, signed: bool = False) -> str:
    """Format a percentage (``-12.3%``); None -> ``–``."""
    check_lang(lang)
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:+.{decimals}f}%" if signed else f"{value:.{decimals}f}%"


def fmt_date(day: date, lang: str) -> str:
    """Format a calendar date: ``2025年4月1日`` or ``1 Apr 2025``."""
    if check_lang(lang) == "ja":
        return f"{day.year}年{day.month}月{day.day}日"
    return f"{day.day} {_MONTHS_EN[day.month - 1]} {day.year}"


def fmt_month(day: date, lang: str, short: bool = False) -> str:
    """Format a month: ``2025年4月`` or ``Apr 2025`` (short, for axes: ``2025/4``)."""
    if check_lang(lang) == "ja":
        return f"{day.year}/{day.month}" if short else f"{day.year}年{day.month}月"
    return f"{_MONTHS_EN[day.month - 1]} {day.year}"


def axis_format(lang: str, what: str) -> str:
    """Return the ECharts label template of a time axis: ``day`` or ``time`` (with hours).

    Templates, not functions: ``st.echarts_chart`` takes no JavaScript callbacks.
    """
    formats = {("ja", "day"): "{M}/{d}", ("en", "day"): "{d} {MMM}",
               ("ja", "time"): "{M}/{d} {HH}:{mm}", ("en", "time"): "{d} {MMM} {HH}:{mm}"}
    return formats[(check_lang(lang), what)]


def fmt_datetime(ts: datetime, lang: str, timezone: str = "Asia/Tokyo") -> str:
    """Format an aware instant in the display time zone: ``2025/04/01 09:00 JST``.

    Raises ValueError for a naive datetime: the dashboard never guesses a zone.
    """
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"{ts.isoformat()} has no UTC offset; pass an aware datetime")
    local = ts.astimezone(ZoneInfo(timezone))
    zone = local.strftime("%Z")
    if check_lang(lang) == "ja":
        return f"{local.year}/{local.month:02d}/{local.day:02d} {local:%H:%M} {zone}"
    return f"{fmt_date(local.date(), lang)} {local:%H:%M} {zone}"


def fmt_age(seconds: float, lang: str) -> str:
    """Format how long ago something happened: ``3分前`` / ``3 min ago``."""
    check_lang(lang)
    s = max(0.0, seconds)
    if s < 3600:
        n, ja, en = int(s // 60), "分前", "min ago"
    elif s < 86400 * 2:
        n, ja, en = int(s // 3600), "時間前", "h ago"
    else:
        n, ja, en = int(s // 86400), "日前", "days ago"
    return f"{n:,}{ja}" if lang == "ja" else f"{n:,} {en}"
