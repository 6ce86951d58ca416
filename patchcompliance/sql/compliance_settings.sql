-- compliance_settings: one row holding the compliance policy, the stack parameters of the group "Compliance
-- policy". The custom resource receives this text as a Fn::Sub: every '...' value in braces below is replaced by
-- the parameter of that name (ExemptUntilTagKey by a constant of the generator), so the row is what the stack was
-- deployed with. The number parameters only accept digits and the tag key only letters, digits, space and
-- _ . : / = + - @ (their AllowedPattern), so a value cannot end the string literal it is written into.
-- The views instance_compliance, patch_age and compliance_trend read the policy from here.
--
--   stale_after_days         StaleAfterDays: a node whose latest patch scan or inventory is older is STALE
--   exemption_tag_key        ExemptionTagKey: an EC2 instance tagged with this key (any value) is EXEMPT
--   exemption_until_tag_key  the fixed key of the optional end date of an exemption (YYYY-MM-DD, inclusive)
--   sla_*_days               SlaCriticalDays ... SlaOtherDays: days to fix a missing or failed patch by severity
--   due_soon_days            a patch within this many days of its SLA due date is DUE_SOON (fixed)
--   trend_days               TrendDays: days of history compliance_trend reports
SELECT
    CAST('${StaleAfterDays}' AS integer) AS stale_after_days,
    '${ExemptionTagKey}' AS exemption_tag_key,
    '${ExemptUntilTagKey}' AS exemption_until_tag_key,
    CAST('${SlaCriticalDays}' AS integer) AS sla_critical_days,
    CAST('${SlaImportantDays}' AS integer) AS sla_important_days,
    CAST('${SlaMediumDays}' AS integer) AS sla_medium_days,
    CAST('${SlaLowDays}' AS integer) AS sla_low_days,
    CAST('${SlaOtherDays}' AS integer) AS sla_other_days,
    CAST(3 AS integer) AS due_soon_days,
    CAST('${TrendDays}' AS integer) AS trend_days
