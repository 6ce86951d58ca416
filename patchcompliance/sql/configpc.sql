-- configpc: one row per managed node (EC2 i-... and hybrid mi-...) with its patch compliance, from the
-- latest AWS Config snapshot of each account x region (config_latest_items; latest-snapshot method: see
-- config_latest_items.sql).
--
-- Source: AWS::Config::ResourceCompliance items whose target is an AWS::SSM::PatchCompliance resource; their
-- resourceId is AWS::SSM::PatchCompliance/AWS::SSM::ManagedInstanceInventory/<node id>, and the node ID is the
-- part after the last '/'.
-- patch_compliance_status: complianceType of the configRuleList entries whose configRuleName contains
-- 'ec2-managedinstance-patch-compliance-status-check' (managed rule
-- EC2_MANAGEDINSTANCE_PATCH_COMPLIANCE_STATUS_CHECK; contains-match so prefixed or suffixed deployments
-- count). Several matching entries: the worst wins, NON_COMPLIANT > COMPLIANT > INSUFFICIENT_DATA >
-- NOT_APPLICABLE. Nodes without such an entry have no row.
WITH items AS (
    SELECT
        account_id,
        region,
        dt,
        regexp_extract(resource_id, '[^/]+$') AS instance_id,
        capture_time,
        transform(
            filter(
                CAST(json_extract(configuration, '$.configRuleList') AS array(json)),
                r -> json_extract_scalar(r, '$.configRuleName')
                    LIKE '%ec2-managedinstance-patch-compliance-status-check%'
            ),
            r -> json_extract_scalar(r, '$.complianceType')
        ) AS rule_results
    FROM config_latest_items
    WHERE
        resource_type = 'AWS::Config::ResourceCompliance'
        AND resource_id LIKE 'AWS::SSM::PatchCompliance/%'
),
ranked_items AS (
    SELECT
        *,
        CASE
            WHEN contains(rule_results, 'NON_COMPLIANT') THEN 4
            WHEN contains(rule_results, 'COMPLIANT') THEN 3
            WHEN contains(rule_results, 'INSUFFICIENT_DATA') THEN 2
            WHEN contains(rule_results, 'NOT_APPLICABLE') THEN 1
        END AS patch_rank
    FROM items
)
SELECT
    account_id,
    region,
    instance_id,
    CASE max(patch_rank)
        WHEN 4 THEN 'NON_COMPLIANT'
        WHEN 3 THEN 'COMPLIANT'
        WHEN 2 THEN 'INSUFFICIENT_DATA'
        WHEN 1 THEN 'NOT_APPLICABLE'
    END AS patch_compliance_status,
    max(CAST(from_iso8601_timestamp(capture_time) AS timestamp)) AS capture_time,
    CAST(dt AS date) AS snapshot_date
FROM ranked_items
GROUP BY account_id, region, dt, instance_id
HAVING max(patch_rank) IS NOT NULL
