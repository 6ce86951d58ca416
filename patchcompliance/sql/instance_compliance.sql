-- instance_compliance: one row per instance, joining configmic (Config export: existence, name, state, managed
-- by SSM), configpc (Config patch rule), SSM instance information, patch summary, detailed information and patch
-- items, the instance's tags (instance_tags) and the compliance policy (compliance_settings).
--
-- Instances: every EC2 instance of configmic (the latest Config export is the inventory of record, so stopped,
-- terminated and unmanaged instances stay visible) plus the hybrid nodes (mi-...) SSM reports, which Config
-- does not record as EC2 instances; hybrid nodes whose InstanceStatus is Terminated or Deregistered are left
-- out. SSM files of EC2 instances that left Config (the sync keeps files of deleted nodes) are ignored.
-- managed_status / managed_status_source: configmic's for EC2 instances; a hybrid node kept here is reported by
-- SSM with an InstanceStatus other than Terminated or Deregistered, so by configmic's SSM_INVENTORY rule it is
-- COMPLIANT (no Config rule evaluates hybrid nodes for this).
--
-- Today is current_date (UTC, Athena's session time zone); ages are whole UTC calendar days.
-- data_age_days: days since the older of the node's latest patch scan (the patch summary's OperationEndTime,
--   else its capture time) and its latest inventory (instance information capture time); either alone when the
--   other is missing; NULL when both are. stale_reason: which of them is older than stale_after_days:
--   NO_RECENT_SCAN (the scan only), NO_RECENT_INVENTORY (the inventory only), NO_RECENT_DATA (every one the node
--   has), NULL (none). Computed for every row; the state STALE applies in the order below.
-- Exemption: the instance carries the tag exemption_tag_key (Config export tags, exact key, any value). With the
--   tag exemption_until_tag_key too, exempt_until is its date (YYYY-MM-DD) and the exemption holds through that
--   day; past it, or when the value is not such a date (exempt_until NULL), the exemption is expired: the node
--   is evaluated as if untagged and exemption_expired is true. Hybrid nodes have no Config tags: never exempt.
--
-- compliance_state, first match wins:
--   TERMINATED     EC2 state terminated or shutting-down
--   STOPPED        EC2 state stopped or stopping (SSM cannot scan it; kept visible from Config)
--   EXEMPT         an exemption that holds today (see above)
--   UNMANAGED      Systems Manager does not manage the instance: managed_status is NON_COMPLIANT, or it has
--                  no COMPLIANT/NON_COMPLIANT result and SSM has no instance information for the node
--   STALE          stale_reason is set: SSM's answer for the node is older than the policy allows
--   NON_COMPLIANT  the patch summary reports missing, failed, installed-pending-reboot or installed-rejected
--                  patches (> 0), or the node has an AVAILABLE_SECURITY_UPDATE patch item whose status is
--                  NON_COMPLIANT (the patch baseline decides whether those count); or there is no usable patch
--                  summary and the Config patch rule is NON_COMPLIANT
--   COMPLIANT      patch summary with missing = 0, failed = 0 and installed-pending-reboot = 0
--   NO_PATCH_DATA  managed, but no usable patch summary and no NON_COMPLIANT patch rule result
-- The counts are the patch summary's, NULL when there is none (or when the summary has no such attribute);
-- kernel_version is the detailed information's KernelVersion.
WITH settings AS (
    SELECT stale_after_days, exemption_tag_key, exemption_until_tag_key
    FROM compliance_settings
),
info AS (
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
            installedrejectedcount,
            availablesecurityupdatecount,
            coalesce(
                try(CAST(from_iso8601_timestamp(nullif(operationendtime, '')) AS timestamp)),
                try(CAST(from_iso8601_timestamp(nullif(capturetime, '')) AS timestamp))
            ) AS scan_time,
            row_number() OVER (PARTITION BY accountid, region, resourceid ORDER BY capturetime DESC) AS rn
        FROM aws_patchsummary
    ) AS ranked
    WHERE rn = 1
),
detail AS (
    SELECT *
    FROM (
        SELECT
            accountid,
            region,
            resourceid,
            kernelversion,
            row_number() OVER (PARTITION BY accountid, region, resourceid ORDER BY capturetime DESC) AS rn
        FROM aws_instancedetailedinformation
    ) AS ranked
    WHERE rn = 1
),
security_updates AS (
    SELECT account_id, region, instance_id, count(*) AS noncompliant
    FROM patch
    WHERE patch_state = 'AVAILABLE_SECURITY_UPDATE' AND upper(status) = 'NON_COMPLIANT'
    GROUP BY account_id, region, instance_id
),
exemptions AS (
    SELECT
        t.account_id,
        t.region,
        t.instance_id,
        count_if(t.tag_key = s.exemption_tag_key) > 0 AS tagged,
        max(CASE WHEN t.tag_key = s.exemption_until_tag_key THEN trim(t.tag_value) END) AS until_text
    FROM instance_tags AS t
    CROSS JOIN settings AS s
    WHERE t.tag_key IN (s.exemption_tag_key, s.exemption_until_tag_key)
    GROUP BY t.account_id, t.region, t.instance_id
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
),
joined AS (
    SELECT
        n.*,
        i.resourceid AS info_node,
        i.computername,
        i.platformtype,
        i.platformname,
        i.platformversion,
        i.agentversion,
        try(CAST(from_iso8601_timestamp(i.capturetime) AS timestamp)) AS last_inventory_time,
        p.patch_compliance_status,
        s.missingcount,
        s.failedcount,
        s.installedpendingrebootcount,
        s.installedcount,
        s.criticalnoncompliantcount,
        s.securitynoncompliantcount,
        s.installedrejectedcount,
        s.availablesecurityupdatecount,
        s.scan_time,
        d.kernelversion,
        coalesce(u.noncompliant, 0) AS security_updates_noncompliant,
        coalesce(e.tagged, false) AS exemption_tagged,
        e.until_text IS NOT NULL AS has_until,
        CASE
            WHEN e.tagged AND regexp_like(e.until_text, '^[0-9]{4}-[0-9]{2}-[0-9]{2}$')
                THEN try(CAST(e.until_text AS date))
        END AS exempt_until,
        g.stale_after_days
    FROM nodes AS n
    CROSS JOIN settings AS g
    LEFT JOIN configpc AS p
        ON p.account_id = n.account_id AND p.region = n.region AND p.instance_id = n.instance_id
    LEFT JOIN info AS i
        ON i.accountid = n.account_id AND i.region = n.region AND i.resourceid = n.instance_id
    LEFT JOIN summary AS s
        ON s.accountid = n.account_id AND s.region = n.region AND s.resourceid = n.instance_id
    LEFT JOIN detail AS d
        ON d.accountid = n.account_id AND d.region = n.region AND d.resourceid = n.instance_id
    LEFT JOIN security_updates AS u
        ON u.account_id = n.account_id AND u.region = n.region AND u.instance_id = n.instance_id
    LEFT JOIN exemptions AS e
        ON e.account_id = n.account_id AND e.region = n.region AND e.instance_id = n.instance_id
),
aged AS (
    SELECT
        *,
        CAST(date_diff('day', CAST(scan_time AS date), current_date) AS integer) AS scan_age,
        CAST(date_diff('day', CAST(last_inventory_time AS date), current_date) AS integer) AS inventory_age,
        exemption_tagged AND (NOT has_until OR coalesce(exempt_until >= current_date, false)) AS exempt,
        exemption_tagged AND has_until AND coalesce(exempt_until < current_date, true) AS exemption_expired
    FROM joined
),
evaluated AS (
    SELECT
        *,
        CASE
            WHEN scan_age IS NULL AND inventory_age IS NULL THEN NULL
            WHEN coalesce(scan_age > stale_after_days, true) AND coalesce(inventory_age > stale_after_days, true)
                THEN 'NO_RECENT_DATA'
            WHEN scan_age > stale_after_days THEN 'NO_RECENT_SCAN'
            WHEN inventory_age > stale_after_days THEN 'NO_RECENT_INVENTORY'
        END AS stale_reason
    FROM aged
)
SELECT
    account_id,
    region,
    instance_id,
    coalesce(instance_name, computername) AS instance_name,
    instance_state,
    coalesce(
        platformtype,
        CASE
            WHEN lower(platform) LIKE '%windows%' THEN 'Windows'
            WHEN lower(platform) LIKE 'mac%' THEN 'MacOS'
            WHEN platform IS NOT NULL THEN 'Linux'
        END
    ) AS platform_type,
    coalesce(platformname, platform) AS platform_name,
    platformversion AS platform_version,
    agentversion AS agent_version,
    last_inventory_time,
    managed_status,
    managed_status_source,
    patch_compliance_status,
    missingcount AS missing_count,
    failedcount AS failed_count,
    installedpendingrebootcount AS installed_pending_reboot_count,
    installedcount AS installed_count,
    criticalnoncompliantcount AS critical_noncompliant_count,
    securitynoncompliantcount AS security_noncompliant_count,
    installedrejectedcount AS installed_rejected_count,
    availablesecurityupdatecount AS available_security_update_count,
    kernelversion AS kernel_version,
    CASE
        WHEN scan_age IS NULL THEN inventory_age
        WHEN inventory_age IS NULL THEN scan_age
        ELSE greatest(scan_age, inventory_age)
    END AS data_age_days,
    stale_reason,
    exempt_until,
    exemption_expired,
    CASE
        WHEN instance_state IN ('terminated', 'shutting-down') THEN 'TERMINATED'
        WHEN instance_state IN ('stopped', 'stopping') THEN 'STOPPED'
        WHEN exempt THEN 'EXEMPT'
        WHEN
            managed_status = 'NON_COMPLIANT'
            OR (coalesce(managed_status, '') <> 'COMPLIANT' AND info_node IS NULL)
            THEN 'UNMANAGED'
        WHEN stale_reason IS NOT NULL THEN 'STALE'
        WHEN
            missingcount > 0
            OR failedcount > 0
            OR installedpendingrebootcount > 0
            OR installedrejectedcount > 0
            OR security_updates_noncompliant > 0
            THEN 'NON_COMPLIANT'
        WHEN missingcount = 0 AND failedcount = 0 AND installedpendingrebootcount = 0 THEN 'COMPLIANT'
        WHEN patch_compliance_status = 'NON_COMPLIANT' THEN 'NON_COMPLIANT'
        ELSE 'NO_PATCH_DATA'
    END AS compliance_state
FROM evaluated
