/* auth_mail.c - the emails of accounts: verification, password reset, sign-in
 * links, and notices of password and two-factor changes. */
#include "auth/auth_int.h"

#define IGNORE_TEXT                                                                                \
    "If you did not make this change, reset your password right away and tell your administrator."

static const char *const link_vars[] = {"link", NULL};

const pl_mail_template_def_t pl_auth_templates[] = {
    {
        "verify_email",
        "Verify your email address",
        "{{greeting}}\n\n"
        "Please confirm the email address of your {{product}} account by opening this link:\n\n"
        "{{link}}\n\n"
        "The link expires in 24 hours. If you did not create an account, you can ignore "
        "this email.\n",
        "<p>{{greeting}}</p>\n"
        "<p>Please confirm the email address of your {{product}} account.</p>\n"
        "<p><a href=\"{{link}}\">Verify email address</a></p>\n"
        "<p>If the link does not work, copy this address into your browser:<br>\n"
        "{{link}}</p>\n"
        "<p>The link expires in 24 hours. If you did not create an account, you can ignore "
        "this email.</p>\n",
        link_vars,
    },
    {
        "password_reset",
        "Reset your password",
        "{{greeting}}\n\n"
        "We received a request to reset the password of your {{product}} account. To choose a new "
        "password, open this link:\n\n"
        "{{link}}\n\n"
        "The link expires in 1 hour and works once. If you did not ask for a reset, ignore "
        "this email: your password stays as it is.\n",
        "<p>{{greeting}}</p>\n"
        "<p>We received a request to reset the password of your {{product}} account.</p>\n"
        "<p><a href=\"{{link}}\">Choose a new password</a></p>\n"
        "<p>If the link does not work, copy this address into your browser:<br>\n"
        "{{link}}</p>\n"
        "<p>The link expires in 1 hour and works once. If you did not ask for a reset, ignore "
        "this email: your password stays as it is.</p>\n",
        link_vars,
    },
    {
        "password_changed",
        "Your password was changed",
        "{{greeting}}\n\n"
        "The password of your {{product}} account was just changed. If you made this change, "
        "there is nothing else to do.\n\n" IGNORE_TEXT "\n",
        "<p>{{greeting}}</p>\n"
        "<p>The password of your {{product}} account was just changed. If you made this change, "
        "there is nothing else to do.</p>\n"
        "<p>" IGNORE_TEXT "</p>\n",
        NULL,
    },
    {
        "mfa_enabled",
        "Two-factor authentication was turned on",
        "{{greeting}}\n\n"
        "Two-factor authentication was turned on for your {{product}} account. Signing in now "
        "takes a code from your authenticator app or one of your recovery "
        "codes.\n\n" IGNORE_TEXT "\n",
        "<p>{{greeting}}</p>\n"
        "<p>Two-factor authentication was turned on for your {{product}} account. Signing in now "
        "takes a code from your authenticator app or one of your recovery codes.</p>\n"
        "<p>" IGNORE_TEXT "</p>\n",
        NULL,
    },
    {
        "mfa_disabled",
        "Two-factor authentication was turned off",
        "{{greeting}}\n\n"
        "Two-factor authentication was turned off for your {{product}} account. Signing in now "
        "takes only your password.\n\n" IGNORE_TEXT "\n",
        "<p>{{greeting}}</p>\n"
        "<p>Two-factor authentication was turned off for your {{product}} account. Signing in now "
        "takes only your password.</p>\n"
        "<p>" IGNORE_TEXT "</p>\n",
        NULL,
    },
    {
        "magic_link",
        "Your sign-in link",
        "{{greeting}}\n\n"
        "Open this link to sign in to your plinth account:\n\n"
        "{{link}}\n\n"
        "The link expires in 15 minutes and works once. If you did not ask to sign in, ignore "
        "this email: nobody can sign in without the link.\n",
        "<p>{{greeting}}</p>\n"
        "<p>Open this link to sign in to your plinth account.</p>\n"
        "<p><a href=\"{{link}}\">Sign in</a></p>\n"
        "<p>If the link does not work, copy this address into your browser:<br>\n"
        "{{link}}</p>\n"
        "<p>The link expires in 15 minutes and works once. If you did not ask to sign in, ignore "
        "this email: nobody can sign in without the link.</p>\n",
        link_vars,
    },
    {0},
};
