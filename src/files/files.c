/* files.c - the rules of files: uploads (sniffed type, SHA-256, the
 * storage_bytes reservation, audit), deletion, signed URLs, and the purge of
 * a deleted organization's objects (a job queued with the deletion). */
#include <magic.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "billing/billing.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/keyring.h"
#include "files/files.h"
#include "files/storage.h"
#include "platform/audit/audit.h"
#include "platform/events/events.h"
#include "platform/jobs/jobs.h"
#include "rbac/rbac.h"
#include "realtime/realtime.h"

#define TYPES_MAX 2048

static char upload_types[TYPES_MAX] = "image/png,image/jpeg,image/gif,image/webp,application/pdf,"
                                      "text/plain,text/csv,application/json,application/zip";
static magic_t magic;
static pthread_mutex_t magic_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned char url_key[32]; /* signs download URLs; derived from the master key */

struct pl_upload {
    char id[PL_ID_LEN];
    char org_id[PL_ID_LEN];
    char key[2 * PL_ID_LEN + 1];
    pl_fwriter_t *w;
    crypto_hash_sha256_state sha;
    uint64_t size;
    bool finished;
    size_t sniff_len;
    char sniff[PL_FILE_SNIFF_BYTES];
};

static int internal(pl_ctx_t *ctx, int rc)
{
    if (rc == PL_ENOSPACE)
        return pl_fail(ctx, 507, "insufficient_storage", "The storage is full.");
    return pl_fail(ctx, 500, "internal", "The file could not be stored.");
}

static void object_key(char *out, size_t size, const char *org_id, const char *id)
{
    snprintf(out, size, "%s/%s", org_id, id);
}

/* ---- types ---- */

/* The media type of a Content-Type value, lower-cased, without parameters,
 * in a (NULL when empty). */
static const char *media_type(pl_arena_t *a, const char *ct)
{
    if (!ct)
        return NULL;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, "; \t");
    if (!n || n > 127)
        return n ? "" : NULL;
    char *t = pl_arena_strndup(a, ct, n);
    for (char *p = t; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    if (!strcmp(t, "image/jpg") || !strcmp(t, "image/pjpeg"))
        return "image/jpeg";
    if (!strcmp(t, "application/x-zip-compressed"))
        return "application/zip";
    return t;
}

static bool type_allowed(const char *type)
{
    size_t n = strlen(type);
    for (const char *p = upload_types; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t k = strcspn(p, ", ");
        if (k == n && !strncasecmp(p, type, n))
            return true;
        p += k;
    }
    return false;
}

/* Text that libmagic may take for plain text (a small CSV, a JSON document
 * it does not recognise) */
static bool textual(const char *type)
{
    return !strncmp(type, "text/", 5) || !strcmp(type, "application/json");
}

bool pl_files_inline_type(const char *t)
{
    return !strcmp(t, "image/png") || !strcmp(t, "image/jpeg") || !strcmp(t, "image/gif") ||
           !strcmp(t, "image/webp") || !strcmp(t, "image/avif") || !strcmp(t, "application/pdf");
}

/* The type the bytes say, in a. */
static const char *sniff(pl_arena_t *a, const void *data, size_t n)
{
    pthread_mutex_lock(&magic_lock);
    const char *t = magic ? magic_buffer(magic, data, n) : NULL;
    const char *out = pl_arena_strdup(a, t ? t : "application/octet-stream");
    pthread_mutex_unlock(&magic_lock);
    return out;
}

/* The stored type, or NULL with 415 recorded. */
static const char *check_type(pl_ctx_t *ctx, const char *declared, const char *sniffed)
{
    const char *type = NULL;
    if (!declared || !*declared || !strcmp(declared, "application/octet-stream"))
        type = sniffed;
    else if (!strcmp(declared, sniffed))
        type = sniffed;
    else if (textual(declared) && textual(sniffed) &&
             (!strcmp(sniffed, "text/plain") || !strcmp(declared, "text/plain")))
        type = declared; /* plain text said more precisely, or the other way round */
    if (!type) {
        pl_fail(ctx, 415, "unsupported_media_type",
                pl_arena_printf(ctx->arena,
                                "The content is %s, which does not agree with the declared %s.",
                                sniffed, declared));
        return NULL;
    }
    if (!type_allowed(type) || !(type_allowed(sniffed) || textual(sniffed))) {
        pl_fail(ctx, 415, "unsupported_media_type",
                pl_arena_printf(ctx->arena, "Files of type %s are not accepted.", sniffed));
        return NULL;
    }
    return type;
}

