/* Unit tests for organizations: the slug and invitation-status rules, and
 * the services end to end on a migrated SQLite database, called the way the
 * CLI or a job would, with a context and no request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/keyring.h"
#include "orgs/orgs.h"
#include "platform/mail/mail.h"

extern const pl_module_t pl_orgs_module, pl_apikeys_module, pl_auditlog_module, pl_flags_module;

/* ---- rules ---- */

static void slugs_follow_the_rules(void **state)
{
    (void)state;
    const char *good[] = {"acme", "acme-corp", "a1b", "x-y-z", "123"};
    for (size_t i = 0; i < PL_ARRAY_LEN(good); i++)
        assert_true(pl_orgs_slug_valid(good[i]));
    char longest[PL_ORGS_SLUG_MAX + 2];
    memset(longest, 'a', sizeof(longest));
    longest[PL_ORGS_SLUG_MAX] = '\0';
    assert_true(pl_orgs_slug_valid(longest));
    longest[PL_ORGS_SLUG_MAX] = 'a';
    longest[PL_ORGS_SLUG_MAX + 1] = '\0';
    assert_false(pl_orgs_slug_valid(longest));
    const char *bad[] = {"",
                         "ab",
                         "-abc",
                         "abc-",
                         "a--b",
                         "Abc",
                         "ab_c",
                         "ab c",
                         "ab.c",
                         "añb",
                         "0190a0b2-7c3e-7d4f-8a1b-2c3d4e5f6a7b"};
    for (size_t i = 0; i < PL_ARRAY_LEN(bad); i++)
        assert_false(pl_orgs_slug_valid(bad[i]));
    assert_false(pl_orgs_slug_valid(NULL));
}

/* The stem of a derived slug: everything before the random suffix. */
static void stem_of(const char *name, const char *fallback, char *stem, size_t size)
{
    char slug[PL_ORGS_SLUG_MAX + 1];
    pl_orgs_slug_derive(name, fallback, slug);
    assert_true(pl_orgs_slug_valid(slug));
    size_t n = strlen(slug);
    assert_true(n > 9 && slug[n - 9] == '-');
    for (size_t i = n - 8; i < n; i++)
        assert_non_null(strchr("abcdefghijklmnopqrstuvwxyz0123456789", slug[i]));
    snprintf(stem, size, "%.*s", (int)(n - 9), slug);
}

static void derived_slugs_come_from_the_name(void **state)
{
    (void)state;
    char stem[64];
    stem_of("Acme Corp!", "org", stem, sizeof(stem));
    assert_string_equal(stem, "acme-corp");
    stem_of("  Déjà  vu -- 2026 ", "org", stem, sizeof(stem));
    assert_string_equal(stem, "d-j-vu-2026");
    stem_of("!!", "org", stem, sizeof(stem));
    assert_string_equal(stem, "org");
    stem_of("A", "user", stem, sizeof(stem));
    assert_string_equal(stem, "user");
    stem_of("an extremely long organization name that goes on", "org", stem, sizeof(stem));
    assert_string_equal(stem, "an-extremely-long-organization");
    /* two derivations of one name differ in their suffix */
    char a[PL_ORGS_SLUG_MAX + 1], b[PL_ORGS_SLUG_MAX + 1];
    pl_orgs_slug_derive("Acme", "org", a);
    pl_orgs_slug_derive("Acme", "org", b);
    assert_string_not_equal(a, b);
}

static void pending_invitations_expire(void **state)
{
    (void)state;
    assert_string_equal(pl_invitations_status("pending", 2000, 1999), "pending");
    assert_string_equal(pl_invitations_status("pending", 2000, 2000), "expired");
    assert_string_equal(pl_invitations_status("accepted", 2000, 3000), "accepted");
    assert_string_equal(pl_invitations_status("revoked", 2000, 1000), "revoked");
}

/* ---- services on SQLite ---- */

static char dir[64], path[128];

typedef struct {
    pl_db_t *db;
    pl_arena_t *arena;
    pl_ctx_t ctx;
    char ann[PL_ID_LEN], bob[PL_ID_LEN];
} world_t;

static void add_user(pl_db_t *db, char id[PL_ID_LEN], const char *email, const char *name)
{
    char sql[512];
    pl_uuid7(id);
    snprintf(sql, sizeof(sql),
             "INSERT INTO users (id, email, name, password_hash, email_verified, created_at, "
             "updated_at) VALUES ('%s', '%s', '%s', 'x', 1, 1, 1)",
             id, email, name);
    assert_int_equal(pl_db_exec(db, sql), PL_OK);
}

