-- patch: one row per patch compliance item reported by SSM (resource data sync, AWS:ComplianceItem), i.e.
-- the lines whose ComplianceType is 'Patch' (compared case-insensitively; association and custom compliance
-- lines are left out). The sync overwrites one file per node, so every line is the node's current state.
--
-- patch_state is normalised: the spelling of PatchState in the files is not documented (Missing, MISSING,
-- InstalledPendingReboot, INSTALLED_PENDING_REBOOT...), so it is compared ignoring case, spaces and
-- underscores and returned as the Patch Manager state name: INSTALLED, INSTALLED_OTHER,
-- INSTALLED_PENDING_REBOOT, INSTALLED_REJECTED, MISSING, FAILED, NOT_APPLICABLE, AVAILABLE_SECURITY_UPDATE
-- (anything else: upper case).
-- Times are UTC timestamps; an empty or unparseable time is NULL.
-- cve_ids: the item's CVEIds as written (comma-separated CVE IDs; Systems Manager reports them only for missing
-- and failed patches); patch_cves splits them.
SELECT
    accountid AS account_id,
    region,
    resourceid AS instance_id,
    id AS patch_id,
    title,
    classification,
    severity,
    patchseverity AS patch_severity,
    CASE upper(regexp_replace(patchstate, '[^A-Za-z]', ''))
        WHEN 'INSTALLED' THEN 'INSTALLED'
        WHEN 'INSTALLEDOTHER' THEN 'INSTALLED_OTHER'
        WHEN 'INSTALLEDPENDINGREBOOT' THEN 'INSTALLED_PENDING_REBOOT'
        WHEN 'INSTALLEDREJECTED' THEN 'INSTALLED_REJECTED'
        WHEN 'MISSING' THEN 'MISSING'
        WHEN 'FAILED' THEN 'FAILED'
        WHEN 'NOTAPPLICABLE' THEN 'NOT_APPLICABLE'
        WHEN 'AVAILABLESECURITYUPDATE' THEN 'AVAILABLE_SECURITY_UPDATE'
        ELSE upper(patchstate)
    END AS patch_state,
    status,
    patchgroup AS patch_group,
    patchbaselineid AS baseline_id,
    try(CAST(from_iso8601_timestamp(nullif(installedtime, '')) AS timestamp)) AS installed_time,
    try(CAST(from_iso8601_timestamp(nullif(executiontime, '')) AS timestamp)) AS execution_time,
    try(CAST(from_iso8601_timestamp(nullif(capturetime, '')) AS timestamp)) AS capture_time,
    cveids AS cve_ids
FROM aws_complianceitem
WHERE lower(compliancetype) = 'patch'
