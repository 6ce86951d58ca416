-- compliance_trend: one row per day x account x region of the history (compliance_history: one row per node per
-- day, the output of instance_compliance; patch_history: the node x patch pairs missing or failed that day),
-- for the days the daily history job ran within the last trend_days days up to today (current_date, UTC). Today
-- itself appears once the job has run today.
--
--   nodes_total          nodes that are not TERMINATED (the sum of the seven counts below)
--   nodes_<state>        nodes in that compliance_state: COMPLIANT, NON_COMPLIANT, STALE, EXEMPT, UNMANAGED,
--                        NO_PATCH_DATA, STOPPED
--   percent_compliant    100 * compliant / (nodes_total - stopped - exempt); NULL when that is 0
--   missing_patches      node x patch pairs in patch_history that day, on nodes that are not TERMINATED that day
--   sla_breaches         those pairs past their SLA that day (as patch_age decides on that day: day >
--                        first seen + SLA days of the pair's severity), on nodes that are not EXEMPT that day
--   new_non_compliant    nodes NON_COMPLIANT that day and not the calendar day before (absent counts as not)
--   resolved_non_compliant  nodes NON_COMPLIANT the day before and not that day (absent counts as not), so
--                        non_compliant(day) = non_compliant(day before) + new - resolved; both NULL when the job
--                        did not run the day before
--   mttr_days_30d        mean days from first seen to fixed, over the pairs fixed in the 30 days ending that day:
--                        fixed = the first day the job ran without the pair after a run of days with it, on a
--                        node that is not TERMINATED that day; NULL when none
-- Runs of a pair, first seen and severity mapping: as in patch_age (days the job ran in a row, from the
-- partitions of compliance_history; vendor severity, else compliance severity).
--
-- Partitions read: the history is partitioned by dt (YYYY-MM-DD). The bounds below are literals of the stack
-- parameters (the custom resource receives this text as a Fn::Sub) and current_date, so Athena prunes the
-- partitions when it plans the query: compliance_history from 30 days before the first reported day (the day
-- before, and the days whose fixes count in mttr_days_30d), patch_history and the job days from a further
-- max(SLA days) before that, the oldest first-seen day an SLA decision on a reported day needs. A run that
-- began before that bound counts from the bound: mttr_days_30d is then a lower bound for patches missing longer.
WITH settings AS (
    SELECT *
    FROM compliance_settings
),
job_days AS (
    SELECT dt, row_number() OVER (ORDER BY dt) AS day_no
    FROM "compliance_history$partitions"
    WHERE
        dt >= CAST(
            CAST(
                date_add(
                    'day',
                    -(
                        CAST('${TrendDays}' AS integer) + 29 + greatest(
                            CAST('${SlaCriticalDays}' AS integer),
                            CAST('${SlaImportantDays}' AS integer),
                            CAST('${SlaMediumDays}' AS integer),
                            CAST('${SlaLowDays}' AS integer),
                            CAST('${SlaOtherDays}' AS integer)
                        )
                    ),
                    current_date
                ) AS date
            ) AS varchar
        )
        AND dt <= CAST(current_date AS varchar)
),
reported_days AS (
    SELECT
        j.dt,
        CAST(j.dt AS date) AS day,
        CAST(CAST(date_add('day', -1, CAST(j.dt AS date)) AS date) AS varchar) IN (SELECT dt FROM job_days)
            AS day_before_ran
    FROM job_days AS j
    CROSS JOIN settings AS s
    WHERE CAST(j.dt AS date) > CAST(date_add('day', -s.trend_days, current_date) AS date)
),
states AS (
    SELECT dt, account_id, region, instance_id, compliance_state
    FROM compliance_history
    WHERE
        dt >= CAST(CAST(date_add('day', -(CAST('${TrendDays}' AS integer) + 29), current_date) AS date) AS varchar)
        AND dt <= CAST(current_date AS varchar)
),
state_counts AS (
    SELECT
        dt,
        account_id,
        region,
        count_if(compliance_state <> 'TERMINATED') AS nodes_total,
        count_if(compliance_state = 'COMPLIANT') AS nodes_compliant,
        count_if(compliance_state = 'NON_COMPLIANT') AS nodes_non_compliant,
        count_if(compliance_state = 'STALE') AS nodes_stale,
        count_if(compliance_state = 'EXEMPT') AS nodes_exempt,
        count_if(compliance_state = 'UNMANAGED') AS nodes_unmanaged,
        count_if(compliance_state = 'NO_PATCH_DATA') AS nodes_no_patch_data,
        count_if(compliance_state = 'STOPPED') AS nodes_stopped
    FROM states
    GROUP BY dt, account_id, region
),
node_changes AS (
    SELECT
        day,
        account_id,
        region,
        instance_id,
        bool_or(is_that_day AND non_compliant) AS non_compliant_that_day,
        bool_or(NOT is_that_day AND non_compliant) AS non_compliant_day_before
    FROM (
        SELECT
            CAST(dt AS date) AS day,
            account_id,
            region,
            instance_id,
            true AS is_that_day,
            compliance_state = 'NON_COMPLIANT' AS non_compliant
        FROM states
        UNION ALL
        SELECT
            CAST(date_add('day', 1, CAST(dt AS date)) AS date),
            account_id,
            region,
            instance_id,
            false,
            compliance_state = 'NON_COMPLIANT'
        FROM states
    ) AS both_days
    GROUP BY day, account_id, region, instance_id
),
change_counts AS (
    SELECT
        day,
        account_id,
        region,
        count_if(non_compliant_that_day AND NOT non_compliant_day_before) AS new_non_compliant,
        count_if(non_compliant_day_before AND NOT non_compliant_that_day) AS resolved_non_compliant
    FROM node_changes
    GROUP BY day, account_id, region
),
pairs AS (
    SELECT DISTINCT
        h.dt,
        j.day_no,
        h.account_id,
        h.region,
        h.instance_id,
        h.patch_id,
        coalesce(nullif(trim(h.patch_severity), ''), h.severity) AS severity
    FROM patch_history AS h
    JOIN job_days AS j
        ON j.dt = h.dt
    WHERE
        h.dt >= CAST(
            CAST(
                date_add(
                    'day',
                    -(
                        CAST('${TrendDays}' AS integer) + 29 + greatest(
                            CAST('${SlaCriticalDays}' AS integer),
                            CAST('${SlaImportantDays}' AS integer),
                            CAST('${SlaMediumDays}' AS integer),
                            CAST('${SlaLowDays}' AS integer),
                            CAST('${SlaOtherDays}' AS integer)
                        )
                    ),
                    current_date
                ) AS date
            ) AS varchar
        )
        AND h.dt <= CAST(current_date AS varchar)
),
runs AS (
    SELECT
        *,
        min(dt) OVER (PARTITION BY account_id, region, instance_id, patch_id, run) AS first_dt,
        max(day_no) OVER (PARTITION BY account_id, region, instance_id, patch_id, run) AS last_day_no
    FROM (
        SELECT
            *,
            day_no - row_number() OVER (PARTITION BY account_id, region, instance_id, patch_id ORDER BY day_no) AS run
        FROM pairs
    ) AS numbered
),
pair_counts AS (
    SELECT
        r.dt,
        r.account_id,
        r.region,
        count(*) AS missing_patches,
        count_if(
            st.compliance_state <> 'EXEMPT'
            AND CAST(r.dt AS date) > CAST(
                date_add(
                    'day',
                    CASE
                        WHEN lower(r.severity) = 'critical' THEN s.sla_critical_days
                        WHEN lower(r.severity) IN ('important', 'high') THEN s.sla_important_days
                        WHEN lower(r.severity) IN ('medium', 'moderate') THEN s.sla_medium_days
                        WHEN lower(r.severity) = 'low' THEN s.sla_low_days
                        ELSE s.sla_other_days
                    END,
                    CAST(r.first_dt AS date)
                ) AS date
            )
        ) AS sla_breaches
    FROM runs AS r
    CROSS JOIN settings AS s
    JOIN states AS st
        ON
            st.dt = r.dt
            AND st.account_id = r.account_id
            AND st.region = r.region
            AND st.instance_id = r.instance_id
    WHERE st.compliance_state <> 'TERMINATED'
    GROUP BY r.dt, r.account_id, r.region
),
fixes AS (
    SELECT DISTINCT
        r.account_id,
        r.region,
        r.instance_id,
        r.patch_id,
        r.first_dt,
        j.dt AS fixed_dt
    FROM runs AS r
    JOIN job_days AS j
        ON j.day_no = r.last_day_no + 1
),
counted_fixes AS (
    SELECT
        f.account_id,
        f.region,
        CAST(f.fixed_dt AS date) AS fixed_day,
        date_diff('day', CAST(f.first_dt AS date), CAST(f.fixed_dt AS date)) AS days_to_fix
    FROM fixes AS f
    JOIN states AS st
        ON
            st.dt = f.fixed_dt
            AND st.account_id = f.account_id
            AND st.region = f.region
            AND st.instance_id = f.instance_id
    WHERE st.compliance_state <> 'TERMINATED'
),
mttr AS (
    SELECT
        d.dt,
        f.account_id,
        f.region,
        avg(CAST(f.days_to_fix AS double)) AS mttr_days_30d
    FROM reported_days AS d
    JOIN counted_fixes AS f
        ON f.fixed_day BETWEEN CAST(date_add('day', -29, d.day) AS date) AND d.day
    GROUP BY d.dt, f.account_id, f.region
)
SELECT
    d.day,
    c.account_id,
    c.region,
    c.nodes_total,
    c.nodes_compliant,
    c.nodes_non_compliant,
    c.nodes_stale,
    c.nodes_exempt,
    c.nodes_unmanaged,
    c.nodes_no_patch_data,
    c.nodes_stopped,
    CAST(
        CASE
            WHEN c.nodes_total - c.nodes_stopped - c.nodes_exempt > 0
                THEN 100 * CAST(c.nodes_compliant AS double) / (c.nodes_total - c.nodes_stopped - c.nodes_exempt)
        END AS double
    ) AS percent_compliant,
    coalesce(p.missing_patches, 0) AS missing_patches,
    coalesce(p.sla_breaches, 0) AS sla_breaches,
    CASE WHEN d.day_before_ran THEN coalesce(x.new_non_compliant, 0) END AS new_non_compliant,
    CASE WHEN d.day_before_ran THEN coalesce(x.resolved_non_compliant, 0) END AS resolved_non_compliant,
    m.mttr_days_30d
FROM state_counts AS c
JOIN reported_days AS d
    ON d.dt = c.dt
LEFT JOIN pair_counts AS p
    ON p.dt = c.dt AND p.account_id = c.account_id AND p.region = c.region
LEFT JOIN change_counts AS x
    ON x.day = d.day AND x.account_id = c.account_id AND x.region = c.region
LEFT JOIN mttr AS m
    ON m.dt = c.dt AND m.account_id = c.account_id AND m.region = c.region
