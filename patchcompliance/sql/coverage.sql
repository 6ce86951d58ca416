-- coverage: one row per account x region that should report or does report, with the age of each data feed, so
-- that a broken data pipeline never looks like a compliant fleet.
--
-- Pairs: the StackSet's stack instances (table expected_targets, written by DigestFunction from
-- cloudformation:ListStackInstances before it queries; expected = true), plus every pair that has rows in the
-- latest Config export or in SSM instance information (a member stack deployed on its own; expected = false).
--
-- Feeds:
--   config_last_capture  newest capture_time of the pair's rows in the latest complete Config export
--                        (config_export_latest). AWS Config records an item when it changes, so a quiet account's
--                        newest row can be old while Config works: this age is reported, and the export's own age
--                        is in the digest, but it does not make a pair STALE on its own.
--   ssm_last_capture     newest capturetime of the pair's aws_instanceinformation rows (the inventory association
--                        writes every managed node's row on each run).
-- Ages are hours before now (Athena's session time zone is UTC).
--
-- coverage_state, first match wins:
--   MISSING  expected, and neither feed has a row for the pair
--   STALE    the newest SSM row is older than the threshold; or SSM has no row while Config sees running
--            instances; or Config has no row while SSM reports EC2 nodes (i-...)
--   OK       otherwise
-- Threshold: stale_after_hours of expected_targets (the FeedStaleAfterHours parameter, written with the targets),
-- 48 hours when the table is empty.
WITH expected AS (
    SELECT DISTINCT account_id, region
    FROM expected_targets
    WHERE account_id IS NOT NULL AND region IS NOT NULL
),
threshold AS (
    SELECT coalesce(max(stale_after_hours), 48) AS hours
    FROM expected_targets
),
config AS (
    SELECT
        account_id,
        region,
        max(try(CAST(from_iso8601_timestamp(capture_time) AS timestamp))) AS last_capture,
        count_if(kind = 'instance' AND instance_state = 'running') AS running_instances
    FROM config_export_latest
    GROUP BY account_id, region
),
ssm AS (
    SELECT
        accountid AS account_id,
        region,
        max(try(CAST(from_iso8601_timestamp(capturetime) AS timestamp))) AS last_capture,
        count_if(resourceid LIKE 'i-%') AS ec2_nodes
    FROM aws_instanceinformation
    GROUP BY accountid, region
),
pairs AS (
    SELECT account_id, region FROM expected
    UNION
    SELECT account_id, region FROM config
    UNION
    SELECT account_id, region FROM ssm
),
aged AS (
    SELECT
        p.account_id,
        p.region,
        x.account_id IS NOT NULL AS expected,
        c.last_capture AS config_last_capture,
        CAST(date_diff('second', c.last_capture, CAST(current_timestamp AS timestamp)) AS double) / 3600
            AS config_age_hours,
        s.last_capture AS ssm_last_capture,
        CAST(date_diff('second', s.last_capture, CAST(current_timestamp AS timestamp)) AS double) / 3600
            AS ssm_age_hours,
        coalesce(c.running_instances, 0) AS running_instances,
        coalesce(s.ec2_nodes, 0) AS ec2_nodes,
        t.hours AS stale_after_hours
    FROM pairs AS p
    CROSS JOIN threshold AS t
    LEFT JOIN expected AS x
        ON x.account_id = p.account_id AND x.region = p.region
    LEFT JOIN config AS c
        ON c.account_id = p.account_id AND c.region = p.region
    LEFT JOIN ssm AS s
        ON s.account_id = p.account_id AND s.region = p.region
)
SELECT
    account_id,
    region,
    expected,
    config_last_capture,
    config_age_hours,
    ssm_last_capture,
    ssm_age_hours,
    CASE
        WHEN config_last_capture IS NULL AND ssm_last_capture IS NULL THEN 'MISSING'
        WHEN ssm_age_hours > stale_after_hours THEN 'STALE'
        WHEN ssm_last_capture IS NULL AND running_instances > 0 THEN 'STALE'
        WHEN config_last_capture IS NULL AND ec2_nodes > 0 THEN 'STALE'
        ELSE 'OK'
    END AS coverage_state
FROM aged
