/* fuzz_email.c - email addresses as typed (registration, sign-in, reset,
 * invitations): a normalised address is valid UTF-8 without controls, C or Z
 * characters, has one '@', fits 254 bytes, and normalising it again changes
 * nothing (NFC and case folding are idempotent: one spelling, one account). */
#include <stdint.h>
#include <string.h>

#include "auth/auth.h"
#include "core/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 2048)
        return 0;
    pl_arena_t *a = pl_arena_create();
    char *in = pl_arena_strndup(a, (const char *)data, size);
    char *e = pl_auth_email_normalize(a, in);
    if (e) {
        size_t n = strlen(e);
        const char *at = strchr(e, '@');
        if (n > 254 || !at || strchr(at + 1, '@') || !pl_utf8_valid(e, n) ||
            pl_text_has_control(e, n))
            __builtin_trap();
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)e[i] <= 0x20)
                __builtin_trap();
        char *again = pl_auth_email_normalize(a, e);
        if (!again || strcmp(again, e))
            __builtin_trap();
    }
    pl_arena_destroy(a);
    return 0;
}
