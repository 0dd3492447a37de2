/* auth_routes.c - registration, sign-in, refresh, sessions and /v1/me. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "platform/audit/audit.h"
#include "auth/auth.h"
#include "auth/auth_routes.h"
#include "auth/password.h"
#include "auth/throttle.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/jsonw.h"
#include "db/db.h"
#include "platform/mail/mail.h"
#include "orgs/orgs.h"

#define NAME_MAX_BYTES     200
#define PASSWORD_INPUT_MAX 4096 /* longer inputs are refused before hashing */

static const char *fmt_time(pl_req_t *req, int64_t ms)
{
    char *out = pl_arena_alloc(req->ctx.arena, 32);
    pl_time_format(ms, out);
    return out;
}

static json_t *org_json(const char *id, const char *name, const char *slug, bool personal,
                        const char *role, int64_t created_at)
{
    char created[32];
    pl_time_format(created_at, created);
    return json_pack("{s:s, s:s, s:s, s:b, s:s, s:s}", "id", id, "name", name, "slug", slug,
                     "personal", personal, "created_at", created, "role", role);
}

/* A personal organization's slug: the name made URL-safe, and a random suffix. */
static void personal_slug(const char *name, char out[49])
{
    size_t k = 0;
    bool hyphen = false;
    for (const char *p = name; *p && k < 30; p++) {
        char c = *p;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            out[k++] = c;
            hyphen = false;
        } else if (k && !hyphen) {
            out[k++] = '-';
            hyphen = true;
        }
    }
    while (k && out[k - 1] == '-')
        k--;
    if (k < 2) {
        memcpy(out, "user", 4);
        k = 4;
    }
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char rnd[8];
    pl_random_bytes(rnd, sizeof(rnd));
    out[k++] = '-';
    for (size_t i = 0; i < sizeof(rnd); i++)
        out[k++] = alphabet[rnd[i] % 36];
    out[k] = '\0';
}

int pl_auth_create_user(pl_db_t *db, pl_user_t *u, json_t **org_out)
{
    int64_t now = pl_now_ms();
    int rc = pl_store_user_insert(db, u, now);
    if (!rc)
        rc = pl_db_set_context(db, "app.user_id", u->id);
    if (rc)
        return rc;
    char org_id[37], slug[49];
    pl_uuid7(org_id);
    personal_slug(u->name, slug);
    if ((rc = pl_store_org_insert(db, org_id, u->name, slug, true, now)))
        return rc == PL_ECONFLICT ? PL_EBUSY : rc;
    if ((rc = pl_store_membership_insert(db, org_id, u->id, "owner", now)))
        return rc;
    if (org_out)
        *org_out = org_json(org_id, u->name, slug, true, "owner", now);
    return PL_OK;
}

/* Checks the password policy; records 422 weak_password on field. */
static int check_new_password(pl_req_t *req, const char *field, const char *password,
                              const char *email)
{
    const char *reason = NULL;
    if (pl_password_check(password, strlen(password), email, &reason) == PL_OK)
        return PL_OK;
    pl_req_field_error(req, field, "weak_password", reason);
    return pl_req_fail(req, 422, "weak_password", reason);
}

