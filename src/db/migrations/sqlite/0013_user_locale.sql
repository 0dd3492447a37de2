-- A user's preferred language as a BCP 47 tag ("de", "pt-BR"): it picks the
-- locale variant of the email templates. NULL: not set, the default templates.
ALTER TABLE users ADD COLUMN locale TEXT;
