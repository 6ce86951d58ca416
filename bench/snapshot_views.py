"""The snapshot-based views the Config export replaced, kept for bench/bench_views.py (comments removed).

They read the Config snapshot files (table config_snapshot): config_latest_items takes the latest partition per
account x region from "config_snapshot$partitions" and the latest file of that day, and unnests its items once;
configmic, configpc and instance_tags read it; instance_compliance reads configmic and configpc. They fail when
one snapshot file, a single JSON line, is over Athena's 32 MB row limit.
"""

# view -> its SELECT, in creation order
SNAPSHOT_SQL = {
    "config_latest_items": r"""
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
)
SELECT
    s.accountid AS account_id,
    s.region,
    s.dt,
    ci.resourcetype AS resource_type,
    ci.resourceid AS resource_id,
    ci.configurationitemcapturetime AS capture_time,
    ci.configuration,
    ci.tags
FROM latest_snapshot AS s
CROSS JOIN UNNEST(s.configurationitems) AS t (ci)
WHERE coalesce(ci.configurationitemstatus, '') NOT LIKE 'ResourceDeleted%'
""",
    "configmic": r"""
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
""",
    "configpc": r"""
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
""",
    "instance_tags": r"""
SELECT
    i.account_id,
    i.region,
    i.resource_id AS instance_id,
    tag.tag_key,
    tag.tag_value
FROM config_latest_items AS i
CROSS JOIN UNNEST(i.tags) AS tag (tag_key, tag_value)
WHERE i.resource_type = 'AWS::EC2::Instance'
""",
    "instance_compliance": r"""
WITH info AS (
    SELECT *
    FROM (
        SELECT
            accountid,
            region,
            resourceid,
            computername,
            platformtype,
            platformname,
            platformversion,
            agentversion,
            instancestatus,
            capturetime,
            row_number() OVER (PARTITION BY accountid, region, resourceid ORDER BY capturetime DESC) AS rn
        FROM aws_instanceinformation
    ) AS ranked
    WHERE rn = 1
),
summary AS (
    SELECT *
    FROM (
        SELECT
            accountid,
            region,
            resourceid,
            missingcount,
            failedcount,
            installedpendingrebootcount,
            installedcount,
            criticalnoncompliantcount,
            securitynoncompliantcount,
            row_number() OVER (PARTITION BY accountid, region, resourceid ORDER BY capturetime DESC) AS rn
        FROM aws_patchsummary
    ) AS ranked
    WHERE rn = 1
),
nodes AS (
    SELECT account_id, region, instance_id, instance_name, instance_state, platform, managed_status
    FROM configmic
    UNION ALL
    SELECT accountid, region, resourceid, NULL, NULL, NULL, NULL
    FROM info
    WHERE
        resourceid LIKE 'mi-%'
        AND lower(coalesce(instancestatus, '')) NOT IN ('terminated', 'deregistered')
)
SELECT
    n.account_id,
    n.region,
    n.instance_id,
    coalesce(n.instance_name, i.computername) AS instance_name,
    n.instance_state,
    coalesce(
        i.platformtype,
        CASE
            WHEN lower(n.platform) LIKE '%windows%' THEN 'Windows'
            WHEN lower(n.platform) LIKE 'mac%' THEN 'MacOS'
            WHEN n.platform IS NOT NULL THEN 'Linux'
        END
    ) AS platform_type,
    coalesce(i.platformname, n.platform) AS platform_name,
    i.platformversion AS platform_version,
    i.agentversion AS agent_version,
    try(CAST(from_iso8601_timestamp(i.capturetime) AS timestamp)) AS last_inventory_time,
    n.managed_status,
    p.patch_compliance_status,
    s.missingcount AS missing_count,
    s.failedcount AS failed_count,
    s.installedpendingrebootcount AS installed_pending_reboot_count,
    s.installedcount AS installed_count,
    s.criticalnoncompliantcount AS critical_noncompliant_count,
    s.securitynoncompliantcount AS security_noncompliant_count,
    CASE
        WHEN n.instance_state IN ('terminated', 'shutting-down') THEN 'TERMINATED'
        WHEN n.instance_state IN ('stopped', 'stopping') THEN 'STOPPED'
        WHEN
            n.managed_status = 'NON_COMPLIANT'
            OR (coalesce(n.managed_status, '') <> 'COMPLIANT' AND i.resourceid IS NULL)
            THEN 'UNMANAGED'
        WHEN s.missingcount > 0 OR s.failedcount > 0 OR s.installedpendingrebootcount > 0 THEN 'NON_COMPLIANT'
        WHEN s.missingcount = 0 AND s.failedcount = 0 AND s.installedpendingrebootcount = 0 THEN 'COMPLIANT'
        WHEN p.patch_compliance_status = 'NON_COMPLIANT' THEN 'NON_COMPLIANT'
        ELSE 'NO_PATCH_DATA'
    END AS compliance_state
FROM nodes AS n
LEFT JOIN configpc AS p
    ON p.account_id = n.account_id AND p.region = n.region AND p.instance_id = n.instance_id
LEFT JOIN info AS i
    ON i.accountid = n.account_id AND i.region = n.region AND i.resourceid = n.instance_id
LEFT JOIN summary AS s
    ON s.accountid = n.account_id AND s.region = n.region AND s.resourceid = n.instance_id
""",
}