/* ---- uploads ---- */

int pl_files_upload_begin(pl_ctx_t *ctx, pl_upload_t **out)
{
    pl_upload_t *up = pl_xcalloc(1, sizeof(*up));
    pl_uuid7(up->id);
    snprintf(up->org_id, sizeof(up->org_id), "%s", ctx->tenant.org_id);
    object_key(up->key, sizeof(up->key), up->org_id, up->id);
    crypto_hash_sha256_init(&up->sha);
    int rc = pl_fstore_create(up->key, &up->w);
    if (rc) {
        free(up);
        *out = NULL;
        return internal(ctx, rc);
    }
    *out = up;
    return PL_OK;
}

int pl_files_upload_write(pl_ctx_t *ctx, pl_upload_t *up, const void *data, size_t n)
{
    if (up->sniff_len < sizeof(up->sniff)) {
        size_t k = sizeof(up->sniff) - up->sniff_len;
        if (k > n)
            k = n;
        memcpy(up->sniff + up->sniff_len, data, k);
        up->sniff_len += k;
    }
    crypto_hash_sha256_update(&up->sha, data, n);
    up->size += n;
    int rc = pl_fstore_write(up->w, data, n);
    return rc ? internal(ctx, rc) : PL_OK;
}

void pl_files_upload_free(void *arg)
{
    pl_upload_t *up = arg;
    if (!up)
        return;
    pl_fstore_writer_free(up->w);
    free(up);
}

static int check_name(pl_ctx_t *ctx, const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (!n)
        pl_field_error(ctx, "name", "required", "Name the file (?name=, or the part's filename).");
    else if (n > PL_FILE_NAME_MAX)
        pl_field_error(ctx, "name", "too_long", "At most 255 bytes.");
    else if (!pl_utf8_valid(name, n) || pl_text_has_control(name, n) || strchr(name, '/') ||
             strchr(name, '\\'))
        pl_field_error(ctx, "name", "invalid",
                       "Must be text without control characters or slashes.");
    return pl_validated(ctx);
}

int pl_files_upload_finish(pl_db_t *db, pl_ctx_t *ctx, pl_upload_t *up, const char *name,
                           const char *declared_type, pl_file_t *out)
{
    int rc = check_name(ctx, name);
    if (rc)
        return rc;
    const char *declared = media_type(ctx->arena, declared_type);
    const char *sniffed = sniff(ctx->arena, up->sniff, up->sniff_len);
    const char *type = check_type(ctx, declared, sniffed);
    if (!type)
        return PL_EINVAL;
    unsigned char digest[32];
    crypto_hash_sha256_final(&up->sha, digest);
    char *hex = pl_arena_alloc(ctx->arena, 65);
    sodium_bin2hex(hex, 65, digest, sizeof(digest));
    if ((rc = pl_fstore_commit(up->w)))
        return internal(ctx, rc);
    pl_file_t f = {
        .id = pl_arena_strdup(ctx->arena, up->id),
        .org_id = pl_arena_strdup(ctx->arena, up->org_id),
        .name = name,
        .content_type = type,
        .size = (int64_t)up->size,
        .sha256 = hex,
        .created_by = pl_ctx_user(ctx),
        .created_at = pl_now_ms(),
    };
    if (!(rc = pl_db_begin(db))) {
        rc = pl_billing_reserve(db, ctx, f.org_id, "storage_bytes", f.size);
        if (!rc)
            rc = pl_files_store_insert(db, &f);
        if (!rc) {
            json_t *d = json_pack("{s:s, s:s, s:I}", "name", f.name, "content_type", f.content_type,
                                  "size", (json_int_t)f.size);
            rc = pl_audit_append(db, ctx, f.org_id, "file.uploaded", "file", f.id, d);
            json_decref(d);
        }
        rc = pl_db_finish(db, rc);
    }
    if (rc) {
        /* the object was published: take it back */
        pl_fstore_delete(up->key);
        return rc;
    }
    up->finished = true;
    *out = f;
    return PL_OK;
}

/* ---- reading ---- */

int pl_files_list(pl_db_t *db, pl_ctx_t *ctx, const char *cursor, int limit, pl_file_page_t *out)
{
    pl_file_t *items = pl_arena_alloc(ctx->arena, sizeof(*items) * (size_t)(limit + 1));
    int n = 0;
    int rc = pl_files_store_list(db, ctx->arena, ctx->tenant.org_id, cursor, limit + 1, items, &n);
    if (rc)
        return rc;
    out->items = items;
    out->n = n > limit ? limit : n;
    out->next_cursor = n > limit ? items[limit - 1].id : NULL;
    return PL_OK;
}

