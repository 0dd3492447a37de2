/* fuzz_collections.c - collection definitions and records: the input is a
 * JSON document {"definition": ..., "record": ...} (or any bytes); a
 * definition that passes pl_coll_definition_check must validate any record
 * without crashing, and every error pointer is a JSON Pointer. */
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "collections/collections.h"
#include "core/core.h"
#include "core/ctx.h"

static void on_error(void *arg, const char *pointer, const char *keyword, const char *message)
{
    (void)arg;
    (void)message;
    if (!pointer || !keyword || (pointer[0] && pointer[0] != '/'))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return 0;
    }
    pl_arena_t *a = pl_arena_create();
    pl_ctx_t ctx;
    pl_ctx_system(&ctx, a);
    json_t *def = NULL;
    json_t *in = json_object_get(doc, "definition");
    if (json_is_object(in) && pl_coll_definition_check(&ctx, in, NULL, &def) == PL_OK) {
        json_t *record = json_object_get(doc, "record");
        if (record)
            pl_coll_validate(json_object_get(def, "schema"), record, on_error, NULL);
        json_decref(def);
    }
    pl_arena_destroy(a);
    json_decref(doc);
    return 0;
}
