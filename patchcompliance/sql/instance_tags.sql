-- instance_tags: one row per (EC2 instance, tag) from the latest AWS Config snapshot of each account x region
-- (config_latest_items; latest-snapshot method: see config_latest_items.sql). Tag keys keep their case: Name
-- and name are two rows.
SELECT
    i.account_id,
    i.region,
    i.resource_id AS instance_id,
    tag.tag_key,
    tag.tag_value
FROM config_latest_items AS i
CROSS JOIN UNNEST(i.tags) AS tag (tag_key, tag_value)
WHERE i.resource_type = 'AWS::EC2::Instance'