int pl_files_get(pl_db_t *db, pl_ctx_t *ctx, const char *id, pl_file_t *out)
{
    int rc = pl_files_store_get(db, ctx->arena, ctx->tenant.org_id, id, out);
    if (rc == PL_ENOTFOUND)
        return pl_fail(ctx, 404, "not_found", "No such file.");
    return rc;
}

int pl_files_exists(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *file_id)
{
    pl_file_t f;
    int rc = pl_files_store_get(db, ctx->arena, org_id, file_id, &f);
    if (rc == PL_ENOTFOUND)
        return 0;
    return rc ? rc : 1;
}

int pl_files_delete(pl_db_t *db, pl_ctx_t *ctx, const char *id)
{
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_file_t f = {0};
    rc = pl_files_get(db, ctx, id, &f);
    int bit = pl_perm_bit("file.delete");
    const char *user = pl_ctx_user(ctx);
    bool own = !rc && user && f.created_by && !strcmp(user, f.created_by);
    if (!rc && !own && !(bit >= 0 && pl_perms_has(&ctx->tenant.perms, bit)))
        rc = pl_fail(ctx, 403, "forbidden", "Deleting this file needs file.delete.");
    if (!rc)
        rc = pl_files_store_delete(db, f.org_id, f.id);
    if (!rc)
        rc = pl_billing_release(db, f.org_id, "storage_bytes", f.size);
    if (!rc) {
        json_t *d = json_pack("{s:s, s:I}", "name", f.name, "size", (json_int_t)f.size);
        rc = pl_audit_append(db, ctx, f.org_id, "file.deleted", "file", f.id, d);
        json_decref(d);
    }
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    /* after the commit: a failure leaves an object no row names */
    char key[2 * PL_ID_LEN + 1];
    object_key(key, sizeof(key), f.org_id, f.id);
    pl_fstore_delete(key);
    return PL_OK;
}

int pl_files_open(pl_ctx_t *ctx, const pl_file_t *f, uint64_t offset, uint64_t len,
                  pl_freader_t **out)
{
    char key[2 * PL_ID_LEN + 1];
    object_key(key, sizeof(key), f->org_id, f->id);
    int rc = pl_fstore_open(key, offset, len, out);
    if (rc == PL_ENOTFOUND)
        return pl_fail(ctx, 404, "not_found", "No such file.");
    return rc ? internal(ctx, rc) : PL_OK;
}

int pl_files_reader_fd(pl_freader_t *r)
{
    return pl_fstore_reader_fd(r);
}

long pl_files_read(pl_freader_t *r, char *buf, size_t max)
{
    return pl_fstore_read(r, buf, max);
}

void pl_files_reader_free(pl_freader_t *r)
{
    pl_fstore_reader_free(r);
}

/* ---- signed URLs ---- */

/* base64url(HMAC-SHA-256(url_key, "v1\n" org "\n" id "\n" expires)) */
static void url_sig(const char *org_id, const char *id, int64_t expires, char out[64])
{
    char msg[128];
    int n = snprintf(msg, sizeof(msg), "v1\n%s\n%s\n%lld", org_id, id, (long long)expires);
    unsigned char mac[32];
    pl_hmac_sha256(url_key, sizeof(url_key), msg, (size_t)n, mac);
    pl_b64url_encode(mac, sizeof(mac), out, 64);
}

int pl_files_sign_url(pl_db_t *db, pl_ctx_t *ctx, const char *id, int64_t ttl, const char **url,
                      int64_t *expires_at)
{
    if (ttl < 1 || ttl > PL_FILE_URL_TTL_MAX) {
        pl_field_error(ctx, "expires_in", "out_of_range", "Between 1 and 604800 seconds.");
        return PL_EINVAL;
    }
    pl_file_t f;
    int rc = pl_files_get(db, ctx, id, &f);
    if (rc)
        return rc;
    int64_t expires = pl_now_ms() / 1000 + ttl;
    char sig[64];
    url_sig(f.org_id, f.id, expires, sig);
    *url = pl_arena_printf(ctx->arena, "%s/v1/files/%s/download?expires=%lld&sig=%s",
                           pl_cfg.public_api_url, f.id, (long long)expires, sig);
    *expires_at = expires * 1000;
    return PL_OK;
}

