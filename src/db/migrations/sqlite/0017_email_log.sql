-- The admin dashboard's list of recent emails (platform/mail): which
-- template went to which address, masked, and when; the status comes from
-- the message's job. No subject, body or link: they may hold secrets and
-- personal data. Kept as long as finished jobs (7 days).
CREATE TABLE email_log (
    job_id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL,
    template TEXT NOT NULL,
    to_masked TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX email_log_created ON email_log(created_at);
