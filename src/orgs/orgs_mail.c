/* orgs_mail.c - the invitation emails: into an organization, and into one
 * of its projects. */
#include "orgs/orgs.h"

static const char *const invitation_vars[] = {"org_name", "inviter_name", "role", "link", NULL};
static const char *const project_invitation_vars[] = {"org_name", "inviter_name", "project_name",
                                                      "role",     "link",         NULL};

const pl_mail_template_def_t pl_orgs_templates[] = {
    {
        "invitation",
        "You are invited to join {{org_name}}",
        "{{greeting}}\n\n"
        "{{inviter_name}} invited you to join {{org_name}} on {{product}} as {{role}}. To accept "
        "the invitation, open this link:\n\n"
        "{{link}}\n\n"
        "The invitation expires in 7 days. If you were not expecting it, you can ignore this "
        "email.\n",
        "<p>{{greeting}}</p>\n"
        "<p>{{inviter_name}} invited you to join <strong>{{org_name}}</strong> on {{product}} as "
        "{{role}}.</p>\n"
        "<p><a href=\"{{link}}\">Accept the invitation</a></p>\n"
        "<p>If the link does not work, copy this address into your browser:<br>\n"
        "{{link}}</p>\n"
        "<p>The invitation expires in 7 days. If you were not expecting it, you can ignore "
        "this email.</p>\n",
        invitation_vars,
    },
    {
        "project_invitation",
        "You are invited to the project {{project_name}} of {{org_name}}",
        "{{greeting}}\n\n"
        "{{inviter_name}} invited you to the project {{project_name}} of {{org_name}} on "
        "plinth as {{role}}. To accept the invitation, open this link:\n\n"
        "{{link}}\n\n"
        "The invitation expires in 7 days. If you were not expecting it, you can ignore this "
        "email.\n",
        "<p>{{greeting}}</p>\n"
        "<p>{{inviter_name}} invited you to the project <strong>{{project_name}}</strong> of "
        "<strong>{{org_name}}</strong> on plinth as {{role}}.</p>\n"
        "<p><a href=\"{{link}}\">Accept the invitation</a></p>\n"
        "<p>If the link does not work, copy this address into your browser:<br>\n"
        "{{link}}</p>\n"
        "<p>The invitation expires in 7 days. If you were not expecting it, you can ignore "
        "this email.</p>\n",
        project_invitation_vars,
    },
    {0},
};
