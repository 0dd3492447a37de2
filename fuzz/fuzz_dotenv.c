/* fuzz_dotenv.c - the .env reader of secret imports, and the round trip of
 * the writer: any value written (KEY="...", plinth's escaping) reads back
 * byte for byte, and whatever the reader accepts, written out again, reads
 * back to the same entries. */
#include <stdint.h>
#include <string.h>

#include "projects/dotenv.h"

static void same_entries(const pl_dotenv_entry_t *a, int na, const pl_dotenv_entry_t *b, int nb)
{
    if (na != nb)
        __builtin_trap();
    for (int i = 0; i < na; i++)
        if (strcmp(a[i].key, b[i].key) || a[i].value_len != b[i].value_len ||
            memcmp(a[i].value, b[i].value, a[i].value_len))
            __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256 * 1024)
        return 0;
    pl_arena_t *a = pl_arena_create();
    const char *text = (const char *)data, *error = NULL;
    pl_dotenv_entry_t *e = NULL, *again = NULL;
    int n = 0, m = 0;
    pl_buf_t b;
    pl_buf_init(&b, 4 * size + 1024);
    if (pl_dotenv_parse(a, text, size, 1000, &e, &n, &error) == PL_OK) {
        for (int i = 0; i < n; i++) {
            if (!pl_dotenv_key_valid(e[i].key, strlen(e[i].key)) ||
                strlen(e[i].value) != e[i].value_len)
                __builtin_trap();
            if (pl_dotenv_write(&b, e[i].key, e[i].value, e[i].value_len))
                __builtin_trap();
        }
        if (pl_dotenv_parse(a, b.ptr ? b.ptr : "", b.len, 1000, &again, &m, &error) != PL_OK)
            __builtin_trap();
        same_entries(e, n, again, m);
    } else if (!error ||
               (strncmp(error, "line ", 5) && strcmp(error, "the text holds a NUL byte"))) {
        __builtin_trap(); /* every refusal names its line */
    }
    /* the input as one value */
    if (!memchr(data, '\0', size)) {
        b.len = 0;
        if (pl_dotenv_write(&b, "VALUE", text, size))
            __builtin_trap();
        if (pl_dotenv_parse(a, b.ptr, b.len, 1, &again, &m, &error) != PL_OK || m != 1 ||
            again[0].value_len != size || memcmp(again[0].value, data, size))
            __builtin_trap();
    }
    pl_buf_free(&b);
    pl_arena_destroy(a);
    return 0;
}
