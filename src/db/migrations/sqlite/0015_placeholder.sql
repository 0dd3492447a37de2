-- Placeholder for the migration another branch adds as 0015 (dropped at merge).
SELECT 1;