static int setup_db(void **state)
{
    static bool registered;
    if (!registered) {
        registered = true;
        pl_rbac_register(pl_orgs_module.perms);
        pl_rbac_register(pl_apikeys_module.perms);
        pl_rbac_register(pl_auditlog_module.perms);
        pl_rbac_register(pl_flags_module.perms);
        pl_mail_register(pl_orgs_module.templates);
    }
    snprintf(dir, sizeof(dir), "/tmp/plinth_test_orgs_XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof(path), "%s/plinth.db", dir);
    pl_db_config_t cfg = {.engine = PL_DB_SQLITE,
                          .sqlite_path = path,
                          .sqlite_sync_full = false,
                          .busy_timeout_ms = 2000};
    pl_db_configure(&cfg);
    world_t *w = calloc(1, sizeof(*w));
    w->db = pl_db_thread();
    if (!w->db || pl_db_migrate(w->db))
        return -1;
    w->arena = pl_arena_create();
    add_user(w->db, w->ann, "ann@example.com", "Ann");
    add_user(w->db, w->bob, "bob@example.com", "Bob");
    *state = w;
    return 0;
}

static int teardown_db(void **state)
{
    world_t *w = *state;
    pl_arena_destroy(w->arena);
    free(w);
    pl_db_thread_close();
    char p[160];
    unlink(path);
    snprintf(p, sizeof(p), "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    unlink(p);
    rmdir(dir);
    return 0;
}

/* A fresh context for user_id, as the authentication step leaves it. */
static pl_ctx_t *as(world_t *w, const char *user_id, const char *email)
{
    pl_ctx_system(&w->ctx, w->arena);
    w->ctx.principal.authenticated = true;
    snprintf(w->ctx.principal.user_id, sizeof(w->ctx.principal.user_id), "%s", user_id);
    w->ctx.principal.email = email;
    w->ctx.principal.name = "Someone";
    w->ctx.principal.email_verified = true;
    return &w->ctx;
}

/* ... and acting in org_ref. */
static pl_ctx_t *in(world_t *w, const char *user_id, const char *email, const char *org_ref)
{
    pl_ctx_t *ctx = as(w, user_id, email);
    assert_int_equal(pl_orgs_resolve(w->db, ctx, org_ref, -1), PL_OK);
    return ctx;
}

/* The token of the last invitation email, from its queued job (the
 * message's content is sealed with the keyring: opened here). */
static void last_invitation_token(pl_db_t *db, char *out, size_t size)
{
    static const char sql[] = "SELECT payload FROM jobs WHERE kind = 'mail.send' "
                              "ORDER BY created_at DESC, id DESC LIMIT 1";
    pl_stmt_t *st = pl_db_prepare(db, sql);
    assert_non_null(st);
    assert_int_equal(pl_stmt_step(st), 1);
    json_t *payload = json_loads(pl_stmt_col_text(st, 0), 0, NULL);
    pl_stmt_reset(st);
    assert_non_null(payload);
    const char *box = json_string_value(json_object_get(payload, "sealed"));
    const char *message_id = json_string_value(json_object_get(payload, "message_id"));
    assert_non_null(box);
    assert_non_null(message_id);
    assert_null(strstr(box, "token="));
    char ad[400];
    snprintf(ad, sizeof(ad), "mail.send %s", message_id);
    static unsigned char plain[65536];
    long len = pl_keyring_open(box, ad, plain, sizeof(plain) - 1);
    assert_true(len > 0);
    plain[len] = '\0';
    json_decref(payload);
    const char *t = strstr((const char *)plain, "token=");
    assert_non_null(t);
    t += 6;
    size_t n = strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
    assert_true(n > 0 && n < size);
    memcpy(out, t, n);
    out[n] = '\0';
}

static void organizations_and_members(void **state)
{
    world_t *w = *state;
    pl_org_t org, again;
    pl_ctx_t *ctx = as(w, w->ann, "ann@example.com");
    assert_int_equal(pl_orgs_create(w->db, ctx, "Acme Corp", NULL, &org), PL_OK);
    assert_string_equal(org.role, "owner");
    assert_true(pl_orgs_slug_valid(org.slug));
    assert_int_equal(strncmp(org.slug, "acme-corp-", 10), 0);

    /* slugs are unique, and must follow the rules */
    ctx = as(w, w->ann, "ann@example.com");
    assert_int_equal(pl_orgs_create(w->db, ctx, "Other", org.slug, &again), PL_ECONFLICT);
    assert_string_equal(ctx->err.code, "slug_taken");
    assert_int_equal(ctx->err.nfield_errors, 1);
    ctx = as(w, w->ann, "ann@example.com");
    assert_int_equal(pl_orgs_create(w->db, ctx, "Other", "Not A Slug", &again), PL_EINVAL);
    assert_string_equal(ctx->err.field_errors[0].field, "slug");

    /* a non-member learns nothing, by id or by slug */
    ctx = as(w, w->bob, "bob@example.com");
    assert_int_equal(pl_orgs_resolve(w->db, ctx, org.slug, -1), PL_ENOTFOUND);
    assert_int_equal(ctx->err.status, 404);
    ctx = as(w, w->bob, "bob@example.com");
    assert_int_equal(pl_orgs_resolve(w->db, ctx, org.id, -1), PL_ENOTFOUND);

    /* the owner holds every permission */
    ctx = as(w, w->ann, "ann@example.com");
    assert_int_equal(pl_orgs_resolve(w->db, ctx, org.slug, pl_perm_bit("org.delete")), PL_OK);
    assert_string_equal(ctx->tenant.org_id, org.id);
    assert_string_equal(ctx->tenant.role, "owner");
    assert_int_equal(ctx->tenant.level, PL_ROLE_LEVEL_OWNER);

    /* Bob is invited as a member and joins by registration's path */
    pl_invitation_t inv;
    ctx = in(w, w->ann, "ann@example.com", org.id);
    assert_int_equal(pl_invitations_create(w->db, ctx, "bob@example.com", "member", &inv), PL_OK);
    assert_string_equal(inv.status, "pending");
    assert_string_equal(inv.invited_by, w->ann);
    ctx = in(w, w->ann, "ann@example.com", org.id);
    assert_int_equal(pl_invitations_create(w->db, ctx, "bob@example.com", "member", &inv),
                     PL_ECONFLICT);
    assert_string_equal(ctx->err.code, "invitation_pending");
    char token[128];
    last_invitation_token(w->db, token, sizeof(token));
    ctx = as(w, w->bob, "bob@example.com");
    assert_int_equal(pl_orgs_join_by_invitation(w->db, ctx, w->bob, "eve@example.com", token),
                     PL_ENOTFOUND);
    assert_int_equal(pl_orgs_join_by_invitation(w->db, ctx, w->bob, "bob@example.com", token),
                     PL_OK);
    assert_int_equal(pl_orgs_join_by_invitation(w->db, ctx, w->bob, "bob@example.com", token),
                     PL_ENOTFOUND); /* used */

    /* a member cannot act on the owner, nor remove others */
    ctx = in(w, w->bob, "bob@example.com", org.id);
    assert_string_equal(ctx->tenant.role, "member");
    pl_member_t m;
    assert_int_equal(pl_members_set_role(w->db, ctx, w->ann, "viewer", &m), PL_EFORBIDDEN);
    ctx = in(w, w->bob, "bob@example.com", org.id);
    assert_int_equal(pl_members_remove(w->db, ctx, w->ann), PL_EFORBIDDEN);

    /* the last owner stays */
    ctx = in(w, w->ann, "ann@example.com", org.id);
    assert_int_equal(pl_members_set_role(w->db, ctx, w->ann, "admin", &m), PL_ECONFLICT);
    assert_string_equal(ctx->err.code, "last_owner");
    ctx = in(w, w->ann, "ann@example.com", org.id);
    assert_int_equal(pl_members_set_role(w->db, ctx, w->bob, "nope", &m), PL_EINVAL);
    assert_string_equal(ctx->err.field_errors[0].field, "role");
    ctx = in(w, w->ann, "ann@example.com", org.id);
    assert_int_equal(pl_members_set_role(w->db, ctx, w->bob, "admin", &m), PL_OK);
    assert_string_equal(m.role, "admin");
    assert_string_equal(m.email, "bob@example.com");

    pl_member_page_t page;
    ctx = in(w, w->ann, "ann@example.com", org.id);
    assert_int_equal(pl_members_list(w->db, ctx, NULL, 1, &page), PL_OK);
    assert_int_equal(page.n, 1);
    assert_non_null(page.next_cursor);
    assert_int_equal(pl_members_list(w->db, ctx, page.next_cursor, 1, &page), PL_OK);
    assert_int_equal(page.n, 1);
    assert_null(page.next_cursor);

    /* anyone leaves by themself */
    ctx = in(w, w->bob, "bob@example.com", org.id);
    assert_int_equal(pl_members_remove(w->db, ctx, w->bob), PL_OK);
    ctx = as(w, w->bob, "bob@example.com");
    assert_int_equal(pl_orgs_resolve(w->db, ctx, org.id, -1), PL_ENOTFOUND);

    /* teams hold members of the organization only */
    pl_team_t team;
    ctx = in(w, w->ann, "ann@example.com", org.id);
    assert_int_equal(pl_teams_create(w->db, ctx, "Platform", &team), PL_OK);
    assert_int_equal(pl_teams_member_add(w->db, ctx, team.id, w->ann), PL_OK);
    assert_int_equal(pl_teams_member_add(w->db, ctx, team.id, w->bob), PL_EINVAL);
    assert_string_equal(ctx->err.field_errors[0].field, "user");
    ctx = in(w, w->ann, "ann@example.com", org.id);
    assert_int_equal(pl_teams_get(w->db, ctx, team.id, &team), PL_OK);
    assert_int_equal(team.member_count, 1);

    /* custom roles: never built-in keys, never beyond the definer */
    pl_org_role_t role;
    pl_perms_t perms;
    pl_perms_clear(&perms);
    pl_perms_add(&perms, pl_perm_bit("org.read"));
    ctx = in(w, w->ann, "ann@example.com", org.id);
    assert_int_equal(pl_roles_create(w->db, ctx, "admin", "Admin", 2, &perms, &role), PL_ECONFLICT);
    assert_string_equal(ctx->err.code, "builtin_role");
    ctx = in(w, w->ann, "ann@example.com", org.id);
    assert_int_equal(pl_roles_create(w->db, ctx, "support", "Support", 2, &perms, &role), PL_OK);
    int level = PL_ROLE_LEVEL_CUSTOM_MAX + 1;
    assert_int_equal(pl_roles_update(w->db, ctx, "support", NULL, &level, NULL, &role),
                     PL_EFORBIDDEN);
    ctx = in(w, w->ann, "ann@example.com", org.id);
    pl_role_list_t roles;
    assert_int_equal(pl_roles_list(w->db, ctx, &roles), PL_OK);
    assert_int_equal(roles.n, pl_rbac_builtin_count() + 1);
    assert_string_equal(roles.items[roles.n - 1].key, "support");
    assert_int_equal(roles.items[roles.n - 1].level, 2);

    /* deleting */
    assert_int_equal(pl_orgs_delete(w->db, ctx), PL_OK);
    ctx = as(w, w->ann, "ann@example.com");
    assert_int_equal(pl_orgs_resolve(w->db, ctx, org.id, -1), PL_ENOTFOUND);
}

static void personal_organizations(void **state)
{
    world_t *w = *state;
    pl_org_t org;
    pl_ctx_t *ctx = as(w, w->bob, "bob@example.com");
    assert_int_equal(pl_orgs_create_personal(w->db, ctx, w->bob, "Bob B.", &org), PL_OK);
    assert_true(org.personal);
    assert_int_equal(strncmp(org.slug, "bob-b-", 6), 0);
    ctx = in(w, w->bob, "bob@example.com", org.slug);
    assert_true(ctx->tenant.personal);
    assert_int_equal(pl_orgs_delete(w->db, ctx), PL_ECONFLICT);
    assert_string_equal(ctx->err.code, "personal_org");
    pl_org_page_t page;
    ctx = as(w, w->bob, "bob@example.com");
    assert_int_equal(pl_orgs_list_mine(w->db, ctx, NULL, 50, &page), PL_OK);
    assert_int_equal(page.n, 1);
    assert_string_equal(page.items[0].role, "owner");
    assert_null(page.next_cursor);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(slugs_follow_the_rules),
        cmocka_unit_test(derived_slugs_come_from_the_name),
        cmocka_unit_test(pending_invitations_expire),
        cmocka_unit_test_setup_teardown(organizations_and_members, setup_db, teardown_db),
        cmocka_unit_test_setup_teardown(personal_organizations, setup_db, teardown_db),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
