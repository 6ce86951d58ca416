-- instance_compliance: one row per instance, joining configmic (Config export: existence, name, state, managed
-- by SSM), configpc (Config patch rule), SSM instance information and SSM patch summary.
--
-- Instances: every EC2 instance of configmic (the latest Config export is the inventory of record, so stopped,
-- terminated and unmanaged instances stay visible) plus the hybrid nodes (mi-...) SSM reports, which Config
-- does not record as EC2 instances; hybrid nodes whose InstanceStatus is Terminated or Deregistered are left
-- out. SSM files of EC2 instances that left Config (the sync keeps files of deleted nodes) are ignored.
-- managed_status / managed_status_source: configmic's for EC2 instances; a hybrid node kept here is reported by
-- SSM with an InstanceStatus other than Terminated or Deregistered, so by configmic's SSM_INVENTORY rule it is
-- COMPLIANT (no Config rule evaluates hybrid nodes for this).
--
-- compliance_state, first match wins:
--   TERMINATED     EC2 state terminated or shutting-down
--   STOPPED        EC2 state stopped or stopping (SSM cannot scan it; kept visible from Config)
--   UNMANAGED      Systems Manager does not manage the instance: managed_status is NON_COMPLIANT, or it has
--                  no COMPLIANT/NON_COMPLIANT result and SSM has no instance information for the node
--   NON_COMPLIANT  the patch summary reports missing, failed or installed-pending-reboot patches (> 0); or
--                  there is no usable patch summary and the Config patch rule is NON_COMPLIANT
--   COMPLIANT      patch summary with missing = 0, failed = 0 and installed-pending-reboot = 0
--   NO_PATCH_DATA  managed, but no usable patch summary and no NON_COMPLIANT patch rule result
-- The counts are the patch summary's, NULL when there is none.
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
    SELECT
        account_id,
        region,
        instance_id,
        instance_name,
        instance_state,
        platform,
        managed_status,
        managed_status_source
    FROM configmic
    UNION ALL
    SELECT accountid, region, resourceid, NULL, NULL, NULL, 'COMPLIANT', 'SSM_INVENTORY'
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
    n.managed_status_source,
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
