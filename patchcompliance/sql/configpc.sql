-- configpc: one row per managed node (EC2 i-... and hybrid mi-...) with its patch compliance, from the latest
-- Config export (config_export_latest; latest-export method: see config_export_latest.sql).
--
-- Source: the rule results whose resource is an AWS::SSM::PatchCompliance resource (the patch rule evaluates
-- that type; its resource ID is AWS::SSM::ManagedInstanceInventory/<node id>, and the export's instance_id is
-- the node ID, the part after the last '/').
-- patch_compliance_status: complianceType of the rule results whose rule name contains
-- 'ec2-managedinstance-patch-compliance-status-check' (managed rule
-- EC2_MANAGEDINSTANCE_PATCH_COMPLIANCE_STATUS_CHECK; contains-match so prefixed or suffixed deployments
-- count). Several matching results: the worst wins, NON_COMPLIANT > COMPLIANT > INSUFFICIENT_DATA >
-- NOT_APPLICABLE. Nodes without such a result (regions without the rule, such as ap-east-2) have no row.
-- capture_time: the compliance item's configurationItemCaptureTime; snapshot_date: the UTC date of the export.
WITH items AS (
    SELECT
        account_id,
        region,
        instance_id,
        export_time,
        capture_time,
        transform(
            filter(rules, r -> r.rule_name LIKE '%ec2-managedinstance-patch-compliance-status-check%'),
            r -> r.compliance_type
        ) AS rule_results
    FROM config_export_latest
    WHERE kind = 'rules' AND resource_type = 'AWS::SSM::PatchCompliance'
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
    CAST(max(export_time) AS date) AS snapshot_date
FROM ranked_items
GROUP BY account_id, region, instance_id
HAVING max(patch_rank) IS NOT NULL
