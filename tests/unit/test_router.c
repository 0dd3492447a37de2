/* Unit tests for the router: literals, parameters, precedence, 404 vs 405. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "http/router.h"

static int h(pl_req_t *req)
{
    (void)req;
    return 0;
}

static pl_route_t table[] = {
    {PL_M_GET, "/healthz", h, PL_AUTH_NONE, NULL, 0, 0},
    {PL_M_GET, "/v1/orgs/{org}", h, PL_AUTH_ORG, "org.read", 0, 0},
    {PL_M_PATCH, "/v1/orgs/{org}", h, PL_AUTH_ORG, "org.update", 0, 0},
    {PL_M_GET, "/v1/orgs/{org}/audit-events/{id}", h, PL_AUTH_ORG, "audit.read", 0, 0},
    {PL_M_GET, "/v1/orgs/{org}/audit-events/export", h, PL_AUTH_ORG, "audit.read", 0, 0},
    {PL_M_DELETE, "/v1/orgs/{org}/members/{user}", h, PL_AUTH_ORG, "member.remove", 0, 0},
};
#define N (sizeof(table) / sizeof(table[0]))

static void literal_match(void **state)
{
    (void)state;
    pl_match_t m;
    unsigned allowed;
    assert_int_equal(pl_router_match(table, N, PL_M_GET, "/healthz", &m, &allowed), 0);
    assert_int_equal(m.nparams, 0);
}

static void params_are_extracted(void **state)
{
    (void)state;
    pl_match_t m;
    unsigned allowed;
    int i = pl_router_match(table, N, PL_M_DELETE, "/v1/orgs/o1/members/u2", &m, &allowed);
    assert_int_equal(i, 5);
    assert_int_equal(m.nparams, 2);
    assert_int_equal(m.names[0].len, 3);
    assert_memory_equal(m.names[0].ptr, "org", 3);
    assert_memory_equal(m.values[0].ptr, "o1", 2);
    assert_memory_equal(m.names[1].ptr, "user", 4);
    assert_memory_equal(m.values[1].ptr, "u2", 2);
}

static void literal_beats_parameter(void **state)
{
    (void)state;
    pl_match_t m;
    unsigned allowed;
    assert_int_equal(
        pl_router_match(table, N, PL_M_GET, "/v1/orgs/x/audit-events/export", &m, &allowed), 4);
    assert_int_equal(
        pl_router_match(table, N, PL_M_GET, "/v1/orgs/x/audit-events/abc", &m, &allowed), 3);
}

static void wrong_method_lists_allowed(void **state)
{
    (void)state;
    pl_match_t m;
    unsigned allowed;
    assert_int_equal(pl_router_match(table, N, PL_M_DELETE, "/v1/orgs/x", &m, &allowed), -1);
    assert_int_equal(allowed, PL_M_GET | PL_M_PATCH);
    char list[64];
    pl_methods_format(allowed, list, sizeof(list));
    assert_string_equal(list, "GET, PATCH");
}

static void unknown_paths_do_not_match(void **state)
{
    (void)state;
    pl_match_t m;
    unsigned allowed;
    const char *paths[] = {"/",         "",
                           "/healthz/", "/v1/orgs",
                           "/v1/orgs/", "/v1/orgs//members/x",
                           "/healthzz", "/v1/orgs/a/b",
                           "//healthz"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        assert_int_equal(pl_router_match(table, N, PL_M_GET, paths[i], &m, &allowed), -1);
        assert_int_equal(allowed, 0);
    }
}

static void long_segments_are_refused(void **state)
{
    (void)state;
    char path[600] = "/v1/orgs/";
    memset(path + 9, 'a', 400);
    path[409] = '\0';
    pl_match_t m;
    unsigned allowed;
    assert_int_equal(pl_router_match(table, N, PL_M_GET, path, &m, &allowed), -1);
}

static pl_route_t subtree_table[] = {
    {PL_M_GET, "/account", h, PL_AUTH_NONE, NULL, PL_ROUTE_SUBTREE, 0},
    {PL_M_HEAD, "/account", h, PL_AUTH_NONE, NULL, PL_ROUTE_SUBTREE, 0},
    {PL_M_GET, "/account/assets", h, PL_AUTH_NONE, NULL, PL_ROUTE_SUBTREE, 0},
    {PL_M_GET, "/account/{id}", h, PL_AUTH_NONE, NULL, 0, 0},
    {PL_M_POST, "/v1/orgs", h, PL_AUTH_USER, NULL, 0, 0},
};
#define NS (sizeof(subtree_table) / sizeof(subtree_table[0]))

static void subtree_serves_paths_below(void **state)
{
    (void)state;
    pl_match_t m;
    unsigned allowed;
    const char *mine[] = {"/account", "/account/", "/account/orgs/acme/members", "/account/x/"};
    for (size_t i = 0; i < sizeof(mine) / sizeof(mine[0]); i++) {
        assert_int_equal(pl_router_match(subtree_table, NS, PL_M_GET, mine[i], &m, &allowed), 0);
        assert_int_equal(m.nparams, 0);
    }
    assert_int_equal(pl_router_match(subtree_table, NS, PL_M_HEAD, "/account/a/b", &m, &allowed),
                     1);
    /* the longer subtree wins */
    assert_int_equal(
        pl_router_match(subtree_table, NS, PL_M_GET, "/account/assets/app.js", &m, &allowed), 2);
    /* a matching template wins over a subtree */
    assert_int_equal(pl_router_match(subtree_table, NS, PL_M_GET, "/account/x", &m, &allowed), 3);
    assert_int_equal(m.nparams, 1);
    /* a segment that only starts like the subtree is not in it */
    assert_int_equal(pl_router_match(subtree_table, NS, PL_M_GET, "/accounts", &m, &allowed), -1);
    assert_int_equal(allowed, 0);
    assert_int_equal(pl_router_match(subtree_table, NS, PL_M_GET, "/v1/orgs", &m, &allowed), -1);
    assert_int_equal(allowed, PL_M_POST);
}

static void subtree_wrong_method_lists_allowed(void **state)
{
    (void)state;
    pl_match_t m;
    unsigned allowed;
    assert_int_equal(pl_router_match(subtree_table, NS, PL_M_POST, "/account/a/b", &m, &allowed),
                     -1);
    assert_int_equal(allowed, PL_M_GET | PL_M_HEAD);
}

static void methods_parse(void **state)
{
    (void)state;
    assert_int_equal(pl_method_parse("GET"), PL_M_GET);
    assert_int_equal(pl_method_parse("DELETE"), PL_M_DELETE);
    assert_int_equal(pl_method_parse("get"), 0);
    assert_int_equal(pl_method_parse("BREW"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(literal_match),
        cmocka_unit_test(params_are_extracted),
        cmocka_unit_test(literal_beats_parameter),
        cmocka_unit_test(wrong_method_lists_allowed),
        cmocka_unit_test(unknown_paths_do_not_match),
        cmocka_unit_test(long_segments_are_refused),
        cmocka_unit_test(subtree_serves_paths_below),
        cmocka_unit_test(subtree_wrong_method_lists_allowed),
        cmocka_unit_test(methods_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
