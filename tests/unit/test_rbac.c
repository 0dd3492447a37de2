/* Unit tests for the permission catalog, built-in roles and assignment rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rbac/rbac.h"

extern const pl_module_t pl_orgs_module, pl_apikeys_module, pl_auditlog_module, pl_flags_module;

static int setup(void **state)
{
    (void)state;
    /* the catalog as the server assembles it, in module order */
    assert_int_equal(pl_rbac_register(pl_orgs_module.perms), PL_OK);
    assert_int_equal(pl_rbac_register(pl_apikeys_module.perms), PL_OK);
    assert_int_equal(pl_rbac_register(pl_auditlog_module.perms), PL_OK);
    assert_int_equal(pl_rbac_register(pl_flags_module.perms), PL_OK);
    return 0;
}

static pl_perms_t bits(const char *const *keys, size_t n)
{
    pl_perms_t p;
    pl_perms_clear(&p);
    for (size_t i = 0; i < n; i++)
        pl_perms_add(&p, pl_perm_bit(keys[i]));
    return p;
}

static pl_perms_t one(const char *key)
{
    return bits(&key, 1);
}

static pl_role_t role(const char *key)
{
    pl_role_t r;
    assert_true(pl_rbac_builtin(key, &r));
    return r;
}

static pl_perms_t all(void)
{
    pl_perms_t p;
    pl_perm_all(&p);
    return p;
}

static pl_perms_t all_but(const char *key)
{
    pl_perms_t p = all();
    pl_perms_remove(&p, pl_perm_bit(key));
    return p;
}

static void builtin_roles_match_the_contract(void **state)
{
    (void)state;
    assert_int_equal(pl_perm_count(), 15);
    pl_perms_t owner = role("owner").perms, admin = role("admin").perms, a = all(),
               ad = all_but("org.delete");
    assert_true(pl_perms_equal(&owner, &a));
    assert_true(pl_perms_equal(&admin, &ad));
    const char *member[] = {"org.read", "member.read", "team.read", "role.read", "flag.read"};
    pl_perms_t m = bits(member, 5), mr = role("member").perms;
    assert_true(pl_perms_equal(&mr, &m));
    const char *viewer[] = {"org.read", "member.read", "flag.read"};
    pl_perms_t v = bits(viewer, 3), vr = role("viewer").perms;
    assert_true(pl_perms_equal(&vr, &v));
    assert_int_equal(role("owner").level, 4);
    assert_int_equal(role("viewer").level, 1);
    assert_false(pl_rbac_builtin("root", NULL));
    /* catalog order is module order */
    const char *key, *description;
    pl_perm_entry(0, &key, &description);
    assert_string_equal(key, "org.read");
    pl_perm_entry(14, &key, &description);
    assert_string_equal(key, "flag.read");
}

static void only_owners_assign_owner(void **state)
{
    (void)state;
    pl_role_t owner = role("owner"), admin = role("admin"), member = role("member");
    pl_actor_t o = {4, owner.perms, false}, a = {3, admin.perms, false};
    pl_actor_t key = {4, owner.perms, true};
    assert_true(pl_rbac_may_assign(&o, &owner));
    assert_false(pl_rbac_may_assign(&a, &owner));
    assert_false(pl_rbac_may_assign(&key, &owner));
    assert_false(pl_rbac_may_assign(&a, &admin)); /* not strictly lower */
    assert_true(pl_rbac_may_assign(&a, &member));
}

static void subset_rule_for_custom_roles(void **state)
{
    (void)state;
    pl_actor_t a = {3, role("admin").perms, false};
    pl_role_t deleter = {"deleter", "Deleter", 1, one("org.delete")};
    assert_false(pl_rbac_may_assign(&a, &deleter));
    pl_perms_t del = one("org.delete"), team = one("team.manage"), none;
    pl_perms_clear(&none);
    assert_false(pl_rbac_may_define(&a, 1, &del));
    assert_true(pl_rbac_may_define(&a, 2, &team));
    assert_false(pl_rbac_may_define(&a, 3, &team)); /* its own level */
    pl_actor_t o = {4, all(), false};
    pl_perms_t ad = all_but("org.delete");
    assert_true(pl_rbac_may_define(&o, 3, &ad));
    assert_false(pl_rbac_may_define(&a, 4, &none));
    assert_false(pl_rbac_may_define(&a, 0, &none));
}

static void manage_strictly_lower(void **state)
{
    (void)state;
    pl_actor_t a = {3, role("admin").perms, false};
    pl_actor_t o = {4, all(), false};
    assert_true(pl_rbac_may_manage(&a, 2));
    assert_false(pl_rbac_may_manage(&a, 3));
    assert_false(pl_rbac_may_manage(&a, 4));
    assert_true(pl_rbac_may_manage(&o, 4));
}

static void perms_round_trip(void **state)
{
    (void)state;
    pl_arena_t *ar = pl_arena_create();
    const char *keys[] = {"team.read", "audit.read"};
    pl_perms_t p = bits(keys, 2), back;
    const char *text = pl_perms_to_text(ar, &p);
    assert_string_equal(text, "team.read audit.read");
    pl_perms_from_text(text, &back);
    assert_true(pl_perms_equal(&back, &p));
    json_t *arr = json_pack("[s, s]", "org.read", "nope.nope");
    pl_perms_t out;
    const char *bad;
    assert_int_equal(pl_perms_from_json(arr, &out, &bad), PL_EINVAL);
    assert_string_equal(bad, "nope.nope");
    json_decref(arr);
    pl_arena_destroy(ar);
}

/* Permissions added at run time (collections) get new bits beyond 64 and
 * join the built-in roles their definition names. */
static void dynamic_permissions_grow_the_catalog(void **state)
{
    (void)state;
    int first = -1;
    for (int i = 0; i < 100; i++) {
        char key[32];
        snprintf(key, sizeof(key), "c%d.read", i);
        int bit = pl_rbac_register_dynamic(key, "read", PL_ROLES_VIEWER);
        assert_true(bit >= 15);
        if (first < 0)
            first = bit;
        assert_int_equal(pl_rbac_register_dynamic(key, "again", 0), bit); /* stable */
    }
    assert_int_equal(pl_perm_count(), 115);
    int last = pl_perm_bit("c99.read");
    assert_true(last >= 64);
    assert_true(pl_perms_has(&(pl_perms_t){0}, -1) == false);
    pl_perms_t viewer = role("viewer").perms, admin = role("admin").perms;
    assert_true(pl_perms_has(&viewer, last));
    assert_true(pl_perms_has(&admin, first));
    pl_perms_t custom = one("c99.read");
    pl_actor_t a = {3, admin, false};
    assert_true(pl_rbac_may_define(&a, 2, &custom));
}

static void role_keys(void **state)
{
    (void)state;
    assert_true(pl_rbac_key_valid("billing"));
    assert_true(pl_rbac_key_valid("ops-lead_2"));
    assert_false(pl_rbac_key_valid("owner"));
    assert_false(pl_rbac_key_valid("Billing"));
    assert_false(pl_rbac_key_valid("2fa"));
    assert_false(pl_rbac_key_valid("a"));
    assert_false(pl_rbac_key_valid("with space"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(builtin_roles_match_the_contract),
        cmocka_unit_test(only_owners_assign_owner),
        cmocka_unit_test(subset_rule_for_custom_roles),
        cmocka_unit_test(manage_strictly_lower),
        cmocka_unit_test(perms_round_trip),
        cmocka_unit_test(dynamic_permissions_grow_the_catalog),
        cmocka_unit_test(role_keys),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