int pl_auth_register(pl_req_t *req)
{
    const char *email_in = NULL, *password = NULL, *name = NULL, *invitation = NULL, *email = NULL;
    pl_json_get_string(req, "email", true, 1, 320, &email_in);
    pl_json_get_string(req, "password", true, 1, PASSWORD_INPUT_MAX, &password);
    pl_json_get_string(req, "name", true, 1, NAME_MAX_BYTES, &name);
    pl_json_get_string(req, "invitation_token", false, 1, 256, &invitation);
    if (email_in)
        pl_auth_email(req, "email", email_in, &email);
    if (pl_req_validated(req))
        return PL_EINVAL;
    if (check_new_password(req, "password", password, email))
        return PL_EINVAL;

    char hash[PL_PASSWORD_HASH_MAX];
    if (pl_password_hash(password, strlen(password), hash))
        return PL_EINTERNAL;
    char id[37];
    pl_uuid7(id);
    /* an invited user proves the address with the token: verified at once */
    pl_user_t u = {.id = id,
                   .email = email,
                   .name = name,
                   .password_hash = hash,
                   .created_at = pl_now_ms(),
                   .email_verified = invitation != NULL};
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    json_t *org = NULL, *pair = NULL;
    rc = pl_auth_create_user(db, &u, &org);
    if (rc == PL_ECONFLICT)
        rc = pl_req_fail(req, 409, "email_taken", "An account with this email already exists.");
    if (!rc) {
        /* the new user is the actor of what follows */
        snprintf(req->ctx.principal.user_id, sizeof(req->ctx.principal.user_id), "%s", u.id);
        json_t *org_id = json_object_get(org, "id");
        json_t *d = json_pack("{s:s}", "email", u.email);
        rc = pl_audit_append(db, &req->ctx, NULL, "user.registered", "user", u.id, d);
        if (!rc) /* the personal org's chain: row-level security needs its id */
            rc = pl_db_set_context(db, "app.org_id", json_string_value(org_id));
        json_decref(d);
        d = json_pack("{s:s, s:O, s:b}", "name", u.name, "slug", json_object_get(org, "slug"),
                      "personal", 1);
        if (!rc)
            rc = pl_audit_append(db, &req->ctx, json_string_value(org_id), "org.created", "org",
                                 json_string_value(org_id), d);
        json_decref(d);
    }
    if (!rc && invitation) {
        rc = pl_orgs_join_by_invitation(req, db, &u, invitation);
        if (rc == PL_ENOTFOUND) {
            pl_req_field_error(req, "invitation_token", "invalid",
                               "The invitation is unknown, used, expired or for another email.");
            rc = pl_req_fail(req, 422, "invalid_token", "The invitation token is not valid.");
        }
    }
    if (!rc && !invitation)
        rc = pl_auth_send_verification(req, db, &u);
    if (!rc)
        rc = pl_auth_issue_session(req, db, &u, &pair);
    rc = pl_db_finish(db, rc);
    if (rc) {
        json_decref(org);
        json_decref(pair);
        return rc;
    }
    json_object_set_new(pair, "organization", org);
    return pl_resp_json(req, 201, pair);
}

/* Reads the counters the throttle rules need and decides. */
int pl_auth_throttle(pl_req_t *req, pl_db_t *db, const char *email)
{
    int64_t now = pl_now_ms();
    pl_throttle_input_t in = {0};
    int rc = pl_store_attempts_recent(db, email, req->client_ip, PL_THROTTLE_LOCK_FAILS,
                                      in.recent_success, in.recent_at, &in.nrecent);
    if (!rc)
        rc = pl_store_attempts_failed_email_ip(db, email, req->client_ip, now - 60 * 1000,
                                               &in.minute_fails, &in.minute_oldest);
    if (!rc)
        rc = pl_store_attempts_failed_ip(db, req->client_ip, now - PL_THROTTLE_IP_WINDOW_MS,
                                         &in.ip_fails, &in.ip_oldest);
    if (rc)
        return rc;
    int retry = 0;
    switch (pl_throttle_decide(&in, now, &retry)) {
    case PL_THROTTLE_ALLOW:
        return PL_OK;
    case PL_THROTTLE_LOCKED:
        pl_auth_count("locked");
        req->ctx.err.retry_after = retry;
        return pl_req_fail(req, 429, "account_locked",
                           "Too many failed sign-ins; this account is locked for a while.");
    case PL_THROTTLE_RATE_LIMITED:
        break;
    }
    pl_auth_count("throttled");
    req->ctx.err.retry_after = retry;
    return pl_req_fail(req, 429, "rate_limited", "Too many sign-in attempts; try again later.");
}

