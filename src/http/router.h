/* router.h - matching a method and path against the route table.
 * Pure functions, thread-safe; the table is read-only after start. */
#ifndef PL_ROUTER_H
#define PL_ROUTER_H

#include "web/web.h"

typedef struct {
    int nparams;
    pl_str_t names[PL_MAX_PARAMS];  /* without braces, pointing into the template */
    pl_str_t values[PL_MAX_PARAMS]; /* pointing into the path */
} pl_match_t;

#define PL_MAX_SEGMENT 256

/* Finds the route for method and path. Returns its index, or -1 when no route
 * matches; then *allowed holds the methods of routes whose template matches
 * the path (0: unknown path -> 404; else 405). A template with more literal
 * segments wins over one with parameters; a route flagged PL_ROUTE_SUBTREE
 * matches its path and every path below it, only when no template matches
 * (the longest such path wins). */
int pl_router_match(const pl_route_t *routes, size_t n, pl_method_t method, const char *path,
                    pl_match_t *m, unsigned *allowed);

/* Fills r's segments and prefix_len, which let pl_router_match skip the
 * templates that cannot match without comparing them; a table whose routes
 * were not prepared is matched the same way, only slower. */
void pl_router_prepare(pl_route_t *r);

/* Paths are matched as they were sent: percent-escapes are not decoded
 * before matching, so "%2F" inside a segment never splits it and an escaped
 * literal matches nothing. Each parameter is decoded afterwards. */

/* Percent-decodes the raw path segment s (n bytes) into *out (an arena
 * string). PL_EINVAL when an escape is malformed, or the result holds a
 * control character (NUL included) or is not valid UTF-8. */
int pl_path_decode(pl_arena_t *a, const char *s, size_t n, char **out);

/* Method name to bit; 0 when unknown. */
pl_method_t pl_method_parse(const char *name);
/* Writes "GET, POST" style list of the methods in mask into out. */
void pl_methods_format(unsigned mask, char *out, size_t size);

#endif
