/* fuzz_router.c - request targets against the route table the modules
 * assemble: the first input line is the method, the rest the path. */
#include <stdint.h>
#include <string.h>

#include "http/router.h"
#include "http/server.h"
#include "modules.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    pl_modules_register();
    pl_server_assemble();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    char buf[8193];
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *nl = memchr(buf, '\n', size);
    const char *method = "GET", *path = buf;
    if (nl) {
        *nl = '\0';
        method = buf;
        path = nl + 1;
    }
    size_t n;
    const pl_route_t *routes = pl_server_routes(&n);
    pl_match_t m;
    unsigned allowed;
    int idx = pl_router_match(routes, n, pl_method_parse(method), path, &m, &allowed);
    if (idx >= 0) {
        for (int i = 0; i < m.nparams; i++)
            if (m.values[i].len == 0 || m.values[i].len > PL_MAX_SEGMENT)
                __builtin_trap();
    }
    char list[128];
    pl_methods_format(allowed, list, sizeof(list));
    return 0;
}