int pl_auth_login(pl_req_t *req)
{
    const char *email_in = NULL, *password = NULL, *email = NULL;
    pl_json_get_string(req, "email", true, 1, 320, &email_in);
    pl_json_get_string(req, "password", true, 1, PASSWORD_INPUT_MAX, &password);
    if (email_in)
        pl_auth_email(req, "email", email_in, &email);
    if (pl_req_validated(req))
        return PL_EINVAL;
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    int rc = pl_auth_throttle(req, db, email);
    if (rc)
        return rc;

    pl_user_t u;
    rc = pl_store_user_by_email(db, req->ctx.arena, email, &u);
    if (rc && rc != PL_ENOTFOUND)
        return rc;
    bool found = rc == PL_OK;
    bool ok = pl_password_verify(found ? u.password_hash : NULL, password, strlen(password));
    if (!ok) {
        if ((rc = pl_db_begin(db)))
            return rc;
        rc = pl_store_attempt_insert(db, email, req->client_ip, false, pl_now_ms());
        if (!rc && found) /* unknown emails have nobody to tell */
            rc = pl_audit_append(db, &req->ctx, NULL, "user.login_failed", "user", u.id, NULL);
        if ((rc = pl_db_finish(db, rc)))
            return rc;
        pl_auth_count("failure");
        return pl_req_fail(req, 401, "invalid_credentials", "The email or password is wrong.");
    }
    if (u.disabled) {
        pl_auth_count("disabled");
        return pl_req_fail(req, 403, "account_disabled", "This account is disabled.");
    }
    if (pl_password_needs_rehash(u.password_hash)) {
        char hash[PL_PASSWORD_HASH_MAX];
        if (pl_password_hash(password, strlen(password), hash) == PL_OK)
            pl_store_user_set_password(db, u.id, hash, pl_now_ms());
    }
    /* the one way to a session from a password: with two-factor on, only a
     * challenge comes back, and pl_auth_login_mfa finishes the sign-in */
    if (u.mfa_enabled)
        return pl_mfa_challenge(req, db, &u);
    if ((rc = pl_db_begin(db)))
        return rc;
    json_t *pair = NULL;
    rc = pl_store_attempt_insert(db, email, req->client_ip, true, pl_now_ms());
    if (!rc)
        rc = pl_auth_issue_session(req, db, &u, &pair);
    if (!rc)
        rc = pl_auth_audit_login(req, db, &u, false);
    if ((rc = pl_db_finish(db, rc))) {
        json_decref(pair);
        return rc;
    }
    pl_auth_count("success");
    return pl_resp_json(req, 200, pair);
}

int pl_auth_audit_login(pl_req_t *req, pl_db_t *db, const pl_user_t *u, bool mfa)
{
    json_t *d = json_pack("{s:b}", "mfa", mfa);
    int rc = pl_audit_append(db, &req->ctx, NULL, "user.logged_in", "user", u->id, d);
    json_decref(d);
    return rc;
}

/* Revokes a session after its refresh token was presented twice. */
static int refresh_reused(pl_req_t *req, pl_db_t *db, const pl_refresh_state_t *st)
{
    int rc = pl_store_session_revoke(db, st->session_id, st->user_id, "refresh_token_reused",
                                     pl_now_ms());
    if (!rc) {
        json_t *d =
            json_pack("{s:s, s:s}", "session_id", st->session_id, "reason", "refresh_token_reused");
        rc = pl_audit_append(db, &req->ctx, NULL, "session.revoked", "user", st->user_id, d);
        json_decref(d);
    }
    if (rc && rc != PL_ENOTFOUND) {
        pl_db_rollback(db);
        return rc;
    }
    if ((rc = pl_db_commit(db)))
        return rc;
    pl_log("warn", "refresh token reused; session %s revoked (request_id %s)", st->session_id,
           req->request_id);
    return pl_req_fail(req, 401, "refresh_token_reused",
                       "This refresh token was already used; the session is revoked.");
}

