/* fuzz_clientip.c - X-Forwarded-For behind trusted proxies: each input line
 * is one header line. The answer is always the peer or an address taken
 * from the input, never garbage. */
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include "http/clientip.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    pl_clientip_set_trusted("127.0.0.1/32, 10.0.0.0/8, ::1, fd00::/8");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    char buf[8193];
    memcpy(buf, data, size);
    buf[size] = '\0';
    const char *lines[PL_CLIENTIP_MAX_LINES + 2];
    int n = 0;
    char *p = buf;
    while (n < PL_CLIENTIP_MAX_LINES + 1) {
        lines[n++] = p;
        char *nl = strchr(p, '\n');
        if (!nl)
            break;
        *nl = '\0';
        p = nl + 1;
    }
    char out[64];
    pl_clientip_resolve("127.0.0.1", lines, n, out, sizeof(out));
    unsigned char tmp[16];
    if (inet_pton(AF_INET, out, tmp) != 1 && inet_pton(AF_INET6, out, tmp) != 1)
        __builtin_trap();
    return 0;
}
