/* invitations.c - inviting people into an organization: a 32-byte token
 * stored as SHA-256 (never logged), an email through the job queue, 7 days to
 * accept, by a signed-in user with the invited email or at registration. */
#include <stdio.h>
#include <string.h>

#include "platform/audit/audit.h"
#include "auth/auth.h"
#include "core/config.h"
#include "core/crypto.h"
#include "db/db.h"
#include "platform/mail/mail.h"
#include "orgs/orgs.h"
#include "orgs/orgs_store.h"

#define INVITATION_TTL_MS (7LL * 24 * 3600 * 1000)

static const char *fmt_time(pl_req_t *req, int64_t ms)
{
    char *out = pl_arena_alloc(req->ctx.arena, 32);
    pl_time_format(ms, out);
    return out;
}

/* A pending invitation past its expiry reads as expired. */
static const char *shown_status(const pl_invitation_t *i, int64_t now)
{
    if (!strcmp(i->status, "pending") && i->expires_at <= now)
        return "expired";
    return i->status;
}

static json_t *invitation_json(pl_req_t *req, const pl_invitation_t *i, int64_t now)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s, s:s}", "id", i->id, "email", i->email, "role",
                     i->role, "status", shown_status(i, now), "invited_by", i->invited_by,
                     "expires_at", fmt_time(req, i->expires_at), "created_at",
                     fmt_time(req, i->created_at));
}

int pl_invitations_create(pl_req_t *req)
{
    const char *email_in = NULL, *email = NULL, *role_key = NULL;
    pl_json_get_string(req, "email", true, 1, 320, &email_in);
    pl_json_get_string(req, "role", true, 1, PL_ROLE_KEY_MAX, &role_key);
    if (email_in)
        pl_auth_email(req, "email", email_in, &email);
    if (pl_req_validated(req))
        return PL_EINVAL;
    if (pl_orgs_require_verified_email && !req->ctx.principal.email_verified)
        return pl_req_fail(req, 403, "email_not_verified",
                           "Verify your email address before inviting people.");
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    const char *org_id = req->ctx.tenant.org_id;
    int64_t now = pl_now_ms();
    pl_role_t role;
    pl_actor_t actor = pl_orgs_actor(req);
    char token[64], hash[65], id[37];
    pl_token_new(32, token, sizeof(token));
    pl_sha256_hex(token, strlen(token), hash);
    pl_uuid7(id);
    pl_invitation_t inv = {.id = id,
                           .org_id = org_id,
                           .email = email,
                           .status = "pending",
                           .invited_by =
                               req->ctx.principal.user_id[0] ? req->ctx.principal.user_id : NULL,
                           .expires_at = now + INVITATION_TTL_MS,
                           .created_at = now};

    rc = pl_orgs_store_lock(db, org_id); /* against a concurrent deletion of the role */
    if (!rc)
        rc = pl_orgs_role(req, db, org_id, role_key, &role);
    if (rc == PL_ENOTFOUND) {
        pl_req_field_error(req, "role", "invalid", "No such role in this organization.");
        rc = PL_EINVAL;
    }
    if (!rc && !pl_rbac_may_assign(&actor, &role))
        rc =
            pl_req_fail(req, 403, "forbidden", "You cannot invite with a role you do not outrank.");
    if (!rc) {
        int member = pl_members_store_has_email(db, org_id, email);
        if (member < 0)
            rc = member;
        else if (member == 1)
            rc = pl_req_fail(req, 409, "already_member", "This person is already a member.");
    }
    if (!rc)
        rc = pl_invitations_store_expire(db, org_id, email, now);
    if (!rc) {
        inv.role = role.key;
        rc = pl_invitations_store_insert(db, org_id, &inv, hash, now);
        if (rc == PL_ECONFLICT)
            rc = pl_req_fail(req, 409, "invitation_pending",
                             "An invitation to this email is already pending.");
    }
    if (!rc) {
        /* the token never reaches the log: the event holds who and which role */
        json_t *d = json_pack("{s:s, s:s}", "email", email, "role", role.key);
        rc = pl_audit_append(db, &req->ctx, org_id, "member.invited", "invitation", id, d);
        json_decref(d);
    }
    if (!rc) {
        json_t *vars = json_pack(
            "{s:s, s:s, s:s, s:s, s:s}", "name", "", "org_name", req->ctx.tenant.name,
            "inviter_name", req->ctx.principal.name ? req->ctx.principal.name : "", "role",
            role.name, "link", pl_mail_link(req->ctx.arena, "/accept-invite", token));
        rc = pl_mail_enqueue(db, "invitation", email, vars);
        json_decref(vars);
    }
    pl_memzero(token, sizeof(token));
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    return pl_resp_json(req, 201, invitation_json(req, &inv, now));
}

typedef struct {
    pl_req_t *req;
    json_t *list;
    int count, limit;
    const char *last;
    int64_t now;
} page_t;

static void add_invitation(void *ctx, const pl_invitation_t *i)
{
    page_t *p = ctx;
    if (++p->count > p->limit)
        return;
    json_array_append_new(p->list, invitation_json(p->req, i, p->now));
    p->last = i->id;
}

int pl_invitations_list(pl_req_t *req)
{
    int limit;
    const char *cursor;
    int rc = pl_req_page_id(req, &limit, &cursor);
    if (rc)
        return rc;
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    page_t p = {req, json_array(), 0, limit, NULL, pl_now_ms()};
    rc = pl_invitations_store_list(db, req->ctx.arena, req->ctx.tenant.org_id, cursor, limit + 1,
                                   add_invitation, &p);
    if (rc) {
        json_decref(p.list);
        return rc;
    }
    return pl_resp_list(req, p.list, p.count > limit ? p.last : NULL);
}

