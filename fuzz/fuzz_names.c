/* fuzz_names.c - names people read (pl_text_has_control, which every name
 * field's validator uses): a name it accepts has no byte a terminal, an email
 * header or a log line would take as a control (C0, DEL) and no C1 control,
 * line separator or bidirectional control in its UTF-8. */
#include <stdint.h>
#include <string.h>

#include "core/core.h"

static bool has_forbidden(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x20 || s[i] == 0x7f)
            return true;
        if (s[i] == 0xc2 && i + 1 < n && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f)
            return true;
        if (s[i] == 0xe2 && i + 2 < n && s[i + 1] == 0x80 &&
            (s[i + 2] == 0xa8 || s[i + 2] == 0xa9 || (s[i + 2] >= 0xaa && s[i + 2] <= 0xae)))
            return true;
        if (s[i] == 0xe2 && i + 2 < n && s[i + 1] == 0x81 && s[i + 2] >= 0xa6 && s[i + 2] <= 0xa9)
            return true;
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    if (!pl_text_has_control((const char *)data, size) && has_forbidden(data, size))
        __builtin_trap();
    return 0;
}
