/* auth_cli.c - `plinth keys rotate-jwt`: a new access-token signing key,
 * through the same service as everything else, acting as the system. */
#include <stdio.h>

#include "auth/auth.h"

static int rotate_jwt_cmd(pl_cli_t *cli)
{
    pl_ctx_t ctx;
    pl_ctx_system(&ctx, pl_arena_create());
    char kid[PL_AUTH_KID_MAX] = {0};
    int rc = pl_auth_keys_rotate(cli->db, &ctx, kid);
    int code = 0;
    if (rc) {
        fprintf(stderr, "plinth: %s\n",
                ctx.err.detail ? ctx.err.detail : "cannot add a signing key");
        code = ctx.err.status / 100 == 4 ? 2 : 1;
    } else {
        printf("added access-token signing key %s (ES256); running instances sign with it within "
               "seconds, and the previous keys stay published until the tokens they signed "
               "expire\n",
               kid);
    }
    pl_arena_destroy(ctx.arena);
    return code;
}

const pl_command_t pl_auth_commands[] = {
    {"keys rotate-jwt", "add a new access-token signing key (ES256) and retire the old ones",
     "Usage: plinth keys rotate-jwt [options]\n"
     "Adds a new ES256 signing key. Running instances start signing with it within seconds;\n"
     "the retired keys stay in /.well-known/jwks.json until the tokens they signed expire.",
     NULL, 0, PL_CMD_STORAGE | PL_CMD_EXISTING, rotate_jwt_cmd},
    {0},
};
