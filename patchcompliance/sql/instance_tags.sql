-- instance_tags: one row per (EC2 instance, tag) from the latest AWS Config snapshot of each account x region
-- (latest-snapshot method: see configmic.sql). Tag keys keep their case: Name and name are two rows.
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
instances AS (
    SELECT s.accountid, s.region, ci.resourceid, ci.tags
    FROM latest_snapshot AS s
    CROSS JOIN UNNEST(s.configurationitems) AS t (ci)
    WHERE
        ci.resourcetype = 'AWS::EC2::Instance'
        AND coalesce(ci.configurationitemstatus, '') NOT LIKE 'ResourceDeleted%'
)
SELECT
    i.accountid AS account_id,
    i.region,
    i.resourceid AS instance_id,
    tag.tag_key,
    tag.tag_value
FROM instances AS i
CROSS JOIN UNNEST(i.tags) AS tag (tag_key, tag_value)
