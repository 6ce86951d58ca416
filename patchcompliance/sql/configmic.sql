-- configmic: one row per EC2 instance of the latest Config export (config_export_latest; latest-export
-- method: see config_export_latest.sql).
--
-- managed_status / managed_status_source:
--   CONFIG_RULE    the instance has a result of the managed-by-SSM rule (managed rule
--                  EC2_INSTANCE_MANAGED_BY_SSM): the complianceType of its rule results whose rule name contains
--                  'ec2-instance-managed-by-systems-manager'. A contains-match, not equality, so prefixed or
--                  suffixed deployments of the rule (conformance packs, Security Hub, a naming prefix) count too.
--                  Several matching results: the worst wins, NON_COMPLIANT > COMPLIANT > INSUFFICIENT_DATA >
--                  NOT_APPLICABLE.
--   SSM_INVENTORY  no such result (a region without the rule, such as ap-east-2, or a rule that has not
--                  evaluated the instance yet): COMPLIANT when Systems Manager reports the node (its latest
--                  aws_instanceinformation row) with an InstanceStatus other than Terminated or Deregistered,
--                  else NON_COMPLIANT. The resource data sync keeps the last inventory of a node whose agent
--                  stopped reporting, so such a node still counts as managed here.
-- capture_time: the instance's configurationItemCaptureTime; snapshot_date: the UTC date of the export.
-- Instance and rule rows meet in one GROUP BY, with no self-join.
WITH items AS (
    SELECT
        account_id,
        region,
        instance_id,
        export_time,
        kind = 'instance' AS is_instance,
        tags,
        instance_state,
        platform_details,
        capture_time,
        CASE
            WHEN kind = 'rules' THEN transform(
                filter(rules, r -> r.rule_name LIKE '%ec2-instance-managed-by-systems-manager%'),
                r -> r.compliance_type
            )
        END AS rule_results
    FROM config_export_latest
    WHERE kind = 'instance' OR (kind = 'rules' AND resource_type = 'AWS::EC2::Instance')
),
instances AS (
    SELECT
        account_id,
        region,
        instance_id,
        max(
            CASE
                WHEN is_instance THEN coalesce(
                    element_at(transform(filter(tags, t -> t.key = 'Name'), t -> t.value), 1),
                    element_at(transform(filter(tags, t -> t.key = 'name'), t -> t.value), 1)
                )
            END
        ) AS instance_name,
        max(CASE WHEN is_instance THEN instance_state END) AS instance_state,
        max(CASE WHEN is_instance THEN platform_details END) AS platform,
        max(
            CASE
                WHEN contains(rule_results, 'NON_COMPLIANT') THEN 4
                WHEN contains(rule_results, 'COMPLIANT') THEN 3
                WHEN contains(rule_results, 'INSUFFICIENT_DATA') THEN 2
                WHEN contains(rule_results, 'NOT_APPLICABLE') THEN 1
            END
        ) AS managed_rank,
        max(CASE WHEN is_instance THEN CAST(from_iso8601_timestamp(capture_time) AS timestamp) END) AS capture_time,
        max(export_time) AS export_time
    FROM items
    GROUP BY account_id, region, instance_id
    HAVING count_if(is_instance) > 0
),
ssm AS (
    SELECT accountid, region, resourceid, instancestatus
    FROM (
        SELECT
            accountid,
            region,
            resourceid,
            instancestatus,
            row_number() OVER (PARTITION BY accountid, region, resourceid ORDER BY capturetime DESC) AS rn
        FROM aws_instanceinformation
    ) AS ranked
    WHERE rn = 1
)
SELECT
    i.account_id,
    i.region,
    i.instance_id,
    i.instance_name,
    i.instance_state,
    i.platform,
    CASE
        WHEN i.managed_rank = 4 THEN 'NON_COMPLIANT'
        WHEN i.managed_rank = 3 THEN 'COMPLIANT'
        WHEN i.managed_rank = 2 THEN 'INSUFFICIENT_DATA'
        WHEN i.managed_rank = 1 THEN 'NOT_APPLICABLE'
        WHEN
            s.resourceid IS NOT NULL AND lower(coalesce(s.instancestatus, '')) NOT IN ('terminated', 'deregistered')
            THEN 'COMPLIANT'
        ELSE 'NON_COMPLIANT'
    END AS managed_status,
    CASE WHEN i.managed_rank IS NULL THEN 'SSM_INVENTORY' ELSE 'CONFIG_RULE' END AS managed_status_source,
    i.capture_time,
    CAST(i.export_time AS date) AS snapshot_date
FROM instances AS i
LEFT JOIN ssm AS s
    ON s.accountid = i.account_id AND s.region = i.region AND s.resourceid = i.instance_id