int pl_files_verify_url(pl_db_t *db, pl_ctx_t *ctx, const char *id, const char *expires,
                        const char *sig, pl_file_t *out)
{
    int64_t exp = 0;
    bool ok = expires && sig && strlen(sig) == 43 &&
              pl_parse_int64(expires, 0, INT64_MAX / 1000, &exp) == PL_OK &&
              exp * 1000 >= pl_now_ms();
    if (ok) {
        /* no organization acts: row-level security (PostgreSQL) shows this
         * one file, named by app.file_id */
        int rc = pl_db_begin_read(db);
        if (!rc)
            rc = pl_db_set_context(db, "app.file_id", id);
        if (!rc)
            rc = pl_files_store_get_any(db, ctx->arena, id, out);
        int end = pl_db_commit(db);
        if (rc && rc != PL_ENOTFOUND)
            return rc;
        if (!rc && end)
            return end;
        ok = rc == PL_OK;
    }
    if (ok) {
        char want[64];
        url_sig(out->org_id, out->id, exp, want);
        ok = pl_ct_equal(want, sig, 43);
    }
    if (!ok)
        return pl_fail(ctx, 403, "forbidden",
                       "The link is not valid: it was altered, or it expired.");
    return PL_OK;
}

/* ---- a deleted organization ---- */

int pl_files_on_event(pl_db_t *db, pl_ctx_t *ctx, const pl_event_t *ev)
{
    PL_UNUSED(ctx);
    /* the org chain's copy (the instance chain has one too): the rows go
     * with the organization in this transaction, the objects after it */
    if (!ev->org_id || strcmp(ev->action, "org.deleted"))
        return PL_OK;
    json_t *p = json_pack("{s:s}", "org_id", ev->org_id);
    int rc = pl_jobs_enqueue(db, "files.purge_org", p, NULL);
    json_decref(p);
    return rc;
}

static int purge_org(const char *job_id, json_t *payload, char *err, size_t errlen)
{
    PL_UNUSED(job_id);
    const char *org_id = json_string_value(json_object_get(payload, "org_id"));
    if (!org_id || strlen(org_id) >= PL_ID_LEN) {
        snprintf(err, errlen, "no org_id");
        return PL_EINVAL;
    }
    char prefix[PL_ID_LEN + 1];
    snprintf(prefix, sizeof(prefix), "%s/", org_id);
    int rc = pl_fstore_delete_prefix(prefix);
    if (rc)
        snprintf(err, errlen, "storage error");
    return rc;
}

const pl_job_def_t pl_files_jobs[] = {
    {"files.purge_org", purge_org},
    {0},
};

const char *const pl_files_actions[] = {"file.uploaded", "file.deleted", NULL};

static int check_types(void)
{
    for (const char *p = upload_types; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) {
            fprintf(stderr, "plinth: PLINTH_UPLOAD_TYPES: a list of MIME types\n");
            return PL_EINVAL;
        }
    return PL_OK;
}

const pl_option_t pl_files_options[] = {
    {NULL, "PLINTH_UPLOAD_TYPES", PL_OPT_STR, PL_OPT_S(upload_types), 0, 0, PL_OPT_SERVE, "LIST",
     "MIME types accepted for uploads, sniffed from the bytes (default image/png,image/jpeg,"
     "image/gif,image/webp,application/pdf,text/plain,text/csv,application/json,application/zip)",
     check_types},
    {NULL, NULL, 0, NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

/* streams and the activity feed show file events to whoever may read files */
static const pl_event_rule_t event_rules[] = {
    {"file.*", "file.read", NULL},
    {0},
};

int pl_files_init(void)
{
    pl_realtime_rules_add(event_rules);
    static const char label[] = "plinth file download urls v1";
    pl_hmac_sha256(pl_keyring_master(), 32, label, sizeof(label) - 1, url_key);
    if (pl_fstore_init())
        return PL_EINVAL;
    magic = magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR | MAGIC_NO_CHECK_COMPRESS);
    if (!magic || magic_load(magic, NULL)) {
        fprintf(stderr, "plinth: cannot load libmagic's database: %s\n",
                magic ? magic_error(magic) : "out of memory");
        return PL_EINVAL;
    }
    return PL_OK;
}

void pl_files_stop(void)
{
    if (magic)
        magic_close(magic);
    magic = NULL;
    sodium_memzero(url_key, sizeof(url_key));
}
