/* admin_cli.c - `plinth admin create`: reads the password from standard
 * input and calls the same services as the admin API, acting as the
 * system. */
#include <stdio.h>
#include <string.h>

#include "admin/admin.h"
#include "core/crypto.h"

/* Prints the client error a service recorded on ctx. */
static void print_error(const pl_ctx_t *ctx)
{
    const pl_err_t *e = &ctx->err;
    if (e->nfield_errors)
        for (int i = 0; i < e->nfield_errors; i++)
            fprintf(stderr, "plinth: %s: %s\n", e->field_errors[i].field,
                    e->field_errors[i].message);
    else
        fprintf(stderr, "plinth: %s\n", e->detail ? e->detail : "cannot create the admin");
}

/* Exit codes: 0 done, 2 bad input, 1 anything else. */
static int create_admin(pl_db_t *db, const char *email)
{
    pl_ctx_t ctx;
    pl_ctx_system(&ctx, pl_arena_create());
    char password[1024] = {0};
    pl_user_t u;
    int code = 1;
    int rc = pl_admin_promote(db, &ctx, email, &u);
    if (rc == PL_OK) {
        printf("%s is now an instance admin (password unchanged)\n", u.email);
        code = 0;
        goto out;
    }
    if (rc != PL_ENOTFOUND) {
        if (ctx.err.status)
            print_error(&ctx);
        else
            fprintf(stderr, "plinth: cannot update the user (%d)\n", rc);
        code = ctx.err.status / 100 == 4 ? 2 : 1;
        goto out;
    }
    if (!fgets(password, sizeof(password), stdin)) {
        fprintf(stderr, "plinth: expected the password on standard input\n");
        code = 2;
        goto out;
    }
    password[strcspn(password, "\r\n")] = '\0';
    rc = pl_admin_create(db, &ctx, email, password, &u);
    if (rc) {
        if (ctx.err.status)
            print_error(&ctx);
        else
            fprintf(stderr, "plinth: cannot create the admin (%d)\n", rc);
        code = rc == PL_EINVAL ? 2 : 1;
        goto out;
    }
    printf("created instance admin %s (%s)\n", u.email, u.id);
    code = 0;
out:
    pl_memzero(password, sizeof(password));
    pl_arena_destroy(ctx.arena);
    return code;
}

static char create_email[400];

static int create_cmd(pl_cli_t *cli)
{
    if (!create_email[0]) {
        fprintf(stderr, "plinth: admin create needs --email EMAIL\n");
        return 2;
    }
    return create_admin(cli->db, create_email);
}

static const pl_option_t create_options[] = {
    {"email", NULL, PL_OPT_STR, PL_OPT_S(create_email), 0, 0, 0, "EMAIL",
     "the admin's email address", NULL},
    {0},
};

const pl_command_t pl_admin_commands[] = {
    {"admin create", "create or promote an instance admin (password on stdin)",
     "Usage: plinth admin create --email EMAIL [options]\n"
     "The password is read from standard input.",
     create_options, 0, PL_CMD_STORAGE | PL_CMD_EXISTING, create_cmd},
    {0},
};
