/* fuzz_values.c - the small parsers of query values and path parameters:
 * integers, cursors, ids, RFC 3339 times. */
#include <stdint.h>
#include <string.h>

#include "core/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1024)
        return 0;
    char buf[1025];
    memcpy(buf, data, size);
    buf[size] = '\0';
    int64_t v, ms;
    pl_parse_int64(buf, INT64_MIN, INT64_MAX, &v);
    pl_parse_int64(buf, 1, 200, &v);
    pl_uuid_valid(buf);
    if (pl_time_parse(buf, &ms) == PL_OK) {
        char out[32];
        pl_time_format(ms, out);
        int64_t again;
        if (pl_time_parse(out, &again) != PL_OK || again != ms)
            __builtin_trap(); /* what we print, we read back */
    }
    return 0;
}
