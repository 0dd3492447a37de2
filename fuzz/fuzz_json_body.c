/* fuzz_json_body.c - request bodies as the server reads them: strict JSON
 * (duplicate keys refused), then the field validators every route uses, then
 * the UTF-8 cleaning of header strings. */
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "web/web.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pl_arena_t *a = pl_arena_create();
    char *text = pl_arena_strndup(a, (const char *)data, size);
    pl_utf8_clean(a, text, 512);
    json_error_t err;
    json_t *v = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
                           &err);
    if (json_is_object(v)) {
        pl_req_t req;
        memset(&req, 0, sizeof(req));
        req.ctx.arena = a;
        req.json = v;
        const char *key, *s;
        json_t *val;
        bool b;
        int64_t n;
        json_object_foreach(v, key, val)
        {
            pl_json_get_string(&req, key, true, 1, 200, &s);
            pl_json_get_bool(&req, key, false, &b);
            pl_json_get_int(&req, key, false, -5, 5, &n);
        }
        pl_req_validated(&req);
        pl_resp_json(&req, 200, json_incref(v));
    }
    json_decref(v);
    pl_arena_destroy(a);
    return 0;
}
