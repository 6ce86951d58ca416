-- configmic: one row per EC2 instance in the latest AWS Config snapshot of each account x region.
--
-- Latest snapshot (config_latest_items; method: see config_latest_items.sql): the items of the latest
-- snapshot file of each account x region, deleted items (ResourceDeleted*) excluded.
--
-- managed_status: complianceType of the configRuleList entries, in the instance's
-- AWS::Config::ResourceCompliance item, whose configRuleName contains
-- 'ec2-instance-managed-by-systems-manager' (managed rule EC2_INSTANCE_MANAGED_BY_SSM). A contains-match,
-- not equality, so prefixed or suffixed deployments of the rule (conformance packs, Security Hub, a naming
-- prefix) count too; the entry's own complianceType is used, never the item's overall complianceType, which
-- mixes in every other rule. Several matching entries: the worst wins,
-- NON_COMPLIANT > COMPLIANT > INSUFFICIENT_DATA > NOT_APPLICABLE. NULL when no such rule evaluated the
-- instance. The items array is unnested once; EC2 items and their compliance items meet in one GROUP BY.
WITH items AS (
    SELECT
        account_id,
        region,
        dt,
        resource_type = 'AWS::EC2::Instance' AS is_instance,
        CASE
            WHEN resource_type = 'AWS::EC2::Instance' THEN resource_id
            ELSE json_extract_scalar(configuration, '$.targetResourceId')
        END AS instance_id,
        capture_time,
        configuration,
        tags,
        CASE
            WHEN resource_type = 'AWS::Config::ResourceCompliance' THEN transform(
                filter(
                    CAST(json_extract(configuration, '$.configRuleList') AS array(json)),
                    r -> json_extract_scalar(r, '$.configRuleName') LIKE '%ec2-instance-managed-by-systems-manager%'
                ),
                r -> json_extract_scalar(r, '$.complianceType')
            )
        END AS rule_results
    FROM config_latest_items
    WHERE
        resource_type = 'AWS::EC2::Instance'
        OR (
            resource_type = 'AWS::Config::ResourceCompliance'
            AND json_extract_scalar(configuration, '$.targetResourceType') = 'AWS::EC2::Instance'
        )
),
ranked_items AS (
    SELECT
        *,
        CASE
            WHEN contains(rule_results, 'NON_COMPLIANT') THEN 4
            WHEN contains(rule_results, 'COMPLIANT') THEN 3
            WHEN contains(rule_results, 'INSUFFICIENT_DATA') THEN 2
            WHEN contains(rule_results, 'NOT_APPLICABLE') THEN 1
        END AS managed_rank
    FROM items
)
SELECT
    account_id,
    region,
    instance_id,
    max(CASE WHEN is_instance THEN coalesce(element_at(tags, 'Name'), element_at(tags, 'name')) END)
        AS instance_name,
    max(CASE WHEN is_instance THEN json_extract_scalar(configuration, '$.state.name') END) AS instance_state,
    max(
        CASE
            WHEN is_instance THEN coalesce(
                json_extract_scalar(configuration, '$.platformDetails'),
                json_extract_scalar(configuration, '$.platform')
            )
        END
    ) AS platform,
    CASE max(managed_rank)
        WHEN 4 THEN 'NON_COMPLIANT'
        WHEN 3 THEN 'COMPLIANT'
        WHEN 2 THEN 'INSUFFICIENT_DATA'
        WHEN 1 THEN 'NOT_APPLICABLE'
    END AS managed_status,
    max(CASE WHEN is_instance THEN CAST(from_iso8601_timestamp(capture_time) AS timestamp) END) AS capture_time,
    CAST(dt AS date) AS snapshot_date
FROM ranked_items
GROUP BY account_id, region, dt, instance_id
HAVING count_if(is_instance) > 0
