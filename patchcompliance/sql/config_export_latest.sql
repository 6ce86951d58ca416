-- config_export_latest: the rows of the latest complete Config export (table config_export, written by
-- ConfigExportFunction from the Config aggregator); the base of configmic, configpc and instance_tags (not a
-- QuickSight dataset). No view reads the Config snapshot files (config_snapshot stays for ad-hoc queries).
--
-- Latest export:
--   1. latest_export: the largest export_id (YYYYMMDDTHHMMSSZ, so the largest is the latest) read from the
--      partition metadata table "config_export$partitions" (Glue metadata only, no data scanned). The function
--      registers an export's partition only after every part of it is in S3: a run that failed, or is still
--      going, has no partition and is never read, so readers keep seeing the previous complete export. One
--      export holds every account and region of the aggregator, so the latest is taken over the whole table.
--   2. config_export is joined to it on its partition key: Athena prunes every other export at run time
--      (dynamic partition pruning), so the data read does not grow with the exports kept. The views selecting
--      from this one keep the pruning: Athena inlines a view into the query's plan.
-- Before the first export is registered this view, and the views reading it, are empty.
--
-- kind 'instance': one row per EC2 instance (the function leaves out deleted items). kind 'rules': the Config
-- rule results of one resource: an EC2 instance (resource_type AWS::EC2::Instance) or a managed node's patch
-- compliance (resource_type AWS::SSM::PatchCompliance); instance_id is the instance or node ID (i-... or
-- mi-...). export_time is the export's scheduled time (UTC) as a timestamp.
WITH latest_export AS (
    SELECT max(export_id) AS export_id
    FROM "config_export$partitions"
)
SELECT
    e.export_id,
    CAST(date_parse(e.export_id, '%Y%m%dT%H%i%sZ') AS timestamp) AS export_time,
    e.kind,
    e.account_id,
    e.region,
    e.resource_type,
    e.resource_id,
    e.instance_id,
    e.resource_name,
    e.instance_state,
    e.platform_details,
    e.launch_time,
    e.tags,
    e.rules,
    e.capture_time
FROM config_export AS e
JOIN latest_export AS l
    ON e.export_id = l.export_id