int pl_auth_refresh(pl_req_t *req)
{
    const char *token = NULL;
    if (pl_json_get_string(req, "refresh_token", true, 1, 256, &token))
        return PL_EINVAL;
    char hash[65];
    pl_sha256_hex(token, strlen(token), hash);
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_refresh_state_t st;
    int64_t now = pl_now_ms();
    rc = pl_store_refresh_lookup(db, req->ctx.arena, hash, &st);
    if (rc) {
        pl_db_rollback(db);
        if (rc == PL_ENOTFOUND)
            return pl_req_fail(req, 401, "invalid_token", "The refresh token is not valid.");
        return rc;
    }
    if (st.spent_at)
        return refresh_reused(req, db, &st);
    if (st.user_disabled) {
        pl_db_rollback(db);
        return pl_req_fail(req, 403, "account_disabled", "This account is disabled.");
    }
    if (st.session_revoked_at || st.session_expires_at <= now) {
        pl_db_rollback(db);
        return pl_req_fail(req, 401, "session_revoked", "The session has ended.");
    }
    rc = pl_store_refresh_spend(db, hash, now);
    if (rc == 0) /* a concurrent refresh spent it first */
        return refresh_reused(req, db, &st);
    if (rc < 0) {
        pl_db_rollback(db);
        return rc;
    }
    pl_user_t u;
    char fresh[64], fresh_hash[65], access[1024];
    pl_token_new(32, fresh, sizeof(fresh));
    pl_sha256_hex(fresh, strlen(fresh), fresh_hash);
    rc = pl_store_refresh_insert(db, fresh_hash, st.session_id, now);
    if (!rc)
        rc = pl_store_session_extend(db, st.session_id, now, now + PL_SESSION_TTL_MS);
    if (!rc)
        rc = pl_store_user_by_id(db, req->ctx.arena, st.user_id, &u);
    if (!rc)
        rc = pl_auth_access_token(st.user_id, st.session_id, access, sizeof(access));
    if ((rc = pl_db_finish(db, rc))) {
        pl_memzero(fresh, sizeof(fresh));
        return rc;
    }
    json_t *pair = json_pack("{s:s, s:s, s:i, s:s, s:o}", "token_type", "Bearer", "access_token",
                             access, "expires_in", pl_auth_cfg.access_ttl, "refresh_token", fresh,
                             "user", pl_auth_user_json(&u));
    pl_memzero(fresh, sizeof(fresh));
    snprintf(req->ctx.principal.user_id, sizeof(req->ctx.principal.user_id), "%s", st.user_id);
    return pl_resp_json(req, 200, pair);
}

int pl_auth_logout(pl_req_t *req)
{
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    rc = pl_store_session_revoke(db, req->ctx.principal.session_id, req->ctx.principal.user_id,
                                 "logout", pl_now_ms());
    if (!rc)
        rc = pl_audit_append(db, &req->ctx, NULL, "user.logged_out", "session",
                             req->ctx.principal.session_id, NULL);
    if ((rc = pl_db_finish(db, rc == PL_ENOTFOUND ? PL_OK : rc)))
        return rc;
    return pl_resp_status(req, 204);
}

int pl_auth_logout_all(pl_req_t *req)
{
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    rc = pl_store_sessions_revoke_all(db, req->ctx.principal.user_id, NULL, "logout_all",
                                      pl_now_ms());
    json_t *d = json_pack("{s:b}", "all", 1);
    if (!rc)
        rc = pl_audit_append(db, &req->ctx, NULL, "session.revoked", "user",
                             req->ctx.principal.user_id, d);
    json_decref(d);
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    return pl_resp_status(req, 204);
}

typedef struct {
    pl_req_t *req;
    json_t *list;
} list_ctx_t;

static void add_session(void *ctx, const pl_session_t *s)
{
    list_ctx_t *c = ctx;
    json_array_append_new(c->list,
                          json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "id", s->id,
                                    "created_at", fmt_time(c->req, s->created_at), "last_used_at",
                                    fmt_time(c->req, s->last_used_at), "expires_at",
                                    fmt_time(c->req, s->expires_at), "ip", s->ip ? s->ip : "",
                                    "user_agent", s->user_agent ? s->user_agent : "", "current",
                                    !strcmp(s->id, c->req->ctx.principal.session_id)));
}

