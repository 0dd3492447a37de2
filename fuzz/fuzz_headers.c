/* fuzz_headers.c - strings taken from request headers before they are
 * stored or logged (user agents, request ids): the cleaned copy is valid
 * UTF-8 without control characters, within its cap. */
#include <stdint.h>
#include <string.h>

#include "core/core.h"

static bool valid_utf8(const unsigned char *s)
{
    while (*s) {
        unsigned char c = *s;
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!len)
            return false;
        if (len == 1 && (c < 0x20 || c == 0x7f))
            return false;
        for (size_t i = 1; i < len; i++)
            if ((s[i] & 0xc0) != 0x80)
                return false;
        s += len;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char buf[4097];
    memcpy(buf, data, size);
    buf[size] = '\0';
    pl_arena_t *a = pl_arena_create();
    for (size_t cap = 0; cap < 600; cap += 97) {
        char *out = pl_utf8_clean(a, buf, cap);
        if (strlen(out) > cap || !valid_utf8((const unsigned char *)out))
            __builtin_trap();
    }
    pl_arena_destroy(a);
    return 0;
}
