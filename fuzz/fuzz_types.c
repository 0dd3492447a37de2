/* fuzz_types.c - the ?types= filter of event streams and the activity feed:
 * a parsed filter holds at most PL_TYPES_MAX NUL-terminated patterns, and
 * matching any action against it is safe. */
#include <stdint.h>
#include <string.h>

#include "core/core.h"
#include "core/ctx.h"
#include "realtime/realtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    pl_arena_t *a = pl_arena_create();
    pl_ctx_t ctx;
    pl_ctx_system(&ctx, a);
    char *text = pl_arena_strndup(a, (const char *)data, size);
    pl_types_t t;
    if (pl_types_parse(&ctx, text, &t) == PL_OK) {
        if (t.n < 0 || t.n > PL_TYPES_MAX)
            __builtin_trap();
        for (int i = 0; i < t.n; i++)
            if (strnlen(t.pattern[i], sizeof(t.pattern[i])) == sizeof(t.pattern[i]))
                __builtin_trap();
        pl_types_match(&t, "member.invited");
        pl_types_match(&t, text);
        pl_types_match(&t, "");
    }
    pl_arena_destroy(a);
    return 0;
}
