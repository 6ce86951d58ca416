-- patch_age: one row per patch that is missing or failed on a node now (view patch, patch_state MISSING or
-- FAILED), for the nodes of instance_compliance that are not TERMINATED (the sync keeps the files of deleted
-- nodes; nothing is left to fix on them), with how long it has been missing and its SLA.
--
-- Today is current_date (UTC). History: patch_history holds, for every day the daily history job ran, the
-- node x patch pairs that were missing or failed that day; the days it ran are the partitions of
-- compliance_history (metadata only: "compliance_history$partitions").
-- first_seen_missing: the first day of the current run of the node x patch, the run being the days the job ran
--   in a row (a day without a run does not break it) on which the pair was in patch_history, ending on the
--   latest day the job ran (up to today). A pair not in patch_history on that day (newly missing, or no history
--   yet) was first seen today.
-- age_days = today - first_seen_missing.
-- severity: the vendor's severity (PatchSeverity) when the item has one, else the compliance item's Severity.
-- sla_days by severity, case-insensitively: Critical -> sla_critical_days; Important or High ->
--   sla_important_days; Medium or Moderate -> sla_medium_days; Low -> sla_low_days; anything else
--   (Informational, Unspecified, none) -> sla_other_days. Vendors name the levels differently (Microsoft:
--   Critical/Important/Moderate/Low; Amazon Linux and others: Critical/Important/Medium/Low; compliance
--   severity: CRITICAL/HIGH/MEDIUM/LOW/INFORMATIONAL/UNSPECIFIED), so each policy level takes its synonyms.
-- sla_due = first_seen_missing + sla_days.
-- sla_state, first match wins:
--   EXEMPT    the node's compliance_state is EXEMPT
--   BREACHED  today > sla_due
--   DUE_SOON  sla_due - today <= due_soon_days
--   WITHIN    otherwise
WITH settings AS (
    SELECT *
    FROM compliance_settings
),
nodes AS (
    SELECT account_id, region, instance_id, compliance_state
    FROM instance_compliance
    WHERE compliance_state <> 'TERMINATED'
),
missing AS (
    SELECT
        p.account_id,
        p.region,
        p.instance_id,
        p.patch_id,
        p.title,
        p.classification,
        coalesce(nullif(trim(p.patch_severity), ''), p.severity) AS severity,
        p.patch_state,
        n.compliance_state
    FROM patch AS p
    JOIN nodes AS n
        ON n.account_id = p.account_id AND n.region = p.region AND n.instance_id = p.instance_id
    WHERE p.patch_state IN ('MISSING', 'FAILED')
),
job_days AS (
    SELECT dt, row_number() OVER (ORDER BY dt) AS day_no, count(*) OVER () AS days
    FROM "compliance_history$partitions"
    WHERE dt <= CAST(current_date AS varchar)
),
history AS (
    SELECT DISTINCT h.account_id, h.region, h.instance_id, h.patch_id, j.dt, j.day_no, j.days
    FROM patch_history AS h
    JOIN job_days AS j
        ON j.dt = h.dt
),
runs AS (
    SELECT
        account_id,
        region,
        instance_id,
        patch_id,
        min(dt) AS first_dt,
        max(day_no) AS last_day_no,
        max(days) AS days
    FROM (
        SELECT
            *,
            day_no - row_number() OVER (PARTITION BY account_id, region, instance_id, patch_id ORDER BY day_no) AS run
        FROM history
    ) AS numbered
    GROUP BY account_id, region, instance_id, patch_id, run
),
current_runs AS (
    SELECT account_id, region, instance_id, patch_id, CAST(first_dt AS date) AS first_seen
    FROM runs
    WHERE last_day_no = days
),
aged AS (
    SELECT
        m.*,
        coalesce(r.first_seen, current_date) AS first_seen_missing,
        CASE
            WHEN lower(m.severity) = 'critical' THEN s.sla_critical_days
            WHEN lower(m.severity) IN ('important', 'high') THEN s.sla_important_days
            WHEN lower(m.severity) IN ('medium', 'moderate') THEN s.sla_medium_days
            WHEN lower(m.severity) = 'low' THEN s.sla_low_days
            ELSE s.sla_other_days
        END AS sla_days,
        s.due_soon_days
    FROM missing AS m
    CROSS JOIN settings AS s
    LEFT JOIN current_runs AS r
        ON
            r.account_id = m.account_id
            AND r.region = m.region
            AND r.instance_id = m.instance_id
            AND r.patch_id = m.patch_id
),
due AS (
    SELECT *, CAST(date_add('day', sla_days, first_seen_missing) AS date) AS sla_due
    FROM aged
)
SELECT
    account_id,
    region,
    instance_id,
    patch_id,
    title,
    classification,
    severity,
    patch_state,
    first_seen_missing,
    CAST(date_diff('day', first_seen_missing, current_date) AS integer) AS age_days,
    sla_days,
    sla_due,
    CASE
        WHEN compliance_state = 'EXEMPT' THEN 'EXEMPT'
        WHEN current_date > sla_due THEN 'BREACHED'
        WHEN date_diff('day', current_date, sla_due) <= due_soon_days THEN 'DUE_SOON'
        ELSE 'WITHIN'
    END AS sla_state
FROM due