int pl_auth_sessions_list(pl_req_t *req)
{
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    list_ctx_t ctx = {req, json_array()};
    int rc = pl_store_sessions_live(db, req->ctx.arena, req->ctx.principal.user_id, pl_now_ms(),
                                    add_session, &ctx);
    if (rc) {
        json_decref(ctx.list);
        return rc;
    }
    return pl_resp_list(req, ctx.list, NULL);
}

int pl_auth_sessions_revoke(pl_req_t *req)
{
    const char *id = pl_req_param(req, "id");
    if (!pl_uuid_valid(id))
        return pl_req_fail(req, 404, "not_found", "No such session.");
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    rc = pl_store_session_revoke(db, id, req->ctx.principal.user_id, "revoked", pl_now_ms());
    if (!rc)
        rc = pl_audit_append(db, &req->ctx, NULL, "session.revoked", "session", id, NULL);
    if ((rc = pl_db_finish(db, rc)) == PL_ENOTFOUND)
        return pl_req_fail(req, 404, "not_found", "No such session.");
    return rc ? rc : pl_resp_status(req, 204);
}

static void write_org(void *ctx, const char *id, const char *name, const char *slug, bool personal,
                      const char *role, int64_t created_at)
{
    PL_UNUSED(created_at);
    pl_jw_t *w = ctx;
    pl_jw_object_open(w, NULL);
    pl_jw_string(w, "id", id);
    pl_jw_string(w, "name", name);
    pl_jw_string(w, "slug", slug);
    pl_jw_bool(w, "personal", personal);
    pl_jw_string(w, "role", role);
    pl_jw_object_close(w);
}

/* The rendered "organizations" array of GET /v1/me, per thread, keyed by user
 * and users.orgs_version, which database triggers change in the transaction
 * of any change to that list; the version comes with the session check, so a
 * hit is what the query would give, on any instance. Safe to lose. */
#define ORGS_CACHE_SLOTS 64
#define ORGS_CACHE_MAX   (64 * 1024)

typedef struct {
    char user_id[37];
    int64_t version;
    char *json;
    size_t len;
} orgs_slot_t;

static __thread orgs_slot_t *orgs_cache;
static pthread_key_t orgs_cache_key;
static pthread_once_t orgs_cache_once = PTHREAD_ONCE_INIT;

static void free_orgs_cache(void *p)
{
    orgs_slot_t *slots = p;
    for (int i = 0; i < ORGS_CACHE_SLOTS; i++)
        free(slots[i].json);
    free(slots);
}

static void orgs_cache_init(void)
{
    pthread_key_create(&orgs_cache_key, free_orgs_cache);
}

