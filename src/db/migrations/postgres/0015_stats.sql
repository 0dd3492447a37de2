-- Instance-wide hourly counters for the admin overview (platform/stats):
-- counts only, no tenant's data, hence no row-level security.
CREATE TABLE stats_hourly (
    metric TEXT NOT NULL,
    hour BIGINT NOT NULL, -- UTC milliseconds at the start of the hour
    n BIGINT NOT NULL,
    PRIMARY KEY (metric, hour)
);
