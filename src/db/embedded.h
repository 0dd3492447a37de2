/* embedded.h - data compiled into the binary by scripts/embed.py. */
#ifndef PL_EMBEDDED_H
#define PL_EMBEDDED_H

typedef struct {
    int version;          /* 1, 2, ... without gaps; 0 ends the array */
    const char *name;     /* file name without number and extension */
    const char *checksum; /* lower-hex SHA-256 of the file; NULL: not checked */
    const char *sql;      /* the whole file */
} pl_migration_t;

extern const pl_migration_t pl_migrations_sqlite[];
extern const pl_migration_t pl_migrations_postgres[];
extern const char pl_openapi_yaml[];
extern const unsigned long pl_openapi_yaml_len;
/* Lower-cased common passwords, sorted by bytes (strcmp order). */
extern const char *const pl_common_passwords[];
extern const unsigned long pl_common_passwords_count;

#endif