static orgs_slot_t *orgs_slot(const char *user_id)
{
    if (!orgs_cache) {
        pthread_once(&orgs_cache_once, orgs_cache_init);
        orgs_cache = pl_xcalloc(ORGS_CACHE_SLOTS, sizeof(orgs_slot_t));
        pthread_setspecific(orgs_cache_key, orgs_cache);
    }
    uint32_t h = 2166136261u;
    for (const char *p = user_id; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return &orgs_cache[h % ORGS_CACHE_SLOTS];
}

/* GET /v1/me is the hottest authenticated read: the user comes with the
 * session check, the organizations from the cache when unchanged, and the
 * answer is written straight into the buffer. */
int pl_auth_me_get(pl_req_t *req)
{
    const pl_principal_t *p = &req->ctx.principal;
    pl_buf_t b;
    pl_buf_init(&b, 4 * 1024 * 1024);
    pl_jw_t w;
    pl_jw_init(&w, &b);
    pl_jw_object_open(&w, NULL);
    pl_jw_string(&w, "id", p->user_id);
    pl_jw_string(&w, "email", p->email);
    pl_jw_string(&w, "name", p->name);
    pl_jw_bool(&w, "email_verified", p->email_verified);
    pl_jw_bool(&w, "mfa_enabled", p->mfa_enabled);
    pl_jw_time(&w, "created_at", p->user_created_at);
    int rc = PL_OK;
    orgs_slot_t *slot = orgs_slot(p->user_id);
    if (slot->json && slot->version == p->orgs_version && !strcmp(slot->user_id, p->user_id)) {
        pl_buf_append(&b, ",\"organizations\":", 17);
        pl_buf_append(&b, slot->json, slot->len);
    } else {
        pl_db_t *db = pl_db_thread();
        if (!db) {
            pl_buf_free(&b);
            return PL_EDB;
        }
        size_t start = b.len + 1; /* after the comma */
        pl_jw_array_open(&w, "organizations");
        rc = pl_store_user_orgs(db, req->ctx.arena, p->user_id, write_org, &w);
        pl_jw_array_close(&w);
        size_t from = start + strlen("\"organizations\":");
        if (!rc && !w.err && b.len - from <= ORGS_CACHE_MAX) {
            free(slot->json);
            slot->json = pl_xstrndup(b.ptr + from, b.len - from);
            slot->len = b.len - from;
            slot->version = p->orgs_version;
            memcpy(slot->user_id, p->user_id, sizeof(slot->user_id));
        }
    }
    pl_jw_object_close(&w);
    if (!rc)
        rc = w.err;
    if (!rc)
        rc = pl_resp_json_buf(req, 200, &b);
    pl_buf_free(&b);
    return rc;
}

int pl_auth_me_update(pl_req_t *req)
{
    const char *name = NULL;
    if (pl_json_get_string(req, "name", false, 1, NAME_MAX_BYTES, &name))
        return PL_EINVAL;
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    int rc;
    if (name) {
        if ((rc = pl_db_begin(db)))
            return rc;
        rc = pl_store_user_set_name(db, req->ctx.principal.user_id, name, pl_now_ms());
        json_t *d = json_pack("{s:s}", "name", name);
        if (!rc)
            rc = pl_audit_append(db, &req->ctx, NULL, "user.updated", "user",
                                 req->ctx.principal.user_id, d);
        json_decref(d);
        if ((rc = pl_db_finish(db, rc)))
            return rc;
    }
    pl_user_t u;
    if ((rc = pl_store_user_by_id(db, req->ctx.arena, req->ctx.principal.user_id, &u)))
        return rc;
    return pl_resp_json(req, 200, pl_auth_user_json(&u));
}

int pl_auth_me_password(pl_req_t *req)
{
    const char *current = NULL, *fresh = NULL;
    pl_json_get_string(req, "current_password", true, 1, PASSWORD_INPUT_MAX, &current);
    pl_json_get_string(req, "new_password", true, 1, PASSWORD_INPUT_MAX, &fresh);
    if (pl_req_validated(req))
        return PL_EINVAL;
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    pl_user_t u;
    int rc = pl_store_user_by_id(db, req->ctx.arena, req->ctx.principal.user_id, &u);
    if (rc)
        return rc;
    if (!pl_password_verify(u.password_hash, current, strlen(current))) {
        pl_req_field_error(req, "current_password", "incorrect", "The current password is wrong.");
        return PL_EINVAL;
    }
    if (check_new_password(req, "new_password", fresh, u.email))
        return PL_EINVAL;
    char hash[PL_PASSWORD_HASH_MAX];
    if (pl_password_hash(fresh, strlen(fresh), hash))
        return PL_EINTERNAL;
    if ((rc = pl_db_begin(db)))
        return rc;
    int64_t now = pl_now_ms();
    rc = pl_store_user_set_password(db, u.id, hash, now);
    if (!rc)
        rc = pl_store_sessions_revoke_all(db, u.id, req->ctx.principal.session_id,
                                          "password_changed", now);
    if (!rc)
        rc = pl_audit_append(db, &req->ctx, NULL, "user.password_changed", "user", u.id, NULL);
    if (!rc) {
        json_t *vars = json_pack("{s:s}", "name", u.name);
        rc = pl_mail_enqueue(db, "password_changed", u.email, vars);
        json_decref(vars);
    }
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    return pl_resp_status(req, 204);
}

/* ---- the module ---- */

#define J PL_ROUTE_JSON

static pl_route_t routes[] = {
    {PL_M_POST, "/v1/auth/register", pl_auth_register, PL_AUTH_NONE, NULL, J},
    {PL_M_POST, "/v1/auth/login", pl_auth_login, PL_AUTH_NONE, NULL, J},
    {PL_M_POST, "/v1/auth/refresh", pl_auth_refresh, PL_AUTH_NONE, NULL, J},
    {PL_M_POST, "/v1/auth/logout", pl_auth_logout, PL_AUTH_USER, NULL, J},
    {PL_M_POST, "/v1/auth/logout-all", pl_auth_logout_all, PL_AUTH_USER, NULL, J},
    {PL_M_GET, "/v1/auth/sessions", pl_auth_sessions_list, PL_AUTH_USER, NULL, 0},
    {PL_M_DELETE, "/v1/auth/sessions/{id}", pl_auth_sessions_revoke, PL_AUTH_USER, NULL, 0},
    {PL_M_GET, "/v1/me", pl_auth_me_get, PL_AUTH_USER, NULL, 0},
    {PL_M_PATCH, "/v1/me", pl_auth_me_update, PL_AUTH_USER, NULL, J},
    {PL_M_POST, "/v1/me/password", pl_auth_me_password, PL_AUTH_USER, NULL, J},
    {PL_M_POST, "/v1/auth/verify-email/request", pl_auth_verify_email_request, PL_AUTH_USER, NULL,
     J},
    {PL_M_POST, "/v1/auth/verify-email", pl_auth_verify_email, PL_AUTH_NONE, NULL, J},
    {PL_M_POST, "/v1/auth/password-reset/request", pl_auth_password_reset_request, PL_AUTH_NONE,
     NULL, J},
    {PL_M_POST, "/v1/auth/password-reset", pl_auth_password_reset, PL_AUTH_NONE, NULL, J},
    {PL_M_POST, "/v1/auth/login/mfa", pl_auth_login_mfa, PL_AUTH_NONE, NULL, J},
    {PL_M_POST, "/v1/me/mfa/totp/setup", pl_mfa_setup, PL_AUTH_USER, NULL, J},
    {PL_M_POST, "/v1/me/mfa/totp/enable", pl_mfa_enable, PL_AUTH_USER, NULL, J},
    {PL_M_POST, "/v1/me/mfa/totp/disable", pl_mfa_disable, PL_AUTH_USER, NULL, J},
    {PL_M_POST, "/v1/me/mfa/recovery-codes", pl_mfa_recovery_codes, PL_AUTH_USER, NULL, J},
    {0},
};

static const pl_error_def_t errors[] = {
    {"invalid_credentials", "Invalid credentials"},
    {"token_expired", "Token expired"},
    {"invalid_token", "Invalid token"},
    {"session_revoked", "Session revoked"},
    {"refresh_token_reused", "Refresh token reused"},
    {"invalid_mfa_code", "Invalid two-factor code"},
    {"email_not_verified", "Email not verified"},
    {"account_disabled", "Account disabled"},
    {"email_taken", "Email already registered"},
    {"mfa_already_enabled", "Two-factor already enabled"},
    {"weak_password", "Weak password"},
    {"account_locked", "Account locked"},
    {0},
};

const pl_module_t pl_auth_module = {
    .name = "auth",
    .routes = routes,
    .errors = errors,
    .jobs = pl_auth_jobs,
    .schedules = pl_auth_schedules,
    .templates = pl_auth_templates,
    .options = pl_auth_options,
    .init = pl_auth_init,
};
