/* fuzz_multipart.c - the streaming multipart/form-data parser of uploads:
 * whatever the body, feeding it whole or in pieces of any sizes gives the
 * same data, the same part found and the same outcome. The first byte picks
 * the piece sizes; the body follows, with the boundary "XyZ". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "files/multipart.h"

typedef struct {
    pl_buf_t out;
} sink_t;

static int on_data(void *cls, const char *data, size_t n)
{
    sink_t *s = cls;
    if (!n)
        __builtin_trap(); /* never called empty */
    return pl_buf_append(&s->out, data, n) ? 1 : 0;
}

static int run(const uint8_t *data, size_t size, unsigned step, sink_t *s, pl_mp_t *mp)
{
    pl_buf_init(&s->out, size + 16);
    pl_mp_init(mp, "XyZ", "file", on_data, s);
    int rc = PL_MP_OK;
    size_t i = 0, k = 0;
    while (i < size) {
        size_t n = step ? 1 + (k++ * 7 + step) % (step + 1) : size - i;
        if (n > size - i)
            n = size - i;
        rc = pl_mp_feed(mp, (const char *)data + i, n);
        i += n;
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 64 * 1024)
        return 0;
    unsigned step = data[0] % 17;
    data++, size--;
    static pl_mp_t whole_mp, piece_mp;
    sink_t whole, piece;
    int a = run(data, size, 0, &whole, &whole_mp);
    int b = run(data, size, step, &piece, &piece_mp);
    if (a != b || whole.out.len != piece.out.len ||
        (whole.out.len && memcmp(whole.out.ptr, piece.out.ptr, whole.out.len)) ||
        whole_mp.found != piece_mp.found || whole_mp.done != piece_mp.done ||
        strcmp(whole_mp.filename, piece_mp.filename) ||
        strcmp(whole_mp.content_type, piece_mp.content_type))
        __builtin_trap();
    if (whole.out.len > size)
        __builtin_trap();
    char boundary[PL_MP_BOUNDARY_MAX + 1];
    char ct[256];
    size_t n = size < sizeof(ct) - 1 ? size : sizeof(ct) - 1;
    memcpy(ct, data, n);
    ct[n] = '\0';
    if (pl_mp_boundary(ct, boundary) && (!boundary[0] || strlen(boundary) > PL_MP_BOUNDARY_MAX))
        __builtin_trap();
    pl_buf_free(&whole.out);
    pl_buf_free(&piece.out);
    return 0;
}