int pl_invitations_revoke(pl_req_t *req)
{
    const char *id = pl_req_param(req, "id");
    if (!pl_uuid_valid(id))
        return pl_req_fail(req, 404, "not_found", "No such invitation.");
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_invitation_t inv;
    int64_t now = pl_now_ms();
    rc = pl_invitations_store_get(db, req->ctx.arena, req->ctx.tenant.org_id, id, &inv);
    if (rc == PL_ENOTFOUND)
        rc = pl_req_fail(req, 404, "not_found", "No such invitation.");
    if (!rc && strcmp(shown_status(&inv, now), "pending"))
        rc = pl_req_fail(req, 409, "conflict", "Only pending invitations can be revoked.");
    if (!rc)
        rc = pl_invitations_store_set_status(db, req->ctx.tenant.org_id, id, "pending", "revoked",
                                             now);
    if (!rc)
        rc = pl_audit_append(db, &req->ctx, req->ctx.tenant.org_id, "invitation.revoked",
                             "invitation", id, NULL);
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    return pl_resp_status(req, 204);
}

/* Finds a pending, unexpired invitation by token and makes its org the
 * transaction's tenant. PL_ENOTFOUND otherwise. */
static int find_invitation(pl_req_t *req, pl_db_t *db, const char *token, pl_invitation_t *inv)
{
    char hash[65];
    pl_sha256_hex(token, strlen(token), hash);
    int rc = pl_db_set_context(db, "app.invitation_token", hash);
    if (!rc)
        rc = pl_invitations_store_by_token(db, req->ctx.arena, hash, inv);
    if (!rc && strcmp(shown_status(inv, pl_now_ms()), "pending"))
        rc = PL_ENOTFOUND;
    if (!rc)
        rc = pl_db_set_context(db, "app.org_id", inv->org_id);
    return rc;
}

/* Marks the invitation accepted and joins user_id to its org. The status
 * changes first and only from pending, so of concurrent acceptances exactly
 * one proceeds; the others find it used (PL_ENOTFOUND). */
static int join(pl_db_t *db, const pl_invitation_t *inv, const char *user_id)
{
    int64_t now = pl_now_ms();
    int rc = pl_invitations_store_set_status(db, inv->org_id, inv->id, "pending", "accepted", now);
    if (!rc)
        rc = pl_store_membership_insert(db, inv->org_id, user_id, inv->role, now);
    return rc;
}

static int audit_accepted(pl_db_t *db, pl_req_t *req, const pl_invitation_t *inv,
                          const char *user_id)
{
    json_t *d = json_pack("{s:s, s:s}", "user_id", user_id, "role", inv->role);
    int rc = pl_audit_append(db, &req->ctx, inv->org_id, "invitation.accepted", "invitation",
                             inv->id, d);
    json_decref(d);
    return rc;
}

int pl_orgs_join_by_invitation(pl_req_t *req, pl_db_t *db, const pl_user_t *u, const char *token)
{
    pl_invitation_t inv;
    int rc = find_invitation(req, db, token, &inv);
    if (!rc && strcmp(inv.email, u->email))
        rc = PL_ENOTFOUND; /* not valid for this email */
    if (!rc)
        rc = join(db, &inv, u->id);
    if (!rc)
        rc = audit_accepted(db, req, &inv, u->id);
    return rc;
}

static int invalid_token(pl_req_t *req)
{
    pl_req_field_error(req, "token", "invalid", "The invitation is unknown, used or expired.");
    return pl_req_fail(req, 422, "invalid_token", "The invitation is unknown, used or expired.");
}

int pl_invitations_accept(pl_req_t *req)
{
    const char *token = NULL;
    if (pl_json_get_string(req, "token", true, 1, 256, &token))
        return PL_EINVAL;
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_invitation_t inv;
    pl_org_t org;
    rc = find_invitation(req, db, token, &inv);
    if (rc == PL_ENOTFOUND)
        rc = invalid_token(req);
    if (!rc && strcmp(inv.email, req->ctx.principal.email ? req->ctx.principal.email : ""))
        rc = pl_req_fail(req, 403, "forbidden", "This invitation is addressed to another email.");
    /* claim the invitation first: of concurrent acceptances one gets it, the
     * others wait for it and then find it used */
    int64_t now = pl_now_ms();
    if (!rc && (rc = pl_invitations_store_set_status(db, inv.org_id, inv.id, "pending", "accepted",
                                                     now)) == PL_ENOTFOUND)
        rc = invalid_token(req);
    if (!rc) {
        const char *role = NULL;
        int m = pl_members_store_role(db, req->ctx.arena, inv.org_id, req->ctx.principal.user_id,
                                      &role);
        if (m == PL_OK)
            rc = pl_req_fail(req, 409, "already_member", "You are already a member.");
        else if (m != PL_ENOTFOUND)
            rc = m;
    }
    if (!rc)
        rc = pl_store_membership_insert(db, inv.org_id, req->ctx.principal.user_id, inv.role, now);
    if (!rc)
        rc = audit_accepted(db, req, &inv, req->ctx.principal.user_id);
    /* the token came to that mailbox: the address is proven */
    if (!rc && !req->ctx.principal.email_verified)
        rc = pl_store_user_set_verified(db, req->ctx.principal.user_id, inv.email, pl_now_ms());
    if (!rc)
        rc = pl_orgs_store_get(db, req->ctx.arena, inv.org_id, true, &org);
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    return pl_resp_json(req, 200,
                        json_pack("{s:s, s:s, s:s, s:b, s:s, s:s}", "id", org.id, "name", org.name,
                                  "slug", org.slug, "personal", org.personal, "created_at",
                                  fmt_time(req, org.created_at), "role", inv.role));
}
