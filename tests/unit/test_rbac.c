/* Unit tests for the permission catalog, built-in roles and assignment rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "rbac/rbac.h"

static pl_perms_t bits(const char *const *keys, size_t n)
{
    pl_perms_t p = 0;
    for (size_t i = 0; i < n; i++)
        p |= pl_perm_bit(keys[i]);
    return p;
}

static void builtin_roles_match_the_contract(void **state)
{
    (void)state;
    assert_int_equal(pl_perm_count, 15);
    assert_int_equal(pl_rbac_builtin("owner")->perms, pl_perm_all());
    assert_int_equal(pl_rbac_builtin("admin")->perms, pl_perm_all() & ~pl_perm_bit("org.delete"));
    const char *member[] = {"org.read", "member.read", "team.read", "role.read", "flag.read"};
    assert_int_equal(pl_rbac_builtin("member")->perms, bits(member, 5));
    const char *viewer[] = {"org.read", "member.read", "flag.read"};
    assert_int_equal(pl_rbac_builtin("viewer")->perms, bits(viewer, 3));
    assert_int_equal(pl_rbac_builtin("owner")->level, 4);
    assert_int_equal(pl_rbac_builtin("viewer")->level, 1);
    assert_null(pl_rbac_builtin("root"));
}

static void only_owners_assign_owner(void **state)
{
    (void)state;
    const pl_role_t *owner = pl_rbac_builtin("owner"), *admin = pl_rbac_builtin("admin");
    const pl_role_t *member = pl_rbac_builtin("member");
    pl_actor_t o = {4, owner->perms, false}, a = {3, admin->perms, false};
    pl_actor_t key = {4, owner->perms, true};
    assert_true(pl_rbac_may_assign(&o, owner));
    assert_false(pl_rbac_may_assign(&a, owner));
    assert_false(pl_rbac_may_assign(&key, owner));
    assert_false(pl_rbac_may_assign(&a, admin)); /* not strictly lower */
    assert_true(pl_rbac_may_assign(&a, member));
}

static void subset_rule_for_custom_roles(void **state)
{
    (void)state;
    const pl_role_t *admin = pl_rbac_builtin("admin");
    pl_actor_t a = {3, admin->perms, false};
    pl_role_t deleter = {"deleter", "Deleter", 1, pl_perm_bit("org.delete")};
    assert_false(pl_rbac_may_assign(&a, &deleter));
    assert_false(pl_rbac_may_define(&a, 1, pl_perm_bit("org.delete")));
    assert_true(pl_rbac_may_define(&a, 2, pl_perm_bit("team.manage")));
    assert_false(pl_rbac_may_define(&a, 3, pl_perm_bit("team.manage"))); /* its own level */
    pl_actor_t o = {4, pl_perm_all(), false};
    assert_true(pl_rbac_may_define(&o, 3, pl_perm_all() & ~pl_perm_bit("org.delete")));
    assert_false(pl_rbac_may_define(&a, 4, 0));
    assert_false(pl_rbac_may_define(&a, 0, 0));
}

static void manage_strictly_lower(void **state)
{
    (void)state;
    pl_actor_t a = {3, pl_rbac_builtin("admin")->perms, false};
    pl_actor_t o = {4, pl_perm_all(), false};
    assert_true(pl_rbac_may_manage(&a, 2));
    assert_false(pl_rbac_may_manage(&a, 3));
    assert_false(pl_rbac_may_manage(&a, 4));
    assert_true(pl_rbac_may_manage(&o, 4));
}

static void perms_round_trip(void **state)
{
    (void)state;
    char text[512];
    pl_perms_t p = pl_perm_bit("team.read") | pl_perm_bit("audit.read");
    pl_perms_to_text(p, text, sizeof(text));
    assert_string_equal(text, "team.read audit.read");
    assert_int_equal(pl_perms_from_text(text), p);
    json_t *arr = json_pack("[s, s]", "org.read", "nope.nope");
    pl_perms_t out;
    const char *bad;
    assert_int_equal(pl_perms_from_json(arr, &out, &bad), PL_EINVAL);
    assert_string_equal(bad, "nope.nope");
    json_decref(arr);
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
        cmocka_unit_test(role_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
