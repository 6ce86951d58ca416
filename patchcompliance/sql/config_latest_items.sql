-- config_latest_items: one row per configuration item of the latest AWS Config snapshot of each account x
-- region; the base of configmic, configpc and instance_tags (not a QuickSight dataset).
--
-- Latest snapshot:
--   1. latest_partition: the latest dt (zero-padded YYYY-MM-DD, so max() is the latest day) per account x
--      region, read from the partition metadata table "config_snapshot$partitions" (Glue metadata only, no
--      data scanned). Taken per account x region, not globally, so an account or region whose deliveries
--      stopped still shows its last known state.
--   2. config_snapshot is joined to it on all three partition keys: Athena prunes every other partition at
--      run time (dynamic partition pruning), so the data read does not grow with the history kept. (The
--      dynamic filter holds one value set per key, so when account x regions differ in their latest day, the
--      other partitions of those few days are read as well: bounded by the number of distinct latest days.)
--      The views selecting from this one keep the pruning: Athena inlines a view into the query's plan.
--   3. Within that day the latest file wins: snapshot file names share the prefix
--      <acct>_Config_<region>_ConfigSnapshot_ followed by the UTC delivery time yyyyMMddTHHmmssZ, so the
--      largest "$path" of the partition is the latest snapshot. A snapshot file is a single row.
-- Items with status ResourceDeleted / ResourceDeletedNotRecorded describe resources that are gone and are
-- skipped.
--
-- capture_time is configurationItemCaptureTime as delivered (ISO-8601 text); configuration is the item's
-- configuration JSON text; tags the item's tags map (keys keep their case).
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
