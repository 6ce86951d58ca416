-- configmic: one row per EC2 instance in the latest AWS Config snapshot of each account x region.
--
-- Latest snapshot (same method in configpc and instance_tags):
--   1. latest_partition: the latest dt (zero-padded YYYY-MM-DD, so max() is the latest day) per account x
--      region, read from the partition metadata table "config_snapshot$partitions" (Glue metadata only, no
--      data scanned). Taken per account x region, not globally, so an account or region whose deliveries
--      stopped still shows its last known state.
--   2. config_snapshot is joined to it on all three partition keys: Athena prunes every other partition at
--      run time (dynamic partition pruning), so the data read does not grow with the history kept. (The
--      dynamic filter holds one value set per key, so when account x regions differ in their latest day, the
--      other partitions of those few days are read as well: bounded by the number of distinct latest days.)
--   3. Within that day the latest file wins: snapshot file names share the prefix
--      <acct>_Config_<region>_ConfigSnapshot_ followed by the UTC delivery time yyyyMMddTHHmmssZ, so the
--      largest "$path" of the partition is the latest snapshot. A snapshot file is a single row.
-- Items with status ResourceDeleted / ResourceDeletedNotRecorded are not instances any more and are skipped.
--
-- managed_status: complianceType of the configRuleList entries, in the instance's
-- AWS::Config::ResourceCompliance item, whose configRuleName contains
-- 'ec2-instance-managed-by-systems-manager' (managed rule EC2_INSTANCE_MANAGED_BY_SSM). A contains-match,
-- not equality, so prefixed or suffixed deployments of the rule (conformance packs, Security Hub, a naming
-- prefix) count too; the entry's own complianceType is used, never the item's overall complianceType, which
-- mixes in every other rule. Several matching entries: the worst wins,
-- NON_COMPLIANT > COMPLIANT > INSUFFICIENT_DATA > NOT_APPLICABLE. NULL when no such rule evaluated the
-- instance. The items array is unnested once; EC2 items and their compliance items meet in one GROUP BY.
WITH latest_partition AS (
    SELECT accountid, region, max(dt) AS dt
    FROM "config_snapshot$partitions"
    GROUP BY accountid, region
),
latest_snapshot AS (
    SELECT accountid, region, dt, configurationitems
    FROM (
        SELECT
            c.accountid,
            c.region,
            c.dt,
            c.configurationitems,
            row_number() OVER (PARTITION BY c.accountid, c.region ORDER BY c."$path" DESC) AS file_rank
        FROM config_snapshot AS c
        JOIN latest_partition AS l
            ON c.accountid = l.accountid AND c.region = l.region AND c.dt = l.dt
    ) AS ranked
    WHERE file_rank = 1
),
items AS (
    SELECT
        s.accountid,
        s.region,
        s.dt,
        ci.resourcetype = 'AWS::EC2::Instance' AS is_instance,
        CASE
            WHEN ci.resourcetype = 'AWS::EC2::Instance' THEN ci.resourceid
            ELSE json_extract_scalar(ci.configuration, '$.targetResourceId')
        END AS instance_id,
        ci.configurationitemcapturetime AS capture_time,
        ci.configuration,
        ci.tags,
        CASE
            WHEN ci.resourcetype = 'AWS::Config::ResourceCompliance' THEN transform(
                filter(
                    CAST(json_extract(ci.configuration, '$.configRuleList') AS array(json)),
                    r -> json_extract_scalar(r, '$.configRuleName') LIKE '%ec2-instance-managed-by-systems-manager%'
                ),
                r -> json_extract_scalar(r, '$.complianceType')
            )
        END AS rule_results
    FROM latest_snapshot AS s
    CROSS JOIN UNNEST(s.configurationitems) AS t (ci)
    WHERE
        (
            ci.resourcetype = 'AWS::EC2::Instance'
            OR (
                ci.resourcetype = 'AWS::Config::ResourceCompliance'
                AND json_extract_scalar(ci.configuration, '$.targetResourceType') = 'AWS::EC2::Instance'
            )
        )
        AND coalesce(ci.configurationitemstatus, '') NOT LIKE 'ResourceDeleted%'
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
    accountid AS account_id,
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
GROUP BY accountid, region, dt, instance_id
HAVING count_if(is_instance) > 0
