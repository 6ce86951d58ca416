-- instance_tags: one row per (EC2 instance, tag) of the latest Config export (config_export_latest;
-- latest-export method: see config_export_latest.sql). Tag keys keep their case: Name and name are two rows.
-- The tags array is unnested as two parallel arrays (keys, values), which Athena and Trino read alike.
SELECT
    i.account_id,
    i.region,
    i.instance_id,
    tag.tag_key,
    tag.tag_value
FROM config_export_latest AS i
CROSS JOIN UNNEST(transform(i.tags, t -> t.key), transform(i.tags, t -> t.value)) AS tag (tag_key, tag_value)
WHERE i.kind = 'instance'
