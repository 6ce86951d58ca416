-- patch_cves: one row per CVE x node x patch: the patch items of view patch with CVE IDs, split on commas
-- (spaces around an ID and empty entries dropped; an ID listed twice counts once), for the nodes of
-- instance_compliance that are not TERMINATED (as in patch_age). Systems Manager reports CVE IDs only for missing
-- and failed patches, so the rows are those patches, and a CVE fixed everywhere has no row.
-- severity: as in patch_age (the vendor's PatchSeverity, else the compliance item's Severity).
-- first_seen_missing: patch_age's for the node x patch (NULL if the patch is in neither state MISSING nor FAILED).
WITH nodes AS (
    SELECT account_id, region, instance_id
    FROM instance_compliance
    WHERE compliance_state <> 'TERMINATED'
),
listed AS (
    SELECT DISTINCT
        trim(cve.cve_id) AS cve_id,
        p.account_id,
        p.region,
        p.instance_id,
        p.patch_id,
        p.title,
        coalesce(nullif(trim(p.patch_severity), ''), p.severity) AS severity,
        p.patch_state,
        p.installed_time
    FROM patch AS p
    JOIN nodes AS n
        ON n.account_id = p.account_id AND n.region = p.region AND n.instance_id = p.instance_id
    CROSS JOIN UNNEST(split(p.cve_ids, ',')) AS cve (cve_id)
    WHERE trim(cve.cve_id) <> ''
)
SELECT
    l.cve_id,
    l.account_id,
    l.region,
    l.instance_id,
    l.patch_id,
    l.title,
    l.severity,
    l.patch_state,
    l.installed_time,
    a.first_seen_missing
FROM listed AS l
LEFT JOIN patch_age AS a
    ON
        a.account_id = l.account_id
        AND a.region = l.region
        AND a.instance_id = l.instance_id
        AND a.patch_id = l.patch_id
